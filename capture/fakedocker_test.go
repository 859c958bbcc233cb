package capture

// fakeDocker is an httptest server that speaks enough of the Docker Engine
// API for the real Docker client: /_ping, /containers/json,
// /containers/{id}/json, /containers/{id}/logs and /events. Modelled on the
// Docker source tests of grafana/alloy and on moby's client tests: it holds
// containers with in-memory log entries that tests append to, follow streams
// push new entries as they are appended, and any route's handler can be
// replaced per test to plant a fault.

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
)

// Routes, to count requests and to replace handlers.
const (
	routePing    = "ping"
	routeList    = "list"
	routeInspect = "inspect"
	routeLogs    = "logs"
	routeEvents  = "events"
	routeInfo    = "info"
	routeVersion = "version"
)

// The daemon's timestamp form in logs streams.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

type fakeEntry struct {
	ts      time.Time
	stream  int // 1 stdout, 2 stderr
	text    string
	partial bool // a chunk of a long line: no trailing newline
}

type fakeContainer struct {
	id, name, image   string
	labels            map[string]string
	tty               bool
	running           bool
	run               int // incremented by every start; a follow stream ends with its run
	created, finished time.Time
	started           time.Time // the last run's start, later than the one before
	entries           []fakeEntry
	// status, when set, is what a container that does not run reports
	// instead (dead after a failed start, say).
	status container.ContainerState
}

type fakeDocker struct {
	srv     *httptest.Server
	closing chan struct{}

	mu         sync.Mutex
	containers map[string]*fakeContainer
	order      []string
	changed    chan struct{} // closed and replaced on every change
	subs       map[chan events.Message]struct{}
	overrides  map[string]http.HandlerFunc
	counts     map[string]int // by route, "logs:<id>" and "list:<id filter>"
	following  int            // follow streams open now
	barriers   int
	queries    []url.Values // of every logs request, in order
	// clockBehind is how far the daemon's clock (Info's SystemTime) is
	// behind the test's.
	clockBehind time.Duration
	// engine is the server component /version names: "Engine" (Docker)
	// unless a test sets another.
	engine string
}

func newFakeDocker() *fakeDocker {
	f := &fakeDocker{
		closing:    make(chan struct{}),
		containers: map[string]*fakeContainer{},
		changed:    make(chan struct{}),
		subs:       map[chan events.Message]struct{}{},
		overrides:  map[string]http.HandlerFunc{},
		counts:     map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("HEAD /_ping", f.route(routePing, f.servePing))
	mux.HandleFunc("GET /_ping", f.route(routePing, f.servePing))
	mux.HandleFunc("GET /containers/json", f.route(routeList, f.serveList))
	mux.HandleFunc("GET /containers/{id}/json", f.route(routeInspect, f.serveInspect))
	mux.HandleFunc("GET /containers/{id}/logs", f.route(routeLogs, f.serveLogs))
	mux.HandleFunc("GET /events", f.route(routeEvents, f.serveEvents))
	mux.HandleFunc("GET /info", f.route(routeInfo, f.serveInfo))
	mux.HandleFunc("GET /version", f.route(routeVersion, f.serveVersion))
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The client prefixes every path but /_ping with /v1.41.
		if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
			r.URL.Path = m[1]
		}
		mux.ServeHTTP(w, r)
	}))
	return f
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/.*)$`)

// host is the address for client.WithHost and the docker_host property.
func (f *fakeDocker) host() string { return "tcp://" + f.srv.Listener.Addr().String() }

// close ends every stream the fake serves, then the server. Its handlers
// all return on f.closing, so Close does not wait on a follow stream.
func (f *fakeDocker) close() {
	select {
	case <-f.closing:
		return
	default:
	}
	close(f.closing)
	f.srv.Close()
}

// route counts a request and runs the handler a test planted, if any.
func (f *fakeDocker) route(name string, def http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.counts[name]++
		if id := r.PathValue("id"); id != "" {
			f.counts[name+":"+id]++
		}
		h := f.overrides[name]
		f.mu.Unlock()
		if h == nil {
			h = def
		}
		h(w, r)
	}
}

// handle replaces a route's handler; nil restores the default one.
func (f *fakeDocker) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.overrides[route] = h
}

// holdFirstList makes the first list request wait: listing is closed when
// it comes, and it is answered once release is closed.
func (f *fakeDocker) holdFirstList() (listing, release chan struct{}) {
	listing, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.handle(routeList, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(listing); <-release })
		f.serveList(w, r)
	})
	return listing, release
}

// count returns how many requests a route (or "logs:<id>", "list:<id>")
// had.
func (f *fakeDocker) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[key]
}

// logQueries returns the query of every logs request so far.
func (f *fakeDocker) logQueries() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

func (f *fakeDocker) followStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.following
}

func (f *fakeDocker) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// wakeLocked tells follow streams to look again.
func (f *fakeDocker) wakeLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// create adds a container that never ran, and sends its create event.
func (f *fakeDocker) create(id, name string, tty bool) {
	f.mu.Lock()
	c := &fakeContainer{
		id: id, name: name, image: "img-" + name, tty: tty, created: f.daemonNow(),
		labels: map[string]string{"app": name},
	}
	f.containers[id] = c
	f.order = append(f.order, id)
	f.mu.Unlock()
	f.emit(events.ActionCreate, id, c.name, c.image, c.labels)
}

// start runs the container and returns how many subscribers heard of it.
func (f *fakeDocker) start(id string) int {
	f.mu.Lock()
	c := f.containers[id]
	c.running, c.status = true, ""
	c.run++
	c.started = later(f.daemonNow(), c.started)
	f.wakeLocked()
	f.mu.Unlock()
	return f.emit(events.ActionStart, id, c.name, c.image, c.labels)
}

// failStart leaves a container that never ran in a status other than
// created, as a start that failed does, and sends no event.
func (f *fakeDocker) failStart(id string, status container.ContainerState) {
	f.mu.Lock()
	f.containers[id].status = status
	f.wakeLocked()
	f.mu.Unlock()
}

// stop ends the container's follow streams and reports it dead.
func (f *fakeDocker) stop(id string) {
	f.mu.Lock()
	c := f.containers[id]
	c.running = false
	c.finished = f.daemonNow()
	f.wakeLocked()
	f.mu.Unlock()
	f.emit(events.ActionDie, id, c.name, c.image, c.labels)
}

// remove deletes the container and reports it destroyed.
func (f *fakeDocker) remove(id string) { f.removeAs(id, events.ActionDestroy) }

// removeAs deletes the container and reports it with action (Podman says
// remove).
func (f *fakeDocker) removeAs(id string, action events.Action) {
	f.mu.Lock()
	c := f.containers[id]
	delete(f.containers, id)
	f.order = slices.DeleteFunc(f.order, func(o string) bool { return o == id })
	f.wakeLocked()
	f.mu.Unlock()
	f.emit(action, id, c.name, c.image, c.labels)
}

func (f *fakeDocker) rename(id, name string) {
	f.mu.Lock()
	c := f.containers[id]
	c.name = name
	f.mu.Unlock()
	f.emit(events.ActionRename, id, name, c.image, c.labels)
}

// log appends one whole line stamped now, and returns its timestamp.
func (f *fakeDocker) log(id string, stream int, text string) time.Time {
	ts := f.nextTS(id)
	f.logAt(id, fakeEntry{ts: ts, stream: stream, text: text})
	return ts
}

// nextTS is now, or just after the container's last entry if that is later,
// so entries stamped by nextTS come in order.
func (f *fakeDocker) nextTS(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := time.Now().UTC()
	if es := f.containers[id].entries; len(es) > 0 && !ts.After(es[len(es)-1].ts) {
		ts = es[len(es)-1].ts.Add(time.Microsecond)
	}
	return ts
}

// logAt appends an entry as given, for tests that choose timestamps.
func (f *fakeDocker) logAt(id string, e fakeEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.entries = append(c.entries, e)
	f.wakeLocked()
}

// emit sends an event to the subscribers of /events; like the daemon, it
// drops it for a subscriber that is not keeping up, and when there is none.
// It returns how many subscribers got it.
// emit sends a container event with the attributes Docker gives: the
// labels, then the name and image over them. A name "" sends none.
func (f *fakeDocker) emit(action events.Action, id, name, image string, labels map[string]string) int {
	now := f.daemonNow() // the daemon stamps events
	var attrs map[string]string
	if name != "" {
		attrs = map[string]string{}
		maps.Copy(attrs, labels)
		attrs["name"], attrs["image"] = name, image
	}
	m := events.Message{
		Type: events.ContainerEventType, Action: action,
		Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for ch := range f.subs {
		select {
		case ch <- m:
			n++
		default:
		}
	}
	return n
}

// barrier returns once the engine has handled every event sent before it:
// it sends a start event without attributes, for a container that does not
// exist, and waits for the list request the engine makes for it.
func (f *fakeDocker) barrier(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	f.barriers++
	id := fmt.Sprintf("barrier%d", f.barriers)
	f.mu.Unlock()
	f.emit(events.ActionStart, id, "", "", nil)
	eventually(t, 5*time.Second, func() bool { return f.count(routeList+":"+id) > 0 })
}

// closeEvents ends every /events stream, as a daemon restart would.
func (f *fakeDocker) closeEvents() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		close(ch)
		delete(f.subs, ch)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers as the daemon does: the client turns 404 into an
// errdefs.NotFound and 500 into a system error.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func (f *fakeDocker) servePing(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("API-Version", "1.41")
	w.Header().Set("OSType", "linux")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("OK"))
	}
}

// newFakeDockerBehind starts a fake whose clock is behind the test's by
// behind (ahead when negative).
func newFakeDockerBehind(behind time.Duration) *fakeDocker {
	f := newFakeDocker()
	f.clockBehind = behind
	f.srv.Start()
	return f
}

// daemonNow is now by the fake daemon's clock.
func (f *fakeDocker) daemonNow() time.Time { return time.Now().Add(-f.clockBehind) }

func (f *fakeDocker) serveInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, system.Info{SystemTime: f.daemonNow().Format(time.RFC3339Nano)})
}

func (f *fakeDocker) serveVersion(w http.ResponseWriter, r *http.Request) {
	name := cmp.Or(f.engine, "Engine")
	writeJSON(w, http.StatusOK, system.VersionResponse{Version: "1.0", APIVersion: "1.41",
		Components: []system.ComponentVersion{{Name: name, Version: "1.0"}}})
}

func (f *fakeDocker) serveList(w http.ResponseWriter, r *http.Request) {
	// The filters' JSON form: {"id": {"<id>": true}}.
	var args map[string]map[string]bool
	if q := r.URL.Query().Get("filters"); q != "" {
		if err := json.Unmarshal([]byte(q), &args); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	var ids []string
	for id := range args["id"] {
		ids = append(ids, id)
	}
	all := r.URL.Query().Get("all") == "1" || r.URL.Query().Get("all") == "true"
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.counts[routeList+":"+id]++
	}
	out := []container.Summary{}
	for _, id := range f.order {
		c := f.containers[id]
		if c == nil || !all && !c.running || len(ids) > 0 && !anyPrefix(ids, id) {
			continue
		}
		state := c.state()
		out = append(out, container.Summary{
			ID: c.id, Names: []string{"/" + c.name}, Image: c.image, Labels: c.labels, State: state,
			Created: c.created.Unix(), // whole seconds, as the daemon lists it
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func anyPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// lookup returns a copy of the container's description, or false.
func (f *fakeDocker) lookup(id string) (fakeContainer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fakeContainer{}, false
	}
	return *c, true
}

func (f *fakeDocker) serveInspect(w http.ResponseWriter, r *http.Request) {
	c, ok := f.lookup(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, inspectResponse(c))
}

// state is the container's State.Status.
func (c *fakeContainer) state() container.ContainerState {
	switch {
	case c.running:
		return container.StateRunning
	case c.status != "":
		return c.status
	case c.run == 0:
		return container.StateCreated
	}
	return container.StateExited
}

// later is t, or just after prev if t is not after it.
func later(t, prev time.Time) time.Time {
	if !t.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return t
}

func inspectResponse(c fakeContainer) container.InspectResponse {
	return container.InspectResponse{
		ID: c.id, Name: "/" + c.name, Created: c.created.UTC().Format(time.RFC3339Nano), State: &container.State{
			Status: c.state(), Running: c.running, StartedAt: c.started.UTC().Format(time.RFC3339Nano),
			FinishedAt: c.finished.UTC().Format(time.RFC3339Nano),
		},
		Config: &container.Config{Image: c.image, Labels: c.labels, Tty: c.tty},
	}
}

// logsQuery is what a logs request asks for.
type logsQuery struct {
	since                  time.Time
	tail                   int // -1 for all
	follow, stdout, stderr bool
	timestamps             bool
}

func parseLogsQuery(r *http.Request) (logsQuery, error) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	lq := logsQuery{follow: on("follow"), stdout: on("stdout"), stderr: on("stderr"), timestamps: on("timestamps"), tail: -1}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return lq, fmt.Errorf("bad tail %q", t)
		}
		lq.tail = n
	}
	if s := q.Get("since"); s != "" {
		sec, frac, _ := strings.Cut(s, ".")
		secs, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return lq, fmt.Errorf("bad since %q", s)
		}
		var nsec int64
		if frac != "" {
			frac = (frac + "000000000")[:9]
			if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
				return lq, fmt.Errorf("bad since %q", s)
			}
		}
		lq.since = time.Unix(secs, nsec)
	}
	return lq, nil
}

// encode appends the entries q selects, in the stream's wire form: 8-byte
// frame headers, or raw bytes for a TTY container.
func (q logsQuery) encode(dst []byte, tty bool, es []fakeEntry) []byte {
	for _, e := range es {
		if !q.since.IsZero() && e.ts.Before(q.since) { // since is inclusive
			continue
		}
		if !tty && (e.stream == 1 && !q.stdout || e.stream == 2 && !q.stderr) {
			continue
		}
		var p []byte
		if q.timestamps {
			p = append(e.ts.UTC().AppendFormat(p, rfc3339NanoFixed), ' ')
		}
		p = append(p, e.text...)
		switch {
		case e.partial:
		case tty:
			p = append(p, '\r', '\n')
		default:
			p = append(p, '\n')
		}
		if !tty {
			dst = appendFrameHeader(dst, e.stream, len(p))
		}
		dst = append(dst, p...)
	}
	return dst
}

func appendFrameHeader(dst []byte, stream, size int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, byte(stream), 0, 0, 0), uint32(size))
}

// snapshot returns the container's entries from index next on, its run and
// state, and the channel closed at the next change.
func (f *fakeDocker) snapshot(id string, next int) (es []fakeEntry, n, run int, running bool, changed chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	// Entries are never modified once appended: the slice can be read
	// outside the lock.
	return c.entries[next:], len(c.entries), c.run, c.running, f.changed
}

// serveLogs writes the entries asked for and, with follow, every entry
// appended later until the container stops, the client goes or the fake
// closes.
func (f *fakeDocker) serveLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := f.lookup(id)
	if !ok {
		writeError(w, http.StatusNotFound, "No such container: "+id)
		return
	}
	q, err := parseLogsQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.Query())
	f.mu.Unlock()
	if c.tty {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	} else {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	}
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	if q.follow {
		f.mu.Lock()
		f.following++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.following--
			f.mu.Unlock()
		}()
	}
	next, firstRun := 0, -1
	var buf []byte
	for {
		es, n, run, running, changed := f.snapshot(id, next)
		if next == 0 && q.tail >= 0 && q.tail < len(es) {
			es = es[len(es)-q.tail:] // the daemon counts back from the end, then applies since
		}
		next = n
		if firstRun < 0 {
			firstRun = run
		}
		if buf = q.encode(buf[:0], c.tty, es); len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return
			}
			flusher.Flush()
		}
		if !q.follow || !running || run != firstRun {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-f.closing:
			return
		}
	}
}

func (f *fakeDocker) serveEvents(w http.ResponseWriter, r *http.Request) {
	ch := f.subscribe()
	writeEventsHeader(w)
	f.sendEvents(w, r, ch)
}

// writeEventsHeader answers an events request: the client's Events
// returns once it has the header.
func writeEventsHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// subscribe registers a subscriber: events from now on are sent to it.
func (f *fakeDocker) subscribe() chan events.Message {
	ch := make(chan events.Message, 64)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch
}

// sendEvents writes what ch receives until the request or the fake ends.
func (f *fakeDocker) sendEvents(w http.ResponseWriter, r *http.Request, ch chan events.Message) {
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	flusher := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return // closeEvents
			}
			if enc.Encode(m) != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-f.closing:
			return
		}
	}
}

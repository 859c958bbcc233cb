package capture

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logHistory appends n lines to a container's log without waking anyone per
// line: a long history written before the test looks.
func (f *fakeDocker) logHistory(id string, n int, prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	ts := time.Now().Add(-time.Hour)
	for i := range n {
		c.entries = append(c.entries, fakeEntry{ts: ts.Add(time.Duration(i) * time.Microsecond), stream: 1 + i%2, text: fmt.Sprintf("%s-%d", prefix, i)})
	}
	f.wakeLocked()
}

// followNew creates and starts a container and waits until the running
// engine follows it.
func (h *harness) followNew(id, name string) {
	h.t.Helper()
	h.fake.create(id, name, false)
	h.fake.start(id)
	eventually(h.t, 5*time.Second, func() bool { return h.fake.followStreams() >= 1 && h.fake.count("logs:"+id) >= 1 })
}

// resumedWithoutPosition plants a running container that the engine will
// read from a time: positions were saved a moment ago, and it had none.
func (h *harness) resumedWithoutPosition(id string) {
	h.fake.create(id, "alpha", false)
	h.fake.start(id)
	h.fake.log(id, 1, "old")
	h.e.ledger.Carry(map[string]Position{}, time.Now())
	h.fake.log(id, 1, "written while down")
}

// sinceAlone reports whether a logs query makes the daemon read the whole
// log: a since without a tail.
func sinceAlone(q url.Values) bool {
	return q.Get("since") != "" && (q.Get("tail") == "" || q.Get("tail") == "all")
}

// A container with a long history, read from now with short rotations: every
// open costs what it delivers (a probe, then windows), no history line
// comes, every live line comes once.
func TestRotationAsksForWindows(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "100ms"})
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.logHistory(a, 20000, "history")
	h.e.start()
	h.ready()
	eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 })
	var want []string
	for i := range 40 {
		h.fake.log(a, 1+i%2, fmt.Sprintf("live-%d", i))
		want = append(want, fmt.Sprintf("%s:live-%d", streamName(1+i%2), i))
		time.Sleep(10 * time.Millisecond) // lines over several rotations
	}
	h.expectLines(a, want, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return h.rotations("alpha") >= 3 })
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
	qs := h.fake.logQueries()
	if len(qs) < 4 || qs[0].Get("tail") != "1" || qs[0].Get("follow") != "" {
		t.Fatalf("first logs request %v, want a probe with tail=1 and no follow", qs[0])
	}
	for _, q := range qs[1:] {
		tail, err := strconv.Atoi(q.Get("tail"))
		if q.Get("follow") != "1" || q.Get("since") == "" || err != nil || tail > 5000 {
			t.Errorf("logs request %v, want a follow from since with a small tail", q)
		}
	}
	if n := h.metricValue("docker_logs_resume_since_scans_total"); n != 0 {
		t.Errorf("since scans = %v, want 0", n)
	}
}

// More lines arrive while no stream is open than the first window holds: it
// misses, is widened and counted, and every line still comes once.
func TestWindowMissWidens(t *testing.T) {
	f := newFakeDocker()
	f.srv.Start()
	a := cid(1)
	f.create(a, "alpha", false)
	f.start(a)
	h1 := newHarnessFor(t, f, nil)
	h1.e.start()
	h1.ready()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	f.log(a, 1, "first")
	f.log(a, 1, "second")
	h1.expectLines(a, []string{"stdout:first", "stdout:second"}, 5*time.Second)
	h1.finish()

	// 5000 lines while the input reloads: more than the first window.
	var want []string
	for i := range 5000 {
		f.log(a, 1+i%2, fmt.Sprintf("during-%d", i))
		want = append(want, fmt.Sprintf("%s:during-%d", streamName(1+i%2), i))
	}
	h2 := newHarnessFor(t, f, nil)
	c := h1.e.Close()
	h2.e.ledger.Carry(c.Positions, c.Stopped)
	h2.e.start()
	h2.expectLines(a, want, 10*time.Second)
	h2.finish()
	compareLines(t, "alpha", h2.lines(a), want)
	if n := h2.metricValue("docker_logs_resume_window_misses_total"); n < 1 {
		t.Errorf("window misses = %v, want at least 1", n)
	}
}

// A stream whose daemon takes longer than rotate_interval to reach its
// position (since alone on a long log) is not cut at rotate_interval, so it
// gets there; one that does not get there by its hard limit is counted, not
// taken for a rotation.
func TestCatchingUpIsNotRotated(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "100ms"})
	a := cid(1)
	// Read with since alone, and the daemon is slow to answer.
	h.resumedWithoutPosition(a)
	h.fake.handle(routeLogs, func(w http.ResponseWriter, r *http.Request) {
		if sinceAlone(r.URL.Query()) && r.URL.Query().Get("follow") == "1" {
			select {
			case <-time.After(500 * time.Millisecond): // the scan
			case <-r.Context().Done():
				return
			}
		}
		h.fake.serveLogs(w, r)
	})
	h.e.start()
	h.expectLines(a, []string{"stdout:written while down"}, 5*time.Second)
	h.fake.log(a, 1, "live")
	h.expectLines(a, []string{"stdout:written while down", "stdout:live"}, 5*time.Second)
	h.finish()
	if n := h.errors("not_reached"); n != 0 {
		t.Errorf("not_reached errors = %v, want 0", n)
	}
}

// neverReached plants a container read from a time whose since scan never
// ends: its stream never reaches its position.
func (h *harness) neverReached(id string) {
	h.resumedWithoutPosition(id)
	never := make(chan struct{})
	h.t.Cleanup(func() { close(never) })
	h.fake.handle(routeLogs, func(w http.ResponseWriter, r *http.Request) {
		if sinceAlone(r.URL.Query()) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select { // a scan that never ends
			case <-never:
			case <-r.Context().Done():
			}
			return
		}
		h.fake.serveLogs(w, r)
	})
}

func TestCatchUpLimit(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "100ms"})
	h.e.settings.CatchUp = 400 * time.Millisecond
	h.neverReached(cid(1))
	h.e.start()
	eventually(t, 5*time.Second, func() bool { return h.errors("not_reached") >= 1 })
	if n := h.rotations("alpha"); n != 0 {
		t.Errorf("rotations = %v while the stream never reached its position, want 0", n)
	}
	h.finish()
}

// A stream that really is stuck (the daemon never gets to its position) is
// reported by the watchdog once it is open longer than rotate_interval plus
// the grace: the gauge, /healthz and one error line.
func TestStuckStreamIsReported(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "100ms"})
	h.e.settings.CatchUp = time.Minute // the watchdog reports it long before its hard limit
	h.neverReached(cid(1))
	h.e.start()
	eventually(t, 10*time.Second, func() bool { return h.metricValue("docker_logs_streams_stalled") == 1 })
	if ok, why := h.e.Health(); ok || !strings.Contains(why, "1 log streams stalled") {
		t.Errorf("Health() = %v, %q while a stream is stuck, want unhealthy", ok, why)
	}
	if n := h.logs.count("log stream stalled: open longer than rotate_interval plus grace, and not reading", "container_name", "alpha"); n != 1 {
		t.Errorf("%d stall reports, want 1", n)
	}
	if n := h.rotations("alpha"); n != 0 {
		t.Errorf("rotations = %v while the stream never reached its position, want 0", n)
	}
	h.finish()
}

// With a checkpoint, a container that existed but did not run during the
// last run, and was started while the plugin was down, is read from when
// the positions were saved: the lines of its run are not lost.
func TestStartedWhileDownWithoutPosition(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	a, b := cid(1), cid(2)
	f.create(a, "alpha", false)
	f.start(a)
	f.create(b, "beta", false) // stopped all through the first run
	f.log(b, 1, "an old run")
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	f.log(a, 1, "a1")
	h1.expectLines(a, []string{"stdout:a1"}, 5*time.Second)
	h1.finish()

	f.start(b)
	var want []string
	for i := range 10 {
		f.log(b, 1, fmt.Sprintf("while down %d", i))
		want = append(want, fmt.Sprintf("stdout:while down %d", i))
	}
	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.expectLines(b, want, 5*time.Second)
	h2.finish()
	compareLines(t, "beta", h2.lines(b), want)
}

// A container that stopped while the plugin was down: the lines it wrote
// after its saved position are read at the next start.
func TestStoppedWhileDownIsRead(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	a := cid(1)
	f.create(a, "alpha", false)
	f.start(a)
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	f.log(a, 1, "before-0")
	f.log(a, 1, "before-1")
	h1.expectLines(a, []string{"stdout:before-0", "stdout:before-1"}, 5*time.Second)
	h1.finish()

	var want []string
	for i := range 5 {
		f.log(a, 1+i%2, fmt.Sprintf("last words %d", i))
		want = append(want, fmt.Sprintf("%s:last words %d", streamName(1+i%2), i))
	}
	f.stop(a)
	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.expectLines(a, want, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return h2.metricValue("docker_logs_containers_watched") == 0 })
	h2.finish()
	compareLines(t, "alpha", h2.lines(a), want)
}

// A container restarted by its restart policy: its stream ends while a new
// run is already up. That is no error, and the old run's unfinished long
// line is delivered alone, not joined to the new run's first line.
func TestQuickRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.followNew(a, "alpha")
	h.fake.log(a, 1, "run1")
	ts := h.fake.nextTS(a)
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: "unfinished ", partial: true})
	h.expectLines(a, []string{"stdout:run1"}, 5*time.Second)
	// Restarted before the tailer looks: stop and start under one lock.
	h.fake.mu.Lock()
	c := h.fake.containers[a]
	c.run++
	c.started = later(h.fake.daemonNow(), c.started)
	h.fake.wakeLocked()
	h.fake.mu.Unlock()
	eventually(t, 5*time.Second, func() bool { return h.fake.count("logs:"+a) >= 2 })
	h.fake.log(a, 1, "run2")
	want := []string{"stdout:run1", "stdout:unfinished ", "stdout:run2"}
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// The daemon sends again, with their old timestamps, entries it sent
// already on a stream (as at json-file rotation): they are dropped and
// counted; a clock stepped back still delivers its lines.
func TestReplaysDropped(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.followNew(a, "alpha")
	base := time.Now()
	at := func(d time.Duration, text string) fakeEntry {
		return fakeEntry{ts: base.Add(d), stream: 1, text: text}
	}
	for _, e := range []fakeEntry{
		at(1, "l1"), at(2, "l2"), at(3, "l3"),
		at(2, "l2"), at(3, "l3"), // replayed
		at(4, "l4"),
		at(-time.Second, "after a clock step"),
	} {
		h.fake.logAt(a, e)
	}
	want := []string{"stdout:l1", "stdout:l2", "stdout:l3", "stdout:l4", "stdout:after a clock step"}
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
	if n := h.metricValue("docker_logs_replays_dropped_total"); n != 2 {
		t.Errorf("replays dropped = %v, want 2", n)
	}
}

// streams stderr does not read TTY containers, whose output is stdout.
func TestTTYNotReadForStderr(t *testing.T) {
	h := newHarness(t, map[string]string{"streams": "stderr"})
	h.e.start()
	h.ready()
	tty, plain := cid(1), cid(2)
	h.fake.create(tty, "tty", true)
	h.fake.create(plain, "plain", false)
	h.fake.start(tty)
	h.fake.start(plain)
	h.fake.log(tty, 1, "tty line")
	h.fake.log(plain, 2, "err line")
	h.expectLines(plain, []string{"stderr:err line"}, 5*time.Second)
	// The TTY container's tailer learns it is a TTY from inspect and ends.
	eventually(t, 5*time.Second, func() bool {
		return h.fake.count("inspect:"+tty) >= 1 && h.metricValue("docker_logs_containers_watched") == 1
	})
	h.finish()
	if got := h.lines(tty); len(got) != 0 {
		t.Errorf("TTY container delivered %v with streams stderr", got)
	}
	if n := h.fake.count("logs:" + tty); n != 0 {
		t.Errorf("TTY container's logs asked for %d times, want 0", n)
	}
}

// A container whose logging driver cannot be read (the daemon answers 501)
// is reported once, shown in a gauge, not counted as errors and not asked
// again until it starts again; the others go on.
func TestUnreadableContainer(t *testing.T) {
	h := newHarness(t, map[string]string{"resync_interval": "1s"})
	a, b := cid(1), cid(2)
	h.fake.handle(routeLogs, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == a {
			writeError(w, http.StatusNotImplemented, "configured logging driver does not support reading")
			return
		}
		h.fake.serveLogs(w, r)
	})
	h.e.start()
	h.ready()
	h.fake.create(a, "nologs", false)
	h.fake.create(b, "beta", false)
	h.fake.start(a)
	h.fake.start(b)
	eventually(t, 5*time.Second, func() bool { return h.metricValue("docker_logs_containers_unreadable") == 1 })
	for i := range 3 {
		h.fake.log(b, 1, fmt.Sprintf("b-%d", i))
	}
	h.expectLines(b, []string{"stdout:b-0", "stdout:b-1", "stdout:b-2"}, 5*time.Second)
	asked := h.fake.count("logs:" + a)
	lists := h.fake.count(routeList)
	eventually(t, 5*time.Second, func() bool { return h.fake.count(routeList) >= lists+2 }) // two resyncs
	if n := h.fake.count("logs:" + a); n != asked {
		t.Errorf("an unreadable container was asked for its logs again (%d, then %d) before it restarted", asked, n)
	}
	h.fake.stop(a)
	h.fake.start(a)
	eventually(t, 5*time.Second, func() bool { return h.fake.count("logs:"+a) > asked })
	h.finish()
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
	if n := h.logs.count("container's logs cannot be read (logging driver none, or one without the daemon's cache); trying again when it restarts"); n != 1 {
		t.Errorf("reported %d times, want once", n)
	}
}

// A stream reading a long backlog (entries stamped long ago, coming in
// steadily) is not reopened at rotate_interval: a reopen would make the
// daemon seek back over the rest of it. Once it is caught up it rotates.
func TestBacklogIsNotRotated(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "100ms", "read_from_head": "on"})
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.logHistory(a, 3000, "old")
	slow := func(w http.ResponseWriter, r *http.Request) {
		q, _ := parseLogsQuery(r)
		if q.since.IsZero() && q.tail < 0 { // the read from the head: a slow backlog
			w.WriteHeader(http.StatusOK)
			es, _, _, _, _ := h.fake.snapshot(a, 0)
			for i := 0; i < len(es); i += 100 {
				if _, err := w.Write(q.encode(nil, false, es[i:min(i+100, len(es))])); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(20 * time.Millisecond): // 600 ms in all
				case <-r.Context().Done():
					return
				}
			}
			<-r.Context().Done()
			return
		}
		h.fake.serveLogs(w, r)
	}
	h.fake.handle(routeLogs, slow)
	h.e.start()
	h.waitLines(a, 3000, 10*time.Second)
	if n := h.fake.count("logs:" + a); n != 1 {
		t.Errorf("%d logs requests while the backlog was read, want 1", n)
	}
	// Caught up: rotations come back.
	eventually(t, 5*time.Second, func() bool { return h.rotations("alpha") >= 2 })
	h.finish()
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// TestDaemonClockBehind: with the daemon's clock 10 s behind this host's, a
// container that was stopped when the plugin started and starts just after
// is read from its first line: its lines are stamped before the plugin's
// start by this host's clock, but after it by the daemon's.
func TestDaemonClockBehind(t *testing.T) {
	f := newFakeDockerBehind(10 * time.Second)
	id := cid(1)
	f.create(id, "late", false)
	h := newHarnessFor(t, f, nil)
	h.e.start()
	h.ready()
	f.start(id)
	var want []string
	for i := range 5 {
		text := fmt.Sprintf("line %d", i)
		f.logAt(id, fakeEntry{ts: f.daemonNow().Add(time.Duration(i) * time.Microsecond), stream: 1, text: text})
		want = append(want, "stdout:"+text)
	}
	h.expectLines(id, want, 5*time.Second)
	h.finish()
	compareLines(t, "late", h.lines(id), want)
}

// TestDaemonClockBehindRotates: with the daemon's clock 10 s behind this
// host's, a live stream is not taken for a backlog: it rotates on time.
func TestDaemonClockBehindRotates(t *testing.T) {
	f := newFakeDockerBehind(10 * time.Second)
	id := cid(1)
	f.create(id, "live", false)
	f.start(id)
	h := newHarnessFor(t, f, map[string]string{"rotate_interval": "100ms"})
	h.e.start()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			f.logAt(id, fakeEntry{ts: f.daemonNow(), stream: 1, text: fmt.Sprintf("line %d", i)})
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	// Lines keep coming all along: a stream taken for a backlog would not
	// rotate before its hard limit (1m).
	eventually(t, 10*time.Second, func() bool { return h.rotations("live") >= 3 })
	close(stop)
	<-done
	h.finish()
}

// A container that has never written a line has nothing to reach: its
// stream rotates at rotate_interval like any other, and nothing counts it
// as stuck.
func TestSilentContainersRotate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		// started after the engine: a new container, read from its head
		late bool
	}{
		{name: "running at start, read from now", props: map[string]string{}},
		{name: "running at start, read from head", props: map[string]string{"read_from_head": "on"}},
		{name: "started later", props: map[string]string{}, late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.props["rotate_interval"] = "100ms"
			h := newHarness(t, tc.props)
			a := cid(1)
			if !tc.late {
				h.fake.create(a, "alpha", false)
				h.fake.start(a)
			}
			h.e.start()
			h.ready()
			if tc.late {
				h.followNew(a, "alpha")
			}
			eventually(t, 5*time.Second, func() bool { return h.rotations("alpha") >= 5 })
			if n := h.errors("not_reached"); n != 0 {
				t.Errorf("not_reached errors = %v, want 0", n)
			}
			if v := h.metricValue("docker_logs_streams_stalled"); v != 0 {
				t.Errorf("streams_stalled = %v, want 0", v)
			}
			// Once it writes, its lines come as from any container.
			h.fake.log(a, 1, "first words")
			h.expectLines(a, []string{"stdout:first words"}, 5*time.Second)
			h.finish()
		})
	}
}

// A run that never had a position to save still records when it stopped:
// a container stopped all through it, and started while the plugin was
// down, is read from then; so is a container created while it was down.
// One that did not run meanwhile is not read at all.
func TestEmptyRunRecordsItsStop(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	b, c, d := cid(2), cid(3), cid(4)
	for _, id := range []string{b, c} {
		f.create(id, "old-"+id[:4], false)
		f.start(id)
		f.log(id, 1, "an old run")
		f.stop(id)
	}
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	h1.finish()
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no checkpoint after a run without positions: %v", err)
	}

	var wantB, wantD []string
	f.start(b)
	for i := range 10 {
		f.log(b, 1, fmt.Sprintf("while down %d", i))
		wantB = append(wantB, fmt.Sprintf("stdout:while down %d", i))
	}
	f.stop(b)
	f.create(d, "created-while-down", false)
	f.start(d)
	for i := range 3 {
		f.log(d, 2, fmt.Sprintf("new %d", i))
		wantD = append(wantD, fmt.Sprintf("stderr:new %d", i))
	}
	f.stop(d)
	logsOfC := f.count("logs:" + c)

	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.expectLines(b, wantB, 5*time.Second)
	h2.expectLines(d, wantD, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return h2.metricValue("docker_logs_containers_watched") == 0 })
	h2.finish()
	compareLines(t, "started while down", h2.lines(b), wantB)
	compareLines(t, "created while down", h2.lines(d), wantD)
	if got := h2.lines(c); len(got) != 0 {
		t.Errorf("a container that did not run while the plugin was down delivered %q", got)
	}
	if n := f.count("logs:" + c); n != logsOfC {
		t.Errorf("%d logs requests for a container that did not run while the plugin was down, want none", n-logsOfC)
	}
	// A third start: still only inspected, not followed from a position
	// saved for it.
	h3 := newHarnessFor(t, f, map[string]string{"db": db})
	h3.e.start()
	h3.ready()
	eventually(t, 5*time.Second, func() bool { return h3.metricValue("docker_logs_containers_watched") == 0 })
	h3.finish()
	if n := f.count("logs:" + c); n != logsOfC {
		t.Errorf("%d logs requests at the third start for a container that never ran, want none", n-logsOfC)
	}
	if got := h3.lines(b); len(got) != 0 {
		t.Errorf("the third start delivered %q again", got)
	}
}

// A container created in the second the positions were saved, stopped
// all through that run and started while the plugin was down: the listing's
// whole seconds cannot tell whether it existed then, the inspect's time
// can. Only the lines of the run while the plugin was down arrive.
func TestCreatedInTheSecondOfTheSave(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	a := cid(1)
	f.create(a, "alpha", false)
	f.start(a)
	f.log(a, 1, "before the plugin")
	f.stop(a)
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	h1.finish()

	f.start(a)
	f.log(a, 1, "while down")
	f.stop(a)
	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.expectLines(a, []string{"stdout:while down"}, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return h2.metricValue("docker_logs_containers_watched") == 0 })
	h2.finish()
	compareLines(t, "alpha", h2.lines(a), []string{"stdout:while down"})
}

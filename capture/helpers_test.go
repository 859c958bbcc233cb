package capture

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tinylib/msgp/msgp"
	"go.uber.org/goleak"

	"docker_logs/capture/config"
	"docker_logs/capture/dockerapi"
	"docker_logs/capture/metrics"
	"docker_logs/capture/stream"
)

// harness is one engine reading from one fake daemon through the real
// Docker client.
type harness struct {
	t    *testing.T
	fake *fakeDocker
	cli  *client.Client
	m    *metrics.Input
	e    *Input
	logs *logCapture
	name string // the metrics input label

	mu  sync.Mutex
	got []rec
}

var inputSeq atomic.Int64

// newHarness builds an engine (not started) from props on top of the
// defaults, against a started fake. The cleanup stops the engine, closes the
// client and the fake, then checks that no goroutine is left.
func newHarness(t *testing.T, props map[string]string) *harness {
	t.Helper()
	f := newFakeDocker()
	f.srv.Start()
	return newHarnessFor(t, f, props)
}

// finish stops the engine and collects what it buffered last, so a late
// duplicate cannot go unseen.
func (h *harness) finish() {
	h.e.Stop()
	h.collect(0)
}

func newHarnessFor(t *testing.T, f *fakeDocker, props map[string]string) *harness {
	t.Helper()
	name := fmt.Sprintf("test_%d_%s", inputSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "_"))
	all := map[string]string{
		"docker_host":    f.host(),
		"instance_name":  name,
		"exclude_self":   "off",
		"metrics_listen": "off",
	}
	maps.Copy(all, props)
	cfg, err := config.Parse(func(k string) string { return all[k] }, "unused")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cli, err := dockerapi.NewClient(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	h := &harness{t: t, fake: f, cli: cli, name: name, logs: &logCapture{t: t}}
	h.e, err = newInput(cfg, Deps{Docker: cli, Log: slog.New(h.logs)})
	if err != nil {
		t.Fatalf("input: %v", err)
	}
	h.m = h.e.metrics
	t.Cleanup(func() {
		h.e.Close()
		h.logs.stop()
		// The fake's streams end with the input's requests; what remains
		// are the client's idle keep-alive connections, closed here.
		cli.Close()
		f.close()
		goleak.VerifyNone(t)
	})
	return h
}

// ready waits until the engine follows events and has made its first list:
// containers created from now on are new to it.
func (h *harness) ready() {
	h.t.Helper()
	eventually(h.t, 5*time.Second, func() bool { return h.fake.subscribers() > 0 })
	h.fake.barrier(h.t)
}

// cid makes a container ID of the daemon's form; its short form is
// distinct for each n.
func cid(n int) string { return fmt.Sprintf("%04x", n) + strings.Repeat("c", 60) }

func streamName(s int) string { return map[int]string{1: "stdout", 2: "stderr"}[s] }

// rec is one decoded record.
type rec struct {
	ID, Name, Image, Stream, Log string
	TS                           int64
	Truncated                    bool
}

// collect takes what the engine has buffered, checks each handover stays
// within limit bytes (0: no check), decodes it and keeps it. It returns the
// number of bytes handed over.
func (h *harness) collect(limit int) int {
	h.t.Helper()
	var recs []rec
	b := h.e.Collect()
	n := len(b)
	if n > 0 {
		recs = decodeRecords(h.t, b)
	}
	if limit > 0 && n > limit {
		h.t.Errorf("Collect handed over %d bytes, buffer_max_size is %d", n, limit)
	}
	h.mu.Lock()
	h.got = append(h.got, recs...)
	h.mu.Unlock()
	return n
}

// lines returns the log texts collected so far for container id (all when
// id is ""), as "stream:text".
func (h *harness) lines(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.got {
		if id == "" || r.ID == id {
			out = append(out, r.Stream+":"+r.Log)
		}
	}
	return out
}

func (h *harness) records(id string) []rec {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []rec
	for _, r := range h.got {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

// waitLines collects until container id has at least n lines.
func (h *harness) waitLines(id string, n int, timeout time.Duration) []string {
	h.t.Helper()
	eventually(h.t, timeout, func() bool {
		h.collect(0)
		return len(h.lines(id)) >= n
	})
	return h.lines(id)
}

// expectLines waits for container id's lines and checks they are exactly
// want, in order, once each.
func (h *harness) expectLines(id string, want []string, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.collect(0)
		got := h.lines(id)
		if len(got) >= len(want) || time.Now().After(deadline) {
			compareLines(h.t, stream.ShortID(id), got, want)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func compareLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	n := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			if n < 5 {
				t.Errorf("%s line %d: got %.80q, want %.80q", what, i, got[i], want[i])
			}
			n++
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %d lines, want %d", what, len(got), len(want))
	}
	if n > 0 || len(got) != len(want) {
		t.FailNow()
	}
}

// following creates and starts a container, logs a line on its stdout and
// waits for its record.
func (h *harness) following(id, name, line string) {
	h.t.Helper()
	h.fake.create(id, name, false)
	h.fake.start(id)
	h.fake.log(id, 1, line)
	h.expectLines(id, []string{"stdout:" + line}, 5*time.Second)
}

// eventsDown ends the engine's events stream and refuses new ones until
// h.fake.handle(routeEvents, nil), and waits until the engine counted the
// loss.
func (h *harness) eventsDown() {
	h.t.Helper()
	h.fake.handle(routeEvents, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusInternalServerError, "events down")
	})
	h.fake.closeEvents()
	eventually(h.t, 5*time.Second, func() bool { return h.errors(metrics.ReasonEvents) >= 1 })
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// decodeRecords reads [EventTime, {fields}] records with msgp.
func decodeRecords(t *testing.T, b []byte) []rec {
	t.Helper()
	var out []rec
	fail := func(err error) []rec {
		t.Errorf("decoding record %d: %v", len(out), err)
		return out
	}
	for len(b) > 0 {
		var (
			n   uint32
			err error
			et  testEventTime
			r   rec
		)
		if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil || n != 2 {
			return fail(fmt.Errorf("array of %d: %v", n, err))
		}
		if b, err = msgp.ReadExtensionBytes(b, &et); err != nil {
			return fail(err)
		}
		r.TS = int64(et.sec)*1e9 + int64(et.nsec)
		if n, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
			return fail(err)
		}
		for range n {
			var k string
			if k, b, err = msgp.ReadStringBytes(b); err != nil {
				return fail(err)
			}
			var s *string
			switch k {
			case "log":
				s = &r.Log
			case "stream":
				s = &r.Stream
			case "container_id":
				s = &r.ID
			case "container_name":
				s = &r.Name
			case "container_image":
				s = &r.Image
			case "log_truncated":
				r.Truncated, b, err = msgp.ReadBoolBytes(b)
			default:
				b, err = msgp.Skip(b)
			}
			if s != nil {
				*s, b, err = msgp.ReadStringBytes(b)
			}
			if err != nil {
				return fail(err)
			}
		}
		out = append(out, r)
	}
	return out
}

// testEventTime reads Fluent Bit's EventTime (msgpack ext type 0).
type testEventTime struct{ sec, nsec uint32 }

func (e *testEventTime) ExtensionType() int8            { return 0 }
func (e *testEventTime) Len() int                       { return 8 }
func (e *testEventTime) MarshalBinaryTo(b []byte) error { return nil }
func (e *testEventTime) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return msgp.ErrShortBytes
	}
	e.sec = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	e.nsec = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	return nil
}

// metricValue reads one series of the shared registry: name with the
// harness's input label and the given label pairs.
func (h *harness) metricValue(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		h.t.Fatalf("gather: %v", err)
	}
	want := map[string]string{"input": h.name}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (h *harness) errors(reason string) float64 {
	return h.metricValue("docker_logs_stream_errors_total", "reason", reason)
}

func (h *harness) rotations(containerName string) float64 {
	return h.metricValue("docker_logs_stream_rotations_total", "container_name", containerName)
}

// errorCounts returns every reason's count, for messages.
func (h *harness) errorCounts() map[string]float64 {
	out := map[string]float64{}
	for _, r := range []string{metrics.ReasonOpen, metrics.ReasonRead, metrics.ReasonDecode,
		metrics.ReasonNotFound, metrics.ReasonDaemon, metrics.ReasonEvents, metrics.ReasonList} {
		if v := h.errors(r); v != 0 {
			out[r] = v
		}
	}
	return out
}

// value reads one of the input's own series.
var value = testutil.ToFloat64

// logCapture is a slog handler that keeps every record and passes it on to
// t.Log while the test runs.
type logCapture struct {
	t *testing.T

	mu      sync.Mutex
	stopped bool
	recs    []logRec
}

type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

type logHandler struct {
	c     *logCapture
	attrs []slog.Attr
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) Handle(ctx context.Context, r slog.Record) error {
	return logHandler{c: c}.Handle(ctx, r)
}
func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{c: c, attrs: as} }
func (c *logCapture) WithGroup(string) slog.Handler         { return c }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) WithGroup(string) slog.Handler            { return h }
func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{c: h.c, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	lr := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	var sb strings.Builder
	add := func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.recs = append(h.c.recs, lr)
	if !h.c.stopped {
		h.c.t.Logf("engine %s: %s%s", r.Level, r.Message, sb.String())
	}
	return nil
}

func (c *logCapture) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
}

// count returns how many records have msg and the given attribute pairs.
func (c *logCapture) count(msg string, attrs ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
next:
	for _, r := range c.recs {
		if r.msg != msg {
			continue
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if r.attrs[attrs[i]] != attrs[i+1] {
				continue next
			}
		}
		n++
	}
	return n
}

package capture

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
	"docker_logs/capture/stream"
)

// Lines of two containers, on stdout and stderr, arrive once each, in
// order, with their container's fields and their daemon timestamps.
func TestTwoContainersStdoutStderr(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a, b := cid(1), cid(2)
	h.fake.create(a, "alpha", false)
	h.fake.create(b, "beta", false)
	h.fake.start(a)
	h.fake.start(b)
	want := map[string][]string{}
	wantTS := map[string][]int64{}
	for i := range 30 {
		for _, id := range []string{a, b} {
			s := 1 + i%2
			text := fmt.Sprintf("%s line %d on %s", stream.ShortID(id), i, streamName(s))
			ts := h.fake.log(id, s, text)
			want[id] = append(want[id], streamName(s)+":"+text)
			wantTS[id] = append(wantTS[id], ts.UnixNano())
		}
	}
	h.expectLines(a, want[a], 5*time.Second)
	h.expectLines(b, want[b], 5*time.Second)
	h.finish()
	for id, name := range map[string]string{a: "alpha", b: "beta"} {
		compareLines(t, name, h.lines(id), want[id])
		for i, r := range h.records(id) {
			if r.Name != name || r.Image != "img-"+name || r.Truncated || r.TS != wantTS[id][i] {
				t.Errorf("%s record %d: %+v, want name %s, image img-%s, ts %d, not truncated",
					name, i, r, name, name, wantTS[id][i])
			}
		}
	}
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// With rotate_interval at its minimum while lines keep coming, the streams
// are reopened many times and every line arrives once: lines sharing one
// timestamp, and a long line whose chunks share one timestamp and are in
// flight across rotations, are resumed by skipping exactly the entries
// already taken.
func TestRotationNoGapNoDuplicate(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "200ms"})
	h.e.start()
	h.ready()
	a, b := cid(1), cid(2)
	h.fake.create(a, "alpha", false)
	h.fake.create(b, "beta", false)
	h.fake.start(a)
	h.fake.start(b)

	// b: a steady writer on both streams.
	stopB := make(chan struct{})
	var wg sync.WaitGroup
	var wantB []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopB:
				return
			default:
			}
			s := 1 + i%2
			h.fake.log(b, s, fmt.Sprintf("b-%d", i))
			wantB = append(wantB, fmt.Sprintf("%s:b-%d", streamName(s), i))
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stopB:
		default:
			close(stopB)
		}
		wg.Wait()
	}()

	// a: a script.
	var wantA []string
	var wantTS []int64
	logAt := func(ts time.Time, s int, text string, partial bool) {
		h.fake.logAt(a, fakeEntry{ts: ts, stream: s, text: text, partial: partial})
	}
	expect := func(ts time.Time, s int, text string) {
		wantA = append(wantA, streamName(s)+":"+text)
		wantTS = append(wantTS, ts.UnixNano())
	}
	steady := func(n int) {
		for range n {
			s := 1 + len(wantA)%2
			text := fmt.Sprintf("a-%d", len(wantA))
			expect(h.fake.log(a, s, text), s, text)
			h.collect(0)
			time.Sleep(time.Millisecond)
		}
	}
	// rotate waits for k more logs requests of a.
	rotate := func(k int) {
		n := h.fake.count("logs:" + a)
		eventually(t, 5*time.Second, func() bool {
			h.collect(0)
			return h.fake.count("logs:"+a) >= n+k
		})
	}

	steady(100)

	// A 32 KiB line: two chunks now, taken by a stream that is then
	// rotated away, and the last chunk afterwards.
	ts := h.fake.nextTS(a)
	x, y := strings.Repeat("x", logstream.ChunkSize), strings.Repeat("y", logstream.ChunkSize)
	logAt(ts, 1, x, true)
	logAt(ts, 1, y, true)
	rotate(2)
	logAt(ts, 1, "end of the long line", false)
	expect(ts, 1, x+y+"end of the long line")
	steady(50)

	// Lines sharing one timestamp on both streams: three before rotations,
	// two more with the same timestamp after.
	ts = h.fake.nextTS(a)
	for i := range 5 {
		if i == 3 {
			rotate(2)
		}
		text := fmt.Sprintf("same-ts-%d", i)
		logAt(ts, 1+i%2, text, false)
		expect(ts, 1+i%2, text)
	}
	rotate(1)

	deadline := time.Now().Add(10 * time.Second)
	for h.fake.count("logs:"+a) < 10 || h.fake.count("logs:"+b) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d and %d logs requests", h.fake.count("logs:"+a), h.fake.count("logs:"+b))
		}
		steady(20)
	}
	close(stopB)
	wg.Wait()

	h.expectLines(a, wantA, 10*time.Second)
	h.expectLines(b, wantB, 10*time.Second)
	// Every request but the first was a rotation. Read the count between two
	// reads of the requests, as a rotation is counted before its request.
	for id, name := range map[string]string{a: "alpha", b: "beta"} {
		before := h.fake.count("logs:" + id)
		rot := h.rotations(name)
		after := h.fake.count("logs:" + id)
		if rot < 9 || rot < float64(before-1) || rot > float64(after) {
			t.Errorf("%s: %v rotations counted, %d..%d logs requests", name, rot, before, after)
		}
	}
	h.finish()
	compareLines(t, "alpha", h.lines(a), wantA)
	compareLines(t, "beta", h.lines(b), wantB)
	for i, r := range h.records(a) {
		if r.TS != wantTS[i] {
			t.Errorf("alpha record %d (%.40q): ts %d, want %d", i, r.Log, r.TS, wantTS[i])
		}
	}
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// A rotation while one stream's long line is unfinished: the lines of the
// other stream handed over meanwhile are not read again, and the long line
// arrives whole.
func TestRotationWhileOtherStreamPending(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "200ms"})
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.log(a, 1, "first")
	want := []string{"stdout:first"}
	h.expectLines(a, want, 5*time.Second)
	rotate := func(k int) {
		n := h.fake.count("logs:" + a)
		eventually(t, 5*time.Second, func() bool {
			h.collect(0)
			return h.fake.count("logs:"+a) >= n+k
		})
	}
	ts := h.fake.nextTS(a)
	chunk := strings.Repeat("x", logstream.ChunkSize)
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: chunk, partial: true})
	for i := range 2 {
		h.fake.log(a, 2, fmt.Sprintf("stderr-%d while stdout is unfinished", i))
		want = append(want, fmt.Sprintf("stderr:stderr-%d while stdout is unfinished", i))
		rotate(2)
	}
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: chunk, partial: true})
	rotate(1)
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: "end"})
	want = append(want, "stdout:"+chunk+chunk+"end")
	h.fake.log(a, 2, "after")
	want = append(want, "stderr:after")
	h.expectLines(a, want, 5*time.Second)
	rotate(2)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
}

// A TTY container's raw stream: no frame headers, stdout and stderr merged,
// "\r\n" line ends, and a long line cut in chunks without a newline.
func TestTTYContainer(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "term", true)
	h.fake.start(a)
	h.fake.log(a, 1, "first")
	h.fake.log(a, 2, "second, written to stderr")
	ts := h.fake.nextTS(a)
	long := strings.Repeat("z", logstream.ChunkSize)
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: long, partial: true})
	h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: "tail"})
	h.fake.log(a, 1, "")
	h.fake.log(a, 1, "last")
	want := []string{"tty:first", "tty:second, written to stderr", "tty:" + long + "tail", "tty:", "tty:last"}
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "term", h.lines(a), want)
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// Faults on the logs stream of one container end in bounded time, are
// counted under the right reason, and do not hold up the other container.
func TestLogsStreamFaults(t *testing.T) {
	type plant func(f *fakeDocker, a string, hit func()) http.HandlerFunc
	// written is what a fault handler sends before its fault: the entries
	// the request asks for, as the default handler would.
	written := func(f *fakeDocker, r *http.Request) []byte {
		c, _ := f.lookup(r.PathValue("id"))
		q, _ := parseLogsQuery(r)
		return q.encode(nil, c.tty, c.entries)
	}
	var stallEnded atomic.Int64 // how long the stalled request lasted
	cases := []struct {
		name   string
		plant  plant
		reason string // "" for none
		count  float64
		ends   bool // the tailer ends for good
	}{
		{
			name: "stall mid-frame until the rotation deadline",
			plant: func(f *fakeDocker, a string, hit func()) http.HandlerFunc {
				var once atomic.Bool
				return func(w http.ResponseWriter, r *http.Request) {
					if r.PathValue("id") != a || !once.CompareAndSwap(false, true) {
						f.serveLogs(w, r)
						return
					}
					start := time.Now()
					w.WriteHeader(http.StatusOK)
					b := appendFrameHeader(written(f, r), 1, 100)
					w.Write(append(b, "2024-01-01T00:00"...))
					w.(http.Flusher).Flush()
					hit()
					select {
					case <-r.Context().Done():
						stallEnded.Store(int64(time.Since(start)))
					case <-f.closing:
					}
				}
			},
		},
		{
			name: "connection closed mid-frame",
			plant: func(f *fakeDocker, a string, hit func()) http.HandlerFunc {
				var once atomic.Bool
				return func(w http.ResponseWriter, r *http.Request) {
					if r.PathValue("id") != a || !once.CompareAndSwap(false, true) {
						f.serveLogs(w, r)
						return
					}
					conn, rw, err := w.(http.Hijacker).Hijack()
					if err != nil {
						panic(err)
					}
					defer conn.Close()
					body := append(appendFrameHeader(written(f, r), 2, 100), "2024-01-01T00:00"...)
					fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"+
						"Transfer-Encoding: chunked\r\n\r\n%x\r\n", len(body)+50)
					rw.Write(body) // 50 bytes short of the announced chunk
					rw.Flush()
					hit()
				}
			},
			reason: metrics.ReasonRead, count: 1,
		},
		{
			name: "frame header announcing an absurd length",
			plant: func(f *fakeDocker, a string, hit func()) http.HandlerFunc {
				var once atomic.Bool
				return func(w http.ResponseWriter, r *http.Request) {
					if r.PathValue("id") != a || !once.CompareAndSwap(false, true) {
						f.serveLogs(w, r)
						return
					}
					w.WriteHeader(http.StatusOK)
					w.Write(append(appendFrameHeader(written(f, r), 1, 0x7fffffff), "junk"...))
					hit()
				}
			},
			reason: metrics.ReasonDecode, count: 1,
		},
		{
			name: "404 on logs",
			plant: func(f *fakeDocker, a string, hit func()) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.PathValue("id") != a {
						f.serveLogs(w, r)
						return
					}
					writeError(w, http.StatusNotFound, "No such container: "+a)
					hit()
				}
			},
			reason: metrics.ReasonNotFound, count: 1, ends: true,
		},
		{
			name: "500s on logs",
			plant: func(f *fakeDocker, a string, hit func()) http.HandlerFunc {
				var n atomic.Int32
				return func(w http.ResponseWriter, r *http.Request) {
					if r.PathValue("id") != a || n.Add(1) > 3 {
						f.serveLogs(w, r)
						return
					}
					writeError(w, http.StatusInternalServerError, "something broke")
					hit()
				}
			},
			reason: metrics.ReasonOpen, count: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]string{"rotate_interval": "1s", "read_from_head": "on"})
			a, b := cid(1), cid(2)
			h.fake.create(a, "alpha", false)
			h.fake.create(b, "beta", false)
			h.fake.start(a)
			h.fake.start(b)
			var wantA, wantB []string
			logA := func(text string) { h.fake.log(a, 1, text); wantA = append(wantA, "stdout:"+text) }
			logB := func(text string) { h.fake.log(b, 2, text); wantB = append(wantB, "stderr:"+text) }
			for i := range 3 {
				logA(fmt.Sprintf("a-%d", i))
				logB(fmt.Sprintf("b-%d", i))
			}
			hit := make(chan struct{})
			var once sync.Once
			h.fake.handle(routeLogs, tc.plant(h.fake, a, func() { once.Do(func() { close(hit) }) }))
			h.e.start()
			select {
			case <-hit:
			case <-time.After(5 * time.Second):
				t.Fatal("the fault was never reached")
			}
			// b delivers while a is in trouble.
			logB("b-3")
			h.expectLines(b, wantB, 5*time.Second)

			logA("a-3")
			logB("b-4")
			if tc.ends {
				eventually(t, 5*time.Second, func() bool {
					return value(h.m.Watched) == 1 && value(h.m.StreamsActive) == 1
				})
			} else {
				h.expectLines(a, wantA, 10*time.Second)
			}
			h.expectLines(b, wantB, 5*time.Second)
			h.finish()
			compareLines(t, "beta", h.lines(b), wantB)
			if tc.ends {
				if n := h.fake.count("logs:" + a); n != 1 {
					t.Errorf("%d logs requests for a container that is gone, want 1", n)
				}
				if got := h.lines(a); len(got) != 0 {
					t.Errorf("lines from a container whose logs are 404: %q", got)
				}
			} else {
				compareLines(t, "alpha", h.lines(a), wantA)
			}
			want := map[string]float64{}
			if tc.reason != "" {
				want[tc.reason] = tc.count
			}
			if got := h.errorCounts(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("errors counted: %v, want %v", got, want)
			}
			switch tc.name {
			case cases[0].name:
				// Only the rotation deadline ended the stall.
				eventually(t, 5*time.Second, func() bool { return stallEnded.Load() != 0 })
				if d := time.Duration(stallEnded.Load()); d < 900*time.Millisecond {
					t.Errorf("stalled stream ended after %v, before its deadline", d)
				}
				if h.rotations("alpha") < 1 || h.fake.count("logs:"+a) < 2 {
					t.Errorf("stalled stream not reopened: %v rotations, %d requests",
						h.rotations("alpha"), h.fake.count("logs:"+a))
				}
			case cases[4].name:
				// Logged once per change of state, not once per retry.
				short := stream.ShortID(a)
				if n := h.logs.count("log stream failed; retrying with backoff", "container_id", short); n != 1 {
					t.Errorf("failure logged %d times, want once", n)
				}
			}
		})
	}
}

// The 500s case above, continued: the recovery is logged once too.
func TestLogsStreamRecoveryLoggedOnce(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "200ms", "read_from_head": "on"})
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.log(a, 1, "a-0")
	var n atomic.Int32
	h.fake.handle(routeLogs, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			writeError(w, http.StatusInternalServerError, "something broke")
			return
		}
		h.fake.serveLogs(w, r)
	})
	h.e.start()
	h.expectLines(a, []string{"stdout:a-0"}, 10*time.Second)
	short := stream.ShortID(a)
	eventually(t, 5*time.Second, func() bool {
		return h.logs.count("log stream recovered", "container_id", short) == 1
	})
	// Further rotations are not changes of state.
	k := h.fake.count("logs:" + a)
	eventually(t, 5*time.Second, func() bool { return h.fake.count("logs:"+a) >= k+3 })
	h.finish()
	if got := h.logs.count("log stream recovered", "container_id", short); got != 1 {
		t.Errorf("recovery logged %d times", got)
	}
	if got := h.logs.count("log stream failed; retrying with backoff", "container_id", short); got != 1 {
		t.Errorf("failure logged %d times", got)
	}
	if got := h.errors(metrics.ReasonOpen); got != 2 {
		t.Errorf("%v open errors, want 2", got)
	}
}

// When the events stream closes, the engine reconnects, counts it, and the
// list it makes finds a container started while no event could tell, which it
// reads from its first line.
func TestEventsStreamCloses(t *testing.T) {
	h := newHarness(t, nil)
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.e.start()
	h.ready()
	// A running container is followed from now: log once its stream is open.
	eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 })
	h.fake.log(a, 1, "a-0")
	h.expectLines(a, []string{"stdout:a-0"}, 5*time.Second)

	h.eventsDown()

	b := cid(2)
	h.fake.create(b, "beta", false)
	if n := h.fake.start(b); n != 0 {
		t.Fatalf("the start event reached %d subscribers while events were down", n)
	}
	h.fake.log(b, 1, "b-0")
	h.fake.log(b, 2, "b-1")
	h.fake.log(a, 1, "a-1")
	h.fake.handle(routeEvents, nil)

	h.expectLines(b, []string{"stdout:b-0", "stderr:b-1"}, 10*time.Second)
	h.expectLines(a, []string{"stdout:a-0", "stdout:a-1"}, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return h.fake.subscribers() == 1 })
	h.fake.log(b, 1, "b-2")
	h.expectLines(b, []string{"stdout:b-0", "stderr:b-1", "stdout:b-2"}, 5*time.Second)
	h.finish()
	if got := value(h.m.Reconnects); got < 1 {
		t.Errorf("%v reconnects counted", got)
	}
	compareLines(t, "alpha", h.lines(a), []string{"stdout:a-0", "stdout:a-1"})
	compareLines(t, "beta", h.lines(b), []string{"stdout:b-0", "stderr:b-1", "stdout:b-2"})
}

// Containers that run and exit while the events stream is down are read
// after the reconnect as their start events would have had them: one
// followed before, from where its last run was read; one that existed
// before the input started and was never read (read_from_head on), from
// its first line. The list after a reconnect cannot tell that they ran,
// their inspect can; one that did not run is inspected once, not at every
// list after.
func TestRanWhileEventsDown(t *testing.T) {
	for _, head := range []string{"off", "on"} {
		t.Run("read_from_head "+head, func(t *testing.T) {
			h := newHarness(t, map[string]string{"read_from_head": head, "resync_interval": "100ms"})
			a, b, c := cid(1), cid(2), cid(3)
			h.fake.create(c, "gamma", false)
			h.fake.start(c)
			h.fake.log(c, 1, "c-old")
			h.fake.stop(c)
			h.fake.create(a, "alpha", false)
			h.fake.create(b, "beta", false)
			h.e.start()
			h.ready()
			h.fake.start(a)
			h.fake.start(b)
			h.fake.log(a, 1, "a-run1")
			h.fake.log(b, 1, "b-run1")
			h.expectLines(a, []string{"stdout:a-run1"}, 5*time.Second)
			h.expectLines(b, []string{"stdout:b-run1"}, 5*time.Second)
			h.fake.stop(a)
			h.fake.stop(b)
			eventually(t, 5*time.Second, func() bool { return value(h.m.Watched) == 0 })
			inspects := h.fake.count("inspect:" + b)

			h.eventsDown()
			if n := h.fake.start(a); n != 0 {
				t.Fatalf("the start event reached %d subscribers while events were down", n)
			}
			h.fake.log(a, 2, "a-run2")
			h.fake.stop(a)
			h.fake.start(c)
			h.fake.log(c, 1, "c-run")
			h.fake.stop(c)
			h.fake.handle(routeEvents, nil)

			wantC := []string{"stdout:c-run"}
			if head == "on" {
				wantC = []string{"stdout:c-old", "stdout:c-run"}
			}
			h.expectLines(a, []string{"stdout:a-run1", "stderr:a-run2"}, 10*time.Second)
			h.expectLines(c, wantC, 5*time.Second)
			eventually(t, 5*time.Second, func() bool { return h.fake.subscribers() == 1 && value(h.m.Watched) == 0 })
			lists := h.fake.count(routeList)
			eventually(t, 5*time.Second, func() bool { return h.fake.count(routeList) >= lists+5 })
			h.finish()
			compareLines(t, "alpha", h.lines(a), []string{"stdout:a-run1", "stderr:a-run2"})
			compareLines(t, "beta", h.lines(b), []string{"stdout:b-run1"})
			compareLines(t, "gamma", h.lines(c), wantC)
			if n := h.fake.count("inspect:" + b); n > inspects+1 {
				t.Errorf("beta inspected %d times after the outage, want at most 1", n-inspects)
			}
		})
	}
}

// An events endpoint that keeps failing at once is retried with a growing
// backoff, not at the minimum delay, while containers are still found by
// the list made at each attempt.
func TestEventsRefusedBackoff(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.handle(routeEvents, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusInternalServerError, "events disabled")
	})
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.e.start()
	eventually(t, 5*time.Second, func() bool { return h.fake.count(routeEvents) >= 2 })
	h.fake.log(a, 1, "a-0")
	h.fake.start(a)
	h.expectLines(a, []string{"stdout:a-0"}, 10*time.Second)
	// Delays of 250 ms, 500 ms, 1 s, 2 s, each with up to half off: at most
	// 5 attempts in 2.5 s; the minimum delay every time would make 10 or more.
	start := time.Now()
	n := h.fake.count(routeEvents)
	for time.Since(start) < 2500*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	if got := h.fake.count(routeEvents) - n; got > 6 {
		t.Errorf("%d events requests in 2.5 s", got)
	}
	h.finish()
	if got := value(h.m.Reconnects); got < 3 {
		t.Errorf("%v reconnects counted", got)
	}
}

// Where a container is read from: from its first line when it starts after
// the engine, from the engine's start when it already ran (read_from_head
// off), or from its first line (read_from_head on).
func TestReadFrom(t *testing.T) {
	cases := []struct {
		name         string
		existing     bool
		readFromHead string
		wantOld      bool
	}{
		{"start event after Start", false, "off", true},
		{"existing at Start, read_from_head off", true, "off", false},
		{"existing at Start, read_from_head on", true, "on", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, map[string]string{"read_from_head": tc.readFromHead})
			a := cid(1)
			old := func() {
				for i := range 3 {
					h.fake.log(a, 1+i%2, fmt.Sprintf("old-%d", i))
				}
			}
			if tc.existing {
				h.fake.create(a, "alpha", false)
				h.fake.start(a)
				old()
			}
			h.e.start()
			h.ready()
			if !tc.existing {
				h.fake.create(a, "alpha", false)
				old() // before the start event is handled, as a container's first lines
				h.fake.start(a)
			}
			eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 })
			var want []string
			if tc.wantOld {
				want = []string{"stdout:old-0", "stderr:old-1", "stdout:old-2"}
			}
			for i := range 3 {
				h.fake.log(a, 1, fmt.Sprintf("new-%d", i))
				want = append(want, fmt.Sprintf("stdout:new-%d", i))
			}
			h.expectLines(a, want, 5*time.Second)
			h.finish()
			compareLines(t, "alpha", h.lines(a), want)
		})
	}
}

// A stopped container created in the second the input started, before it,
// is inspected once to tell, not at every list: its creation time does not
// change.
func TestCreatedInTheStartSecondInspectedOnce(t *testing.T) {
	h := newHarness(t, map[string]string{"read_from_head": "on", "resync_interval": "100ms"})
	a := cid(1)
	// Early in a second, so the input starts in the same whole second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.log(a, 1, "before")
	h.fake.stop(a)
	h.e.start()
	h.ready()
	lists := h.fake.count(routeList)
	eventually(t, 5*time.Second, func() bool { return h.fake.count(routeList) >= lists+5 })
	h.finish()
	switch n := h.fake.count("inspect:" + a); {
	case n == 0:
		t.Skip("the input started in the next whole second: the list alone told")
	case n > 1:
		t.Errorf("inspected %d times over %d lists, want once", n, h.fake.count(routeList))
	}
	compareLines(t, "alpha", h.lines(a), nil)
}

// A container created after the input started but listed by its first
// list, which can come late on a busy daemon, is read from its first line
// as its start event would have it, not from the list's now.
func TestCreatedBeforeTheFirstList(t *testing.T) {
	h := newHarness(t, map[string]string{"read_from_head": "off"})
	a := cid(1)
	listing, release := h.fake.holdFirstList()
	h.e.start()
	<-listing
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	want := []string{"stdout:first-0", "stdout:first-1"}
	h.fake.log(a, 1, "first-0")
	h.fake.log(a, 1, "first-1")
	close(release)
	eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 })
	h.fake.log(a, 1, "next")
	want = append(want, "stdout:next")
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
}

// Containers that run and exit before the daemon serves the events
// subscription (a busy Podman takes seconds), or between two lists while
// it serves none, are read to their end from the lists.
func TestRanBeforeEventsCame(t *testing.T) {
	h := newHarness(t, map[string]string{"read_from_head": "off", "resync_interval": "200ms"})
	subscribing, events := make(chan struct{}), make(chan struct{})
	var subscribed sync.Once
	h.fake.handle(routeEvents, func(w http.ResponseWriter, r *http.Request) {
		// Answered at once, as Podman does, but subscribed later: what
		// happens meanwhile has no event.
		writeEventsHeader(w)
		subscribed.Do(func() { close(subscribing) })
		select {
		case <-events:
		case <-r.Context().Done():
			return
		}
		h.fake.sendEvents(w, r, h.fake.subscribe())
	})
	listing, release := h.fake.holdFirstList()
	h.e.start()
	<-subscribing
	<-listing
	a, b := cid(1), cid(2)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.log(a, 1, "a-0")
	h.fake.log(a, 1, "a-1")
	h.fake.stop(a)
	close(release) // the first list: alpha has exited
	h.expectLines(a, []string{"stdout:a-0", "stdout:a-1"}, 5*time.Second)
	h.fake.create(b, "beta", false)
	h.fake.start(b)
	h.fake.log(b, 2, "b-0")
	h.fake.stop(b)
	h.expectLines(b, []string{"stderr:b-0"}, 5*time.Second) // a resync
	close(events)
	h.finish()
	compareLines(t, "alpha", h.lines(a), []string{"stdout:a-0", "stdout:a-1"})
	compareLines(t, "beta", h.lines(b), []string{"stderr:b-0"})
}

// A rename event changes the container_name of the records that follow.
func TestRenameEvent(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.following(a, "before", "one")
	h.fake.rename(a, "after")
	h.fake.barrier(t)
	h.fake.log(a, 1, "two")
	h.expectLines(a, []string{"stdout:one", "stdout:two"}, 5*time.Second)
	h.finish()
	if rs := h.records(a); rs[0].Name != "before" || rs[1].Name != "after" {
		t.Errorf("names %q, %q; want before, after", rs[0].Name, rs[1].Name)
	}
}

// A start event carries the container's labels, so the filters decide on
// it without a list; a label filter on a key the event's name or image
// attribute hides makes the engine list the container instead.
func TestFiltersOnStartEvent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		props    map[string]string
		labels   map[string]string // the "web" container's
		wantList bool
	}{
		{"label filter from the event", map[string]string{"include_labels": "app=web"}, map[string]string{"app": "web"}, false},
		{"label the name attribute hides", map[string]string{"include_labels": "name=front"}, map[string]string{"name": "front"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.props)
			h.e.start()
			h.ready()
			web, db := cid(1), cid(2)
			h.fake.create(web, "web", false)
			h.fake.create(db, "db", false)
			h.fake.mu.Lock()
			h.fake.containers[web].labels = tc.labels
			h.fake.mu.Unlock()
			h.fake.start(web)
			h.fake.start(db)
			h.fake.log(web, 1, "one")
			h.fake.log(db, 1, "ignored")
			h.expectLines(web, []string{"stdout:one"}, 5*time.Second)
			h.fake.barrier(t)
			if got := value(h.m.Watched); got != 1 {
				t.Errorf("watched %v; want 1 (web only)", got)
			}
			if listed := h.fake.count(routeList+":"+web) > 0; listed != tc.wantList {
				t.Errorf("web listed for its start event: %v; want %v", listed, tc.wantList)
			}
			h.finish()
			if got := h.lines(db); len(got) != 0 {
				t.Errorf("db, which the filter excludes, gave %q", got)
			}
		})
	}
}

// A short-lived container that has exited by the time its start event is
// handled: its lines are read all the same.
func TestStartEventOfExitedContainer(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	// Hold the tailer's inspect until the container has exited.
	held, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.fake.handle(routeInspect, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(held); <-gate })
		h.fake.serveInspect(w, r)
	})
	a := cid(1)
	h.fake.create(a, "brief", false)
	h.fake.start(a)
	<-held
	want := []string{"stdout:one", "stderr:two", "stdout:three"}
	h.fake.log(a, 1, "one")
	h.fake.log(a, 2, "two")
	h.fake.log(a, 1, "three")
	h.fake.stop(a)
	close(gate)
	h.expectLines(a, want, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return value(h.m.Watched) == 0 })
	h.finish()
	compareLines(t, "brief", h.lines(a), want)
}

// A container that exits with an unterminated last line: the line is
// delivered and the tailer ends.
func TestExitWithUnterminatedLine(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	h.fake.log(a, 1, "one")
	h.fake.log(a, 2, "two")
	h.fake.logAt(a, fakeEntry{ts: h.fake.nextTS(a), stream: 1, text: "no newline at the end", partial: true})
	h.waitLines(a, 2, 5*time.Second)
	h.fake.stop(a)
	want := []string{"stdout:one", "stderr:two", "stdout:no newline at the end"}
	h.expectLines(a, want, 5*time.Second)
	eventually(t, 5*time.Second, func() bool {
		return value(h.m.Watched) == 0 && value(h.m.StreamsActive) == 0
	})
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// A container that stops and starts again, its start event arriving while
// the old tailer is still ending: the new run's lines are read, none of the
// old run's again.
func TestStopAndStartAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	var want []string
	for i := range 3 {
		h.fake.log(a, 1, fmt.Sprintf("run1-%d", i))
		want = append(want, fmt.Sprintf("stdout:run1-%d", i))
	}
	h.expectLines(a, want, 5*time.Second)

	// Hold the inspect the ending tailer makes, answering it with the state
	// of the moment it came (stopped).
	held, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.fake.handle(routeInspect, func(w http.ResponseWriter, r *http.Request) {
		c, _ := h.fake.lookup(r.PathValue("id"))
		once.Do(func() { close(held) })
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		writeJSON(w, http.StatusOK, inspectResponse(c))
	})
	h.fake.stop(a)
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the tailer did not inspect the stopped container")
	}
	h.fake.start(a)
	h.fake.barrier(t) // the engine has seen the start event
	h.fake.handle(routeInspect, nil)
	close(gate)

	eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 && h.fake.count("logs:"+a) >= 2 })
	for i := range 3 {
		h.fake.log(a, 2, fmt.Sprintf("run2-%d", i))
		want = append(want, fmt.Sprintf("stderr:run2-%d", i))
	}
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
	if e := h.errorCounts(); len(e) > 0 {
		t.Errorf("errors counted: %v", e)
	}
}

// With a 64K buffer and no Collect, the buffer fills to its limit and stays
// there; then regular Collects get every line, each handover within the
// limit. With a short rotate_interval the tailer's wait for room ends at
// every deadline, holding a line that was read but not taken, in the middle
// of long lines whose chunks other lines come between.
func TestBackpressure(t *testing.T) {
	const limit = 64 << 10
	for _, rotate := range []string{"5m", "200ms"} {
		t.Run("rotate_interval="+rotate, func(t *testing.T) {
			h := newHarness(t, map[string]string{
				"buffer_max_size": "64K", "read_from_head": "on", "rotate_interval": rotate,
			})
			a := cid(1)
			h.fake.create(a, "alpha", false)
			h.fake.start(a)
			var want []string
			pad := strings.Repeat("p", 400)
			for i := range 1000 {
				text := fmt.Sprintf("%04d %s", i, pad)
				if i%100 == 95 { // 40 KiB on stdout in three chunks, stderr lines between
					ts := h.fake.nextTS(a)
					long := strings.Repeat(fmt.Sprint(i%10), 40<<10)
					for j, k := 0, 0; j < len(long); j, k = j+logstream.ChunkSize, k+1 {
						end := min(j+logstream.ChunkSize, len(long))
						h.fake.logAt(a, fakeEntry{ts: ts, stream: 1, text: long[j:end], partial: end < len(long)})
						if end < len(long) {
							text := fmt.Sprintf("%04d-%d between chunks", i, k)
							h.fake.log(a, 2, text)
							want = append(want, "stderr:"+text)
						}
					}
					want = append(want, "stdout:"+long)
					continue
				}
				h.fake.log(a, 1+i%2, text)
				want = append(want, streamName(1+i%2)+":"+text)
			}
			h.e.start()
			// The records before the first 40 KiB line fit, that one does
			// not: the buffer fills to their size, then stops.
			enc := record.NewEncoder(record.Container{ID: a, Name: "alpha", Image: "img-alpha"}, record.Fields{})
			full := 0.0
			for _, w := range want {
				stream, text, _ := strings.Cut(w, ":")
				if len(text) > logstream.ChunkSize {
					break
				}
				full += float64(len(enc.Append(nil, 0, stream, []byte(text), false, nil)))
			}
			eventually(t, 5*time.Second, func() bool { return value(h.m.BufferBytes) == full })
			for range 40 { // the tailer waits: the buffer neither grows nor moves
				if got := value(h.m.BufferBytes); got != full || got > limit {
					t.Fatalf("buffer at %v bytes, was %v, limit %d", got, full, limit)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if value(h.m.StreamsActive) != 1 {
				t.Fatal("the tailer ended")
			}
			eventually(t, 10*time.Second, func() bool {
				h.collect(limit)
				if got := value(h.m.BufferBytes); got > limit {
					t.Errorf("buffer at %v bytes", got)
				}
				return len(h.lines(a)) >= len(want)
			})
			h.finish()
			compareLines(t, "alpha", h.lines(a), want)
		})
	}
}

// Pause: no new records while paused, and the stream is not reopened;
// everything arrives after Resume.
func TestPauseResume(t *testing.T) {
	h := newHarness(t, map[string]string{"rotate_interval": "200ms"})
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.start(a)
	var want []string
	logA := func(n int) {
		for range n {
			text := fmt.Sprintf("line-%d", len(want))
			h.fake.log(a, 1, text)
			want = append(want, "stdout:"+text)
		}
	}
	logA(5)
	h.expectLines(a, want, 5*time.Second)

	h.e.Pause()
	if value(h.m.Paused) != 1 {
		t.Error("paused gauge not set")
	}
	h.collect(0) // what went in before Pause
	before := len(h.lines(a))
	requests := h.fake.count("logs:" + a)
	logA(10)
	for range 60 { // three rotation intervals
		if h.collect(0) > 0 {
			t.Fatalf("records handed over while paused: %q", h.lines(a)[before:])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.fake.count("logs:" + a); n > requests+1 {
		t.Errorf("%d logs requests while paused, from %d", n, requests)
	}
	h.e.Unpause()
	if value(h.m.Paused) != 0 {
		t.Error("paused gauge still set")
	}
	logA(5)
	h.expectLines(a, want, 5*time.Second)
	h.finish()
	compareLines(t, "alpha", h.lines(a), want)
}

// Stop with 50 idle follow streams returns within 2 s, twice.
func TestStopManyIdleStreams(t *testing.T) {
	const n = 50
	h := newHarness(t, map[string]string{"read_from_head": "on"})
	for i := range n {
		id := cid(i + 1)
		h.fake.create(id, fmt.Sprintf("c%d", i), false)
		h.fake.start(id)
	}
	h.e.start()
	eventually(t, 10*time.Second, func() bool {
		return h.fake.followStreams() == n && value(h.m.StreamsActive) == n
	})
	start := time.Now()
	h.e.Stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	h.e.Stop()
	if value(h.m.StreamsActive) != 0 || value(h.m.Watched) != 0 {
		t.Errorf("after Stop: %v streams, %v watched", value(h.m.StreamsActive), value(h.m.Watched))
	}
	eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 0 })
}

// A daemon that does not answer at Start: the engine retries, reports it
// down, and captures once it answers.
func TestDaemonUnreachableAtStart(t *testing.T) {
	for _, tc := range []string{"not listening", "ping fails"} {
		t.Run(tc, func(t *testing.T) {
			f := newFakeDocker()
			var addr string
			if tc == "not listening" {
				addr = f.srv.Listener.Addr().String()
			} else {
				f.srv.Start()
				f.handle(routePing, func(w http.ResponseWriter, r *http.Request) {
					writeError(w, http.StatusInternalServerError, "daemon starting")
				})
			}
			h := newHarnessFor(t, f, map[string]string{"read_from_head": "on"})
			if tc == "not listening" {
				f.srv.Listener.Close()
			}
			a := cid(1)
			f.create(a, "alpha", false)
			f.start(a)
			f.log(a, 1, "a-0")
			h.e.start()
			eventually(t, 5*time.Second, func() bool {
				return h.logs.count("Docker daemon unreachable; retrying with backoff") == 1
			})
			if tc == "ping fails" {
				eventually(t, 5*time.Second, func() bool { return f.count(routePing) >= 3 })
			}
			if value(h.m.DockerUp) != 0 {
				t.Error("docker_up is not 0")
			}
			if ok, _ := h.e.Health(); ok {
				t.Error("healthy while the daemon is unreachable")
			}
			if tc == "not listening" {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("listen again on %s: %v", addr, err)
				}
				f.srv.Listener = l
				f.srv.Start()
			} else {
				f.handle(routePing, nil)
			}
			f.log(a, 1, "a-1")
			h.expectLines(a, []string{"stdout:a-0", "stdout:a-1"}, 10*time.Second)
			eventually(t, 5*time.Second, func() bool { return value(h.m.DockerUp) == 1 })
			if ok, _ := h.e.Health(); !ok {
				t.Error("unhealthy once the daemon answers")
			}
			h.finish()
			if n := h.logs.count("Docker daemon unreachable; retrying with backoff"); n != 1 {
				t.Errorf("unreachable logged %d times", n)
			}
			if n := h.logs.count("Docker daemon reachable again"); n != 1 {
				t.Errorf("reachable again logged %d times", n)
			}
		})
	}
}

// lateSink notes whether a record came marked as read late.
type lateSink struct {
	stream.Sink
	late atomic.Bool
}

func (s *lateSink) Add(ctx context.Context, rec []byte, st logstream.Stream, n int,
	slot *resume.Pending, pos resume.Position, backlogAt time.Time) error {
	if !backlogAt.IsZero() {
		s.late.Store(true)
	}
	return s.Sink.Add(ctx, rec, st, n, slot, pos, backlogAt)
}

// TestBacklogLinesMarked: lines read well after their timestamps mark the
// buffer as reading a backlog, which holds a collect (HoldForBacklog); live
// lines do not, also when the daemon's clock is not this host's.
func TestBacklogLinesMarked(t *testing.T) {
	for _, tt := range []struct {
		name        string
		age         time.Duration // by the daemon's clock
		clockBehind time.Duration // the daemon's clock behind this host's
		backlog     bool
	}{
		{"live", 0, 0, false},
		{"an hour old", time.Hour, 0, true},
		{"live, the daemon's clock 10 s behind", 0, 10 * time.Second, false},
		{"an hour old, the daemon's clock 10 s behind", time.Hour, 10 * time.Second, true},
		{"3 s old, the daemon's clock 10 s ahead", 3 * time.Second, -10 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDockerBehind(tt.clockBehind)
			h := newHarnessFor(t, f, map[string]string{"read_from_head": "on"})
			id := cid(1)
			h.fake.create(id, "app", false)
			h.fake.start(id)
			sink := &lateSink{Sink: h.e.sink}
			h.e.sink = sink
			h.e.start()
			h.ready()
			eventually(t, 5*time.Second, func() bool { return h.fake.followStreams() == 1 })
			var want []string
			for i := range 5 {
				text := fmt.Sprintf("line %d", i)
				h.fake.logAt(id, fakeEntry{ts: f.daemonNow().Add(-tt.age).Add(time.Duration(i) * time.Microsecond), stream: 1, text: text})
				want = append(want, "stdout:"+text)
			}
			h.expectLines(id, want, 5*time.Second)
			if marked := sink.late.Load(); marked != tt.backlog {
				t.Errorf("backlog marked %v, want %v", marked, tt.backlog)
			}
			// A skew of seconds is worth one warning, with the amount.
			wantWarn := 0
			if tt.clockBehind != 0 {
				wantWarn = 1
			}
			if n := h.logs.count("the Docker daemon's clock differs from this host's: record times are the daemon's"); n != wantWarn {
				t.Errorf("%d warnings of a %v skew, want %d", n, tt.clockBehind, wantWarn)
			}
			h.finish()
		})
	}
}

// TestEngineNamed: the input logs which engine serves the API, and warns
// once that Podman's logs API is not exact when it reads only that.
func TestEngineNamed(t *testing.T) {
	for _, tt := range []struct {
		component, source string
		wantEngine        string
		wantWarn          int
	}{
		{"Engine", "api", "Docker Engine", 0},
		{"Podman Engine", "api", "Podman Engine", 1},
		{"Podman Engine", "auto", "Podman Engine", 1}, // tcp://: auto reads the API alone
	} {
		t.Run(tt.wantEngine+" "+tt.source, func(t *testing.T) {
			f := newFakeDocker()
			f.engine = tt.component
			f.srv.Start()
			h := newHarnessFor(t, f, map[string]string{"source": tt.source})
			h.e.start()
			h.ready()
			if n := h.logs.count("daemon's engine", "engine", tt.wantEngine); n != 1 {
				t.Errorf("%d logs of engine %q, want 1", n, tt.wantEngine)
			}
			if n := h.logs.count("Podman's logs API stamps whole seconds and can skip a line where a stream's backlog meets its live lines: on Podman's host, source file or auto reads its log files exactly"); n != tt.wantWarn {
				t.Errorf("%d Podman warnings, want %d", n, tt.wantWarn)
			}
			h.finish()
		})
	}
}

// A container is inspected at its create event: at its start the daemon
// holds it while it starts it and while a short run ends, and an inspect
// then waits. Its lines come with the inspect made before, even while
// inspects hang; when its start event is missed, a list starts its follow.
func TestInspectedAtCreate(t *testing.T) {
	for _, startSeen := range []bool{true, false} {
		t.Run(fmt.Sprintf("start event seen %v", startSeen), func(t *testing.T) {
			h := newHarness(t, map[string]string{"resync_interval": "100ms"})
			h.e.start()
			h.ready()
			a := cid(1)
			h.fake.create(a, "alpha", false)
			eventually(t, 5*time.Second, func() bool { return h.fake.count("inspect:"+a) == 1 })
			if startSeen {
				hung := make(chan struct{})
				defer close(hung) // before finish: the fake's Close waits for handlers
				h.fake.handle(routeInspect, func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-hung:
					case <-r.Context().Done():
					}
				})
			} else {
				h.eventsDown()
			}
			h.fake.start(a)
			h.fake.log(a, 1, "first")
			h.fake.log(a, 2, "second")
			if !startSeen {
				h.fake.handle(routeEvents, nil)
			}
			h.expectLines(a, []string{"stdout:first", "stderr:second"}, 5*time.Second)
			if n := h.fake.count("inspect:" + a); startSeen && n != 1 {
				t.Errorf("inspected %d times before the first lines, want 1", n)
			}
			h.fake.handle(routeInspect, nil)
			h.fake.stop(a)
			eventually(t, 5*time.Second, func() bool { return value(h.m.Watched) == 0 })
			h.finish()
			compareLines(t, "alpha", h.lines(a), []string{"stdout:first", "stderr:second"})
		})
	}
}

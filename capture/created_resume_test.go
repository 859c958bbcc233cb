package capture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"docker_logs/capture/metrics"
)

// A container created but not started when the input stops, and started
// after it restarts with a checkpoint, is read: whether the first run saw
// its create event (its tailer waits for the start) or it was created
// before that run (it may have run while the input was down).
func TestCreatedBeforeRestartReadAtStart(t *testing.T) {
	for _, c := range []struct {
		name          string
		createdBefore bool // created before the first run started
		startMissed   bool // its start event comes while events are down
	}{
		{"created during the first run", false, false},
		{"created before the first run", true, false},
		{"created during the first run, start event missed", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "positions.db")
			f := newFakeDocker()
			f.srv.Start()
			a, b := cid(1), cid(2)
			f.create(a, "alpha", false)
			f.start(a)
			if c.createdBefore {
				f.create(b, "beta", false)
			}
			h1 := newHarnessFor(t, f, map[string]string{"db": db})
			h1.e.start()
			h1.ready()
			eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
			f.log(a, 1, "a1")
			h1.expectLines(a, []string{"stdout:a1"}, 5*time.Second)
			if !c.createdBefore {
				f.create(b, "beta", false)
				eventually(t, 5*time.Second, func() bool { return f.count("inspect:"+b) >= 1 })
			}
			h1.finish()

			inspected := f.count("inspect:" + b)
			h2 := newHarnessFor(t, f, map[string]string{"db": db})
			h2.e.start()
			h2.ready()
			eventually(t, 5*time.Second, func() bool { return f.count("inspect:"+b) > inspected })
			if c.startMissed {
				h2.eventsDown()
			}
			f.start(b)
			f.log(b, 1, "b1")
			if c.startMissed {
				f.handle(routeEvents, nil) // the list after the reconnect shows it running
			}
			h2.expectLines(b, []string{"stdout:b1"}, 5*time.Second)
			h2.finish()
			compareLines(t, "beta", h2.lines(b), []string{"stdout:b1"})
		})
	}
}

// A container created and removed while the events stream is down, never
// started: its tailer, waiting for the start, ends at the next list.
func TestCreatedThenRemovedUnseenEnds(t *testing.T) {
	h := newHarness(t, map[string]string{"resync_interval": "100ms"})
	h.e.start()
	h.ready()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	eventually(t, 5*time.Second, func() bool { return h.fake.count("inspect:"+a) == 1 })
	h.eventsDown()
	h.fake.remove(a)
	h.fake.handle(routeEvents, nil)
	eventually(t, 5*time.Second, func() bool { return value(h.m.Watched) == 0 })
	h.finish()
	if n := h.logs.count("log stream failed; retrying with backoff"); n != 0 || h.errors(metrics.ReasonNotFound) != 0 {
		t.Errorf("a container removed before its start: %d failure logs, %v not_found errors; want it to end quietly",
			n, h.errors(metrics.ReasonNotFound))
	}
}

// A container listed after a start that failed (dead, never run), while
// the events stream is down: its tailer waits for a start; when it does
// start, still unseen by events, the next list wakes the tailer.
func TestFailedStartThenStartedUnseenRead(t *testing.T) {
	h := newHarness(t, map[string]string{"resync_interval": "100ms"})
	h.e.start()
	h.ready()
	h.eventsDown()
	a := cid(1)
	h.fake.create(a, "alpha", false)
	h.fake.failStart(a, container.StateDead)
	eventually(t, 5*time.Second, func() bool { return h.fake.count("inspect:"+a) >= 1 })
	h.fake.start(a)
	h.fake.log(a, 1, "a1")
	h.expectLines(a, []string{"stdout:a1"}, 5*time.Second)
	h.fake.handle(routeEvents, nil)
	h.finish()
}

// A removed container is forgotten at its event, whether the daemon calls
// it destroy (Docker) or remove (Podman): its checkpoint entry goes before
// any list.
func TestRemovedContainerForgotten(t *testing.T) {
	for _, action := range []events.Action{events.ActionDestroy, events.ActionRemove} {
		t.Run(string(action), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "positions.db")
			h := newHarness(t, map[string]string{"db": db, "db.flush_interval": "100ms", "resync_interval": "1h"})
			h.e.start()
			h.ready()
			a := cid(1)
			h.following(a, "alpha", "a1")
			saved := func() bool { b, _ := os.ReadFile(db); return strings.Contains(string(b), a) }
			eventually(t, 5*time.Second, saved)
			h.fake.stop(a)
			h.fake.removeAs(a, action)
			eventually(t, 5*time.Second, func() bool { return !saved() })
			h.finish()
		})
	}
}

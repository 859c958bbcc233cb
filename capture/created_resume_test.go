package capture

import (
	"path/filepath"
	"testing"
	"time"
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
}

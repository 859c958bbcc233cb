package capture

import (
	"path/filepath"
	"testing"
	"time"
)

// A container created (never started) before a restart with a checkpoint:
// started after the restart, its lines must be read.
func TestCreatedBeforeReloadReadAtStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	a, b := cid(1), cid(2)
	f.create(a, "alpha", false)
	f.start(a)
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	f.log(a, 1, "a1")
	h1.expectLines(a, []string{"stdout:a1"}, 5*time.Second)
	f.create(b, "beta", false) // seen by h1 at its create event
	time.Sleep(300 * time.Millisecond)
	h1.finish()

	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.ready()
	time.Sleep(300 * time.Millisecond)
	f.start(b)
	f.log(b, 1, "b1")
	h2.expectLines(b, []string{"stdout:b1"}, 5*time.Second)
	h2.finish()
}

// Created before the first run (never seen by a create event), started
// after a restart with a checkpoint.
func TestCreatedBeforeFirstRunReadAtStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "positions.db")
	f := newFakeDocker()
	f.srv.Start()
	a, b := cid(1), cid(2)
	f.create(a, "alpha", false)
	f.start(a)
	f.create(b, "beta", false)
	h1 := newHarnessFor(t, f, map[string]string{"db": db})
	h1.e.start()
	h1.ready()
	eventually(t, 5*time.Second, func() bool { return f.followStreams() == 1 })
	f.log(a, 1, "a1")
	h1.expectLines(a, []string{"stdout:a1"}, 5*time.Second)
	h1.finish()

	h2 := newHarnessFor(t, f, map[string]string{"db": db})
	h2.e.start()
	h2.ready()
	time.Sleep(300 * time.Millisecond)
	f.start(b)
	f.log(b, 1, "b1")
	h2.expectLines(b, []string{"stdout:b1"}, 5*time.Second)
	h2.finish()
}

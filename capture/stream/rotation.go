package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// rotation ends a stream at rotate_interval, or later: once it has reached
// its position, and once it is no longer reading a backlog. The stream's
// hard limit (Settings.CatchUp) bounds both.
type rotation struct {
	state   atomic.Int32 // rotationRunning, rotationReached or rotationDue
	cancel  context.CancelCauseFunc
	backlog func() bool // the stream is reading entries well behind now, and getting on

	mu      sync.Mutex // orders the timer's rescheduling with stop
	timer   *time.Timer
	stopped bool
}

const (
	rotationRunning int32 = iota
	rotationReached
	rotationDue
)

func startRotation(after time.Duration, cancel context.CancelCauseFunc, backlog func() bool) *rotation {
	r := &rotation{cancel: cancel, backlog: backlog}
	r.timer = time.AfterFunc(after, func() {
		if !r.state.CompareAndSwap(rotationRunning, rotationDue) {
			r.end() // reached already
		}
	})
	return r
}

// reached is called once, when the stream has reached its position.
func (r *rotation) reached() {
	if !r.state.CompareAndSwap(rotationRunning, rotationReached) {
		r.end() // due already
	}
}

// end rotates the stream now, unless it is reading a backlog: then it
// looks again a little later.
func (r *rotation) end() {
	if !r.backlog() {
		r.cancel(errRotated)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.timer.Reset(recheck) // runs the AfterFunc again: reached, so end
	}
}

func (r *rotation) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.timer.Stop()
}

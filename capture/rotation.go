package capture

import (
	"context"
	"sync/atomic"
	"time"
)

// catchUpLimit is how long a stream that has not reached its position may
// run before it is cut and counted: the daemon may take long to scan a large
// log with since alone, and cutting it at rotate_interval would start that
// scan again and again.
func catchUpLimit(rotate time.Duration) time.Duration { return max(10*rotate, rotate+time.Minute) }

// rotation ends a stream at rotate_interval once the stream has reached its
// position, whichever of the two comes last.
type rotation struct {
	state  atomic.Int32 // rotationRunning, rotationReached or rotationDue
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

const (
	rotationRunning int32 = iota
	rotationReached
	rotationDue
)

func startRotation(after time.Duration, cancel context.CancelCauseFunc) *rotation {
	r := &rotation{cancel: cancel}
	r.timer = time.AfterFunc(after, func() {
		if !r.state.CompareAndSwap(rotationRunning, rotationDue) {
			r.cancel(errRotated) // reached already
		}
	})
	return r
}

// reached is called once, when the stream has reached its position.
func (r *rotation) reached() {
	if !r.state.CompareAndSwap(rotationRunning, rotationReached) {
		r.cancel(errRotated) // due already
	}
}

func (r *rotation) stop() { r.timer.Stop() }

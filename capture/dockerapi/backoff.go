package dockerapi

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential delay with jitter, between retries of
// requests to the daemon.
type Backoff struct {
	min, max, cur time.Duration
}

func NewBackoff(min, max time.Duration) Backoff { return Backoff{min: min, max: max} }

// Reset starts the delays again from the shortest.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for the next delay, or less if ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

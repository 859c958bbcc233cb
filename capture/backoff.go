package capture

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential delay with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) backoff { return backoff{min: min, max: max} }

func (b *backoff) reset() { b.cur = 0 }

// wait sleeps for the next delay, or less if ctx ends first.
func (b *backoff) wait(ctx context.Context) error {
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

package handover

import (
	"context"
	"time"
)

// Holding a collect while a backlog is read. Fluent Bit collects once a
// second; at the end of a backlog, the lines read after the last collect
// would wait for the next one. A collect that finds a backlog still being
// read waits until no backlog line has come for backlogQuiet, or the block
// is full, at most backlogHold, so the end of a backlog is handed over when
// it is read. Live lines never hold a collect. The hold stays below the
// collect interval, and it delays that instance's pause, resume and exit in
// Fluent Bit by as much.
// Which lines belong to a backlog is the stream's rule (Add's backlogAt).
const (
	backlogQuiet = 50 * time.Millisecond
	backlogHold  = 800 * time.Millisecond
)

// awaitBacklog returns once no backlog line was added for quiet or a record
// waits for room, after at most hold, or when ctx ends.
func (b *Buffer) awaitBacklog(ctx context.Context, quiet, hold time.Duration) {
	deadline := time.Now().Add(hold)
	for {
		b.mu.Lock()
		at, full := b.backlogAt, b.full
		if b.onFull == nil {
			b.onFull = make(chan struct{})
		}
		onFull := b.onFull
		b.mu.Unlock()
		wait := min(quiet-time.Since(at), time.Until(deadline))
		if wait <= 0 || full {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-onFull:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// HoldForBacklog is called before Take at a collect: while streams are
// reading a backlog it waits, at most backlogHold, until they stop, so
// that the end of the backlog is handed over now instead of a collect
// later. It returns at once when no backlog is being read.
func (b *Buffer) HoldForBacklog(ctx context.Context) { b.awaitBacklog(ctx, backlogQuiet, backlogHold) }

package capture

import (
	"cmp"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// countingMemory is the Go heap, counting blocks out and back.
type countingMemory struct {
	goMemory
	allocs, grows, frees int
}

func (m *countingMemory) Alloc(n int) []byte { m.allocs++; return m.goMemory.Alloc(n) }
func (m *countingMemory) Grow(b []byte, n int) []byte {
	m.grows++
	return m.goMemory.Grow(b, n)
}
func (m *countingMemory) Free(b []byte) { m.frees++ }

func newTestBuffer(t *testing.T, limit int) (*buffer, *countingMemory) {
	mem := &countingMemory{}
	return newBufferIn(limit, metrics.NewInput("buffer_test_"+t.Name(), true), mem), mem
}

// fill adds records of size bytes until total bytes went in or the buffer
// is full (then it reports false).
func fill(t *testing.T, b *buffer, size, total int) bool {
	t.Helper()
	rec := make([]byte, size)
	slot := &pendingPosition{id: "c"}
	for n := 0; n < total; n += size {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := b.add(ctx, rec, logstream.Stdout, size, slot, Position{}, time.Time{})
		cancel()
		if err != nil {
			return false
		}
	}
	return true
}

// TestBufferSizedToDemand: the block grows while records come faster than
// collects take them, never past the limit, and shrinks when idle.
func TestBufferSizedToDemand(t *testing.T) {
	const limit = 4 << 20
	tests := []struct {
		name     string
		perTick  []int // bytes added before each collect
		wantSize int   // size of the next block after the last collect
		wantFull bool  // the last tick's records did not all fit
	}{
		{"idle stays small", []int{0, 0, 1000}, minBlock, false},
		{"a quarter keeps the size", []int{minBlock / 3}, minBlock, false},
		{"over half doubles", []int{minBlock * 3 / 4}, 2 * minBlock, false},
		{"a burst grows within the tick", []int{3 << 20}, limit, false},
		{"the limit holds", []int{8 << 20}, limit, true},
		{"shrinks after the burst", []int{3 << 20, 0, 0, 0}, limit / 8, false},
		{"never below minBlock", []int{0, 0, 0, 0, 0, 0, 0, 0}, minBlock, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, mem := newTestBuffer(t, limit)
			full := false
			for _, n := range tt.perTick {
				full = !fill(t, b, 1000, n)
				if d := b.take(); d != nil {
					if len(d) > limit {
						t.Fatalf("handed over %d bytes, limit %d", len(d), limit)
					}
					mem.Free(d)
				}
			}
			if b.size != tt.wantSize {
				t.Errorf("next block %d, want %d", b.size, tt.wantSize)
			}
			if full != tt.wantFull {
				t.Errorf("full %v, want %v", full, tt.wantFull)
			}
		})
	}
}

// TestBufferOversizedRecord: a record larger than the limit passes alone, in
// a block of its own size, and the next block is no larger than the limit.
func TestBufferOversizedRecord(t *testing.T) {
	const limit = 64 << 10
	b, mem := newTestBuffer(t, limit)
	if !fill(t, b, 100, 100) {
		t.Fatal("small records did not fit")
	}
	if fill(t, b, 3*limit, 3*limit) {
		t.Fatal("an oversized record went in beside others")
	}
	d := b.take()
	mem.Free(d)
	if !fill(t, b, 3*limit, 3*limit) {
		t.Fatal("an oversized record did not go in alone")
	}
	if fill(t, b, 100, 100) {
		t.Fatal("a record went in after the oversized one")
	}
	d = b.take()
	if len(d) != 3*limit {
		t.Fatalf("handed over %d bytes, want %d", len(d), 3*limit)
	}
	mem.Free(d)
	if b.size > limit {
		t.Fatalf("next block %d, above the limit %d", b.size, limit)
	}
}

// TestBufferTakeHandsOverOwnership: take returns the block records were
// encoded into (no copy) and starts a new one; collect gives it back.
func TestBufferTakeHandsOverOwnership(t *testing.T) {
	b, mem := newTestBuffer(t, 1<<20)
	if b.take() != nil {
		t.Fatal("take of an empty buffer returned a block")
	}
	fill(t, b, 100, 1000)
	block := b.blk.data
	d := b.take()
	if &d[0] != &block[0] || len(d) != 1000 {
		t.Fatal("take did not hand over the block records were encoded into")
	}
	if b.blk.data != nil {
		t.Fatal("the buffer kept the block it handed over")
	}
	fill(t, b, 100, 1000)
	b.collect(func(p []byte) {
		if len(p) != 1000 {
			t.Errorf("collect handed %d bytes", len(p))
		}
	})
	if mem.frees != 1 || mem.allocs != 2 {
		t.Fatalf("allocs %d frees %d, want 2 and 1 (the taken block is the caller's)", mem.allocs, mem.frees)
	}
}

// TestAwaitBacklog: a collect waits while backlog lines keep coming, and
// only then; the hold and the engine's end bound the wait.
func TestAwaitBacklog(t *testing.T) {
	tests := []struct {
		name    string
		backlog bool          // the producer's lines are a backlog
		hold    time.Duration // the longest wait
		stopAt  int           // the producer stops after this many lines (0: runs until the wait ends)
		cancel  bool          // the engine stops while it waits
		limit   int           // buffer_max_size (0: 64 MiB)
		quiet   time.Duration // how long without backlog lines ends it (0: 300ms)
		// waitsForProducer: the wait must outlast the producer's lines.
		waitsForProducer bool
	}{
		{name: "nothing read", hold: time.Minute},
		{name: "live lines do not hold", hold: time.Minute, stopAt: 0},
		{name: "waits for the end of a backlog", backlog: true, hold: time.Minute, stopAt: 200, waitsForProducer: true},
		{name: "the hold bounds it", backlog: true, hold: 200 * time.Millisecond},
		{name: "the engine's end bounds it", backlog: true, hold: time.Minute, cancel: true},
		{name: "a full block ends it", backlog: true, hold: time.Minute, limit: 4096, quiet: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBuffer(t, cmp.Or(tt.limit, 64<<20))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			produced := make(chan int) // closed when the producer stops; then holds nothing
			stop := make(chan struct{})
			var added atomic.Int64
			if tt.name != "nothing read" {
				go func() {
					defer close(produced)
					slot := &pendingPosition{id: "c"}
					for i := 1; tt.stopAt == 0 || i <= tt.stopAt; i++ {
						var at time.Time
						if tt.backlog {
							at = time.Now()
						}
						if err := b.add(ctx, []byte("record"), logstream.Stdout, 6, slot, Position{}, at); err != nil {
							return
						}
						added.Add(1)
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				// The wait starts once lines are coming.
				eventually(t, 5*time.Second, func() bool { return added.Load() > 0 })
			} else {
				close(produced)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				b.awaitBacklog(ctx, cmp.Or(tt.quiet, 300*time.Millisecond), tt.hold)
			}()
			if tt.cancel {
				cancel()
			}
			if tt.waitsForProducer {
				select {
				case <-done:
					t.Fatalf("the wait ended after %d of %d backlog lines", added.Load(), tt.stopAt)
				case <-produced:
				}
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the wait did not end")
			}
			close(stop)
			cancel() // a producer waiting for room
			<-produced
			if tt.waitsForProducer {
				if got := len(b.take()) / len("record"); got != tt.stopAt {
					t.Errorf("the collect after the wait took %d lines, want all %d", got, tt.stopAt)
				}
			}
		})
	}
}

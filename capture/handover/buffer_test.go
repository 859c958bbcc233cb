package handover

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"docker_logs/capture/ledger"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
)

// countingMemory is the Go heap, counting blocks out and back.
type countingMemory struct {
	GoHeap
	allocs, grows, frees int
}

func (m *countingMemory) Alloc(n int) []byte { m.allocs++; return m.GoHeap.Alloc(n) }
func (m *countingMemory) Grow(b []byte, n int) []byte {
	m.grows++
	return m.GoHeap.Grow(b, n)
}
func (m *countingMemory) Free(b []byte) { m.frees++ }

func newTestBuffer(t *testing.T, limit int) (*Buffer, *countingMemory) {
	mem := &countingMemory{}
	m := metrics.NewInput("buffer_test_"+t.Name(), true)
	t.Cleanup(m.Close)
	return New(limit, mem, ledger.Open("", time.Second, m, slog.New(slog.DiscardHandler)), m), mem
}

// fill adds records of size bytes until total bytes went in or the buffer
// is full (then it reports false).
func fill(t *testing.T, b *Buffer, size, total int) bool {
	t.Helper()
	rec := make([]byte, size)
	slot := &resume.Pending{ID: "c"}
	for n := 0; n < total; n += size {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := b.Add(ctx, rec, logstream.Stdout, size, slot, resume.Position{}, time.Time{})
		cancel()
		if err != nil {
			return false
		}
	}
	return true
}

// TestBufferSizedToDemand: a hand-over is at most twice the last one (at
// least minBlock), never past the limit; the block follows the demand and
// shrinks when idle.
func TestBufferSizedToDemand(t *testing.T) {
	const limit = 4 << 20
	tests := []struct {
		name      string
		perTick   []int // bytes offered before each collect (1000-byte records)
		wantTakes []int // bytes handed over at each collect
		wantSize  int   // size of the next block after the last collect
		wantFull  bool  // the last tick's records did not all fit
	}{
		{"idle stays small", []int{0, 0, 1000}, []int{0, 0, 1000}, minBlock, false},
		{"a quarter keeps the size", []int{minBlock / 3}, []int{88000}, minBlock, false},
		{"over half doubles, within twice the hand-over", []int{minBlock * 3 / 4}, []int{197000}, 2 * 197000, false},
		{"a burst is handed over in doubling steps", []int{3 << 20, 3 << 20, 3 << 20, 3 << 20, 3 << 20},
			[]int{262000, 524000, 1048000, 2096000, 3146000}, limit, false},
		{"the limit holds", []int{8 << 20, 8 << 20, 8 << 20, 8 << 20, 8 << 20, 8 << 20},
			[]int{262000, 524000, 1048000, 2096000, 4192000, 4194000}, limit, true},
		{"shrinks after the burst", []int{3 << 20, 3 << 20, 3 << 20, 3 << 20, 3 << 20, 0, 0, 0, 0},
			[]int{262000, 524000, 1048000, 2096000, 3146000, 0, 0, 0, 0}, minBlock, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, mem := newTestBuffer(t, limit)
			full := false
			var takes []int
			for _, n := range tt.perTick {
				full = !fill(t, b, 1000, n)
				d := b.Take()
				takes = append(takes, len(d))
				if d != nil {
					mem.Free(d)
				}
			}
			if !slices.Equal(takes, tt.wantTakes) {
				t.Errorf("handed over %v, want %v", takes, tt.wantTakes)
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

// TestBufferPauseLowersTheCeiling: Fluent Bit pauses the input when a
// hand-over took it past its mem_buf_limit. From then on a hand-over is at
// most half of that one, until calmCollects collects without a pause double
// the ceiling back.
func TestBufferPauseLowersTheCeiling(t *testing.T) {
	b, mem := newTestBuffer(t, 64<<20)
	collect := func() int {
		fill(t, b, 1000, 64<<20)
		d := b.Take()
		mem.Free(d)
		return len(d)
	}
	for _, want := range []int{262000, 524000, 1048000, 2096000} {
		if got := collect(); got != want {
			t.Fatalf("ramp: handed over %d, want %d", got, want)
		}
	}
	b.SetPaused(true) // the 2 MB hand-over went past the limit
	b.SetPaused(false)
	for i := range calmCollects - 1 {
		if got := collect(); got != 1048000 {
			t.Fatalf("collect %d after the pause: handed over %d, want at most half the hand-over before it (1048000)", i, got)
		}
	}
	if got := collect(); got != 1048000 {
		t.Fatalf("the calm collect handed over %d, want 1048000", got)
	}
	if got := collect(); got != 2096000 {
		t.Fatalf("after %d calm collects: handed over %d, want the ceiling doubled back (2096000)", calmCollects, got)
	}
	b.SetPaused(true)
	b.SetPaused(false)
	if got := collect(); got != 1048000 {
		t.Fatalf("after a second pause: handed over %d, want 1048000", got)
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
	d := b.Take()
	mem.Free(d)
	if !fill(t, b, 3*limit, 3*limit) {
		t.Fatal("an oversized record did not go in alone")
	}
	if fill(t, b, 100, 100) {
		t.Fatal("a record went in after the oversized one")
	}
	d = b.Take()
	if len(d) != 3*limit {
		t.Fatalf("handed over %d bytes, want %d", len(d), 3*limit)
	}
	mem.Free(d)
	if b.size > limit {
		t.Fatalf("next block %d, above the limit %d", b.size, limit)
	}
}

// TestBufferTakeHandsOverOwnership: take returns the block records were
// encoded into (no copy) and starts a new one; the taker frees it.
func TestBufferTakeHandsOverOwnership(t *testing.T) {
	b, mem := newTestBuffer(t, 1<<20)
	if b.Take() != nil {
		t.Fatal("take of an empty buffer returned a block")
	}
	fill(t, b, 100, 1000)
	block := b.blk.data
	d := b.Take()
	if &d[0] != &block[0] || len(d) != 1000 {
		t.Fatal("take did not hand over the block records were encoded into")
	}
	if b.blk.data != nil {
		t.Fatal("the buffer kept the block it handed over")
	}
	if mem.frees != 0 || mem.allocs != 1 {
		t.Fatalf("allocs %d frees %d, want 1 and 0 (the taken block is the caller's)", mem.allocs, mem.frees)
	}
}

// TestAwaitBacklog: a collect waits while backlog lines keep coming, and
// only then; a full block, the hold and the engine's end bound the wait.
func TestAwaitBacklog(t *testing.T) {
	type producer int
	const (
		none producer = iota
		live
		backlog
	)
	tests := []struct {
		name     string
		lines    producer
		stopAt   int           // the producer stops after this many lines (0: when the wait ended)
		hold     time.Duration // the longest wait
		quiet    time.Duration // how long without backlog lines ends it (0: 300ms)
		limit    int           // buffer_max_size (0: 64 MiB)
		cancel   bool          // the engine stops while it waits
		outlasts bool          // the wait must outlast the producer's lines
		within   time.Duration // the wait must end within this (0: 10 s)
	}{
		{name: "nothing read", lines: none, hold: time.Minute},
		{name: "live lines do not hold", lines: live, hold: time.Minute},
		{name: "waits for the end of a backlog", lines: backlog, stopAt: 200, hold: time.Minute, outlasts: true},
		{name: "the hold bounds it", lines: backlog, hold: 300 * time.Millisecond, quiet: time.Minute, within: 2300 * time.Millisecond},
		{name: "the engine's end bounds it", lines: backlog, hold: time.Minute, quiet: time.Minute, cancel: true},
		{name: "a full block ends it", lines: backlog, hold: time.Minute, quiet: time.Minute, limit: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBuffer(t, cmp.Or(tt.limit, 64<<20))
			// The producer has its own context: the engine's ending must
			// end the wait by itself.
			pctx, stopProducer := context.WithCancel(context.Background())
			defer stopProducer()
			produced := make(chan struct{}) // closed when the producer stops
			started := make(chan struct{})  // closed at the first record
			var added atomic.Int64
			if tt.lines == none {
				close(produced)
			} else {
				go func() {
					defer close(produced)
					slot := &resume.Pending{ID: "c"}
					for i := 1; tt.stopAt == 0 || i <= tt.stopAt; i++ {
						var at time.Time
						if tt.lines == backlog {
							at = time.Now()
						}
						if err := b.Add(pctx, []byte("record"), logstream.Stdout, 6, slot, resume.Position{}, at); err != nil {
							return
						}
						if added.Add(1) == 1 {
							close(started)
						}
						select {
						case <-pctx.Done():
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				// The wait starts once lines are coming.
				select {
				case <-started:
				case <-time.After(5 * time.Second):
					t.Fatal("no record added within 5s")
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			start := time.Now()
			go func() {
				defer close(done)
				b.awaitBacklog(ctx, cmp.Or(tt.quiet, 300*time.Millisecond), tt.hold)
			}()
			if tt.cancel {
				cancel()
			}
			if tt.outlasts {
				select {
				case <-done:
					t.Fatalf("the wait ended after %d of %d backlog lines", added.Load(), tt.stopAt)
				case <-produced:
				}
			}
			within := cmp.Or(tt.within, 10*time.Second)
			select {
			case <-done:
			case <-time.After(within):
				t.Fatalf("the wait did not end within %v", within)
			}
			if tt.lines == backlog && tt.hold < time.Minute && time.Since(start) < tt.hold {
				t.Errorf("the wait ended after %v, before its hold of %v", time.Since(start), tt.hold)
			}
			stopProducer()
			<-produced
		})
	}
}

// TestAwaitBacklogAfterFullBlock: once the full block is taken, collects
// wait for a backlog again.
func TestAwaitBacklogAfterFullBlock(t *testing.T) {
	b, _ := newTestBuffer(t, 4096)
	slot := &resume.Pending{ID: "c"}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := b.Add(ctx, []byte("record"), logstream.Stdout, 6, slot, resume.Position{}, time.Now())
		cancel()
		if err != nil {
			break // full
		}
	}
	b.awaitBacklog(context.Background(), time.Minute, time.Minute) // returns at once: full
	b.Take()
	if err := b.Add(context.Background(), []byte("record"), logstream.Stdout, 6, slot, resume.Position{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	const hold = 200 * time.Millisecond
	start := time.Now()
	b.awaitBacklog(context.Background(), time.Minute, hold)
	if waited := time.Since(start); waited < hold {
		t.Errorf("after the full block was taken, a collect waited %v for a backlog, want its hold of %v", waited, hold)
	}
}

// Package handover owns the records on their way to Fluent Bit: the blocks
// they are encoded into, backpressure and pause, and the collect's hold.
package handover

import (
	"context"
	"runtime"
	"sync"
	"time"

	"docker_logs/capture/ledger"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
)

// minBlock is the smallest block a buffer allocates: an idle instance's
// collects stay this small.
const minBlock = 256 << 10

// Buffer holds the encoded records waiting for Fluent Bit's next collect, in
// one block that is handed over whole. It is bounded: a tailer that finds it
// full (limit bytes, buffer_max_size), or paused, waits for room (and stops
// reading, so the daemon keeps the lines) until its context ends.
//
// The block is sized to the demand: it starts at the size the previous
// collects needed, doubles (up to the grant) whenever it fills before a
// collect, and halves (down to minBlock) after collects that used less than
// a quarter of it. Fluent Bit collects once a second, so the block holds
// about a second of reading (up to 1.8 s when a collect waits for the end
// of a backlog).
//
// One hand-over is at most the grant: twice the last one (at least
// minBlock), and never more than the ceiling. Fluent Bit copies a
// hand-over into its chunks whole and checks the input's mem_buf_limit
// only after that, and the plugin cannot read the limit; growing by
// doubling keeps each hand-over within twice what Fluent Bit took without
// pausing the input. The ceiling is the limit (buffer_max_size) until
// Fluent Bit pauses the input: then it is half the hand-over before the
// pause (at least minBlock), and it doubles back after calmCollects
// collects without a pause.
type Buffer struct {
	limit   int
	metrics *metrics.Input
	mem     Memory
	ledger  *ledger.Ledger

	mu      sync.Mutex
	blk     *block
	size    int // capacity of the next block
	grant   int // the most the next collect hands over
	ceiling int // the most any collect hands over
	// lastTake is the size of the last hand-over; calm counts the
	// collects since the last pause.
	lastTake int
	calm     int
	paused   bool
	// running is closed while not paused.
	running chan struct{}
	// room is closed, and replaced, whenever waiting streams should look
	// again: after a collect or a resume.
	room chan struct{}
	// pending are the streams' positions of the records in the block,
	// delivered when it is handed over.
	pending []*resume.Pending
	records [logstream.TTY + 1]int
	bytes   [logstream.TTY + 1]int
	// backlogAt is when the last backlog line (see add) was read; it is
	// never cleared. full says a record found the block at its limit since
	// the last take; onFull, when not nil, is closed when full is set.
	backlogAt time.Time
	full      bool
	onFull    chan struct{}
}

// block is the memory records wait in. It is apart from the buffer so that
// a buffer dropped with records in it (an engine that stopped before a last
// collect) gives its block back to the Memory.
type block struct {
	mem  Memory
	data []byte // nil when none is allocated
}

// New returns a buffer of at most limit bytes (buffer_max_size) whose
// blocks come from mem; the positions of what it hands over go to led.
func New(limit int, mem Memory, led *ledger.Ledger, m *metrics.Input) *Buffer {
	m.BufferLimit.Set(float64(limit))
	running := make(chan struct{})
	close(running)
	b := &Buffer{
		limit: limit, metrics: m, mem: mem, ledger: led, room: make(chan struct{}), running: running,
		blk: &block{mem: mem}, size: min(minBlock, limit), grant: min(minBlock, limit), ceiling: limit,
	}
	runtime.AddCleanup(b, func(k *block) {
		if k.data != nil {
			k.mem.Free(k.data)
		}
	}, b.blk)
	return b
}

// makeRoom makes the block able to take n more bytes, allocating or
// growing it within the grant; false when the records must wait for a
// collect. A record larger than the whole grant gets a block of its own
// size when nothing else waits.
func (b *Buffer) makeRoom(n int) bool {
	d := b.blk.data
	used := len(d)
	if d != nil && used+n <= cap(d) {
		return true
	}
	if used+n > b.grant && used > 0 {
		return false
	}
	want := b.size
	for want < used+n && want < b.grant {
		want *= 2
	}
	want = max(min(want, b.grant), used+n)
	if d == nil {
		b.blk.data = b.mem.Alloc(want)
	} else {
		b.blk.data = b.mem.Grow(d, want)
	}
	b.size = min(max(b.size, want), b.grant)
	return true
}

// Add appends one record of a line of lineLen bytes; pos becomes the
// container's delivered position once the record is handed over. A record
// larger than the whole limit still goes in when the buffer is empty.
// backlogAt is when the line was read if it was read well after it was
// written (a backlog), else zero.
func (b *Buffer) Add(ctx context.Context, rec []byte, stream logstream.Stream, lineLen int,
	slot *resume.Pending, pos resume.Position, backlogAt time.Time) error {
	for {
		b.mu.Lock()
		if !b.paused && b.makeRoom(len(rec)) {
			b.blk.data = append(b.blk.data, rec...)
			if !backlogAt.IsZero() {
				b.backlogAt = backlogAt
			}
			b.records[stream]++
			b.bytes[stream] += lineLen
			slot.Pos = pos
			if !slot.Queued {
				slot.Queued = true
				b.pending = append(b.pending, slot)
			}
			b.metrics.BufferBytes.Set(float64(len(b.blk.data)))
			b.mu.Unlock()
			return nil
		}
		if !b.paused && !b.full {
			b.full = true
			if b.onFull != nil {
				close(b.onFull)
				b.onFull = nil
			}
		}
		wait := b.room
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Take hands over the block of buffered records, or nil when there is
// none, and makes their positions delivered. The caller owns the block:
// it gives it back to the buffer's Memory.
func (b *Buffer) Take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.blk.data
	if len(d) == 0 {
		b.resize(0)
		return nil
	}
	b.blk.data = nil
	b.full = false
	b.resize(len(d))
	b.ledger.Deliver(b.pending)
	b.pending = b.pending[:0]
	for s := range b.records {
		if b.records[s] > 0 {
			b.metrics.Records[s].Add(float64(b.records[s]))
			b.metrics.Bytes[s].Add(float64(b.bytes[s]))
			b.records[s], b.bytes[s] = 0, 0
		}
	}
	b.metrics.BufferBytes.Set(0)
	b.wake()
	return d
}

// resize sets the grant and sizes the next block after a collect that
// handed over used bytes: the block twice as large when more than half of
// it was used, half as large when less than a quarter was, within minBlock
// and the grant. An empty block that was allocated is given back when it is
// larger than the next size.
func (b *Buffer) resize(used int) {
	b.lastTake = used
	if b.calm++; b.calm >= calmCollects && b.ceiling < b.limit {
		b.ceiling, b.calm = min(2*b.ceiling, b.limit), 0
	}
	floor := min(minBlock, b.limit)
	b.grant = min(max(2*used, floor), b.ceiling)
	switch {
	case used > b.size/2:
		b.size = 2 * b.size
	case used < b.size/4:
		b.size = b.size / 2
	}
	b.size = min(max(b.size, floor), b.grant)
	if d := b.blk.data; d != nil && len(d) == 0 && cap(d) > b.size {
		b.mem.Free(d)
		b.blk.data = nil
	}
}

func (b *Buffer) wake() {
	close(b.room)
	b.room = make(chan struct{})
}

// calmCollects is how many collects without a pause double the ceiling
// back toward buffer_max_size.
const calmCollects = 30

// SetPaused stops streams from adding records (p true) or lets them go on:
// Fluent Bit pauses an input whose memory or storage limit is hit.
func (b *Buffer) SetPaused(p bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p == b.paused {
		return
	}
	if p {
		// Fluent Bit pauses an input when a hand-over took it past its
		// mem_buf_limit (or storage limit): hand over less from now on.
		b.ceiling = max(b.lastTake/2, min(minBlock, b.limit))
		b.grant, b.size = min(b.grant, b.ceiling), min(b.size, b.ceiling)
		b.calm = 0
	}
	b.paused = p
	if p {
		b.running = make(chan struct{})
		b.metrics.Paused.Set(1)
	} else {
		close(b.running)
		b.wake()
		b.metrics.Paused.Set(0)
	}
}

// WaitRunning returns when the buffer is not paused, or ctx ends.
func (b *Buffer) WaitRunning(ctx context.Context) error {
	b.mu.Lock()
	ch := b.running
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Forget drops a removed container's pending positions and its delivered
// one.
func (b *Buffer) Forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.pending[:0]
	for _, slot := range b.pending {
		if slot.ID == id {
			slot.Queued = false
		} else {
			kept = append(kept, slot)
		}
	}
	clear(b.pending[len(kept):])
	b.pending = kept
	b.ledger.Forget(id)
}

package capture

import (
	"context"
	"runtime"
	"sync"
	"time"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// Memory provides the blocks records are encoded into. A block taken from
// the buffer belongs to its taker, who gives it back to the same Memory's
// Free (the plugin: to Fluent Bit, whose cleanup callback frees it).
type Memory interface {
	// Alloc returns a block of len 0 and cap n.
	Alloc(n int) []byte
	// Grow returns a block of cap n holding b's bytes; b is gone.
	Grow(b []byte, n int) []byte
	Free(b []byte)
}

// goMemory is the Go heap: for the tests and any caller that copies.
type goMemory struct{}

func (goMemory) Alloc(n int) []byte { return make([]byte, 0, n) }
func (goMemory) Grow(b []byte, n int) []byte {
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}
func (goMemory) Free([]byte) {}

// blockMemory is what new buffers use: the plugin sets C memory (SetMemory)
// before any engine starts, so the records are encoded straight into the
// memory handed to Fluent Bit.
var blockMemory Memory = goMemory{}

// SetMemory makes engines created from now on encode into m.
func SetMemory(m Memory) { blockMemory = m }

// minBlock is the smallest block a buffer allocates: an idle instance's
// collects stay this small.
const minBlock = 256 << 10

// buffer holds the encoded records waiting for Fluent Bit's next collect, in
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
type buffer struct {
	limit   int
	metrics *metrics.Input
	mem     Memory

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
	// room is closed, and replaced, whenever waiting tailers should look
	// again: after a collect or a resume.
	room chan struct{}
	// touched are the tailers' positions of records in data, made
	// delivered when data is handed over.
	touched   []*pendingPosition
	delivered map[string]Position
	// dirtySince is when delivered first changed after the last
	// checkpoint write; zero when the checkpoint is current.
	dirtySince time.Time
	records    [logstream.TTY + 1]int
	bytes      [logstream.TTY + 1]int
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

func newBuffer(limit int, m *metrics.Input) *buffer {
	return newBufferIn(limit, m, blockMemory)
}

func newBufferIn(limit int, m *metrics.Input, mem Memory) *buffer {
	m.BufferLimit.Set(float64(limit))
	b := &buffer{
		limit: limit, metrics: m, mem: mem, room: make(chan struct{}),
		blk: &block{mem: mem}, size: min(minBlock, limit), grant: min(minBlock, limit), ceiling: limit,
		delivered: map[string]Position{},
	}
	runtime.AddCleanup(b, func(k *block) {
		if k.data != nil {
			k.mem.Free(k.data)
		}
	}, b.blk)
	return b
}

// pendingPosition is a tailer's newest position among the records waiting
// in the buffer. Each tailer owns one, so a record costs no map update; its
// fields are the buffer's, under its lock.
type pendingPosition struct {
	id     string
	pos    Position
	queued bool
}

// makeRoom makes the block able to take n more bytes, allocating or
// growing it within the grant; false when the records must wait for a
// collect. A record larger than the whole grant gets a block of its own
// size when nothing else waits.
func (b *buffer) makeRoom(n int) bool {
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

// add appends one record of a line of lineLen bytes; pos becomes the
// container's delivered position once the record is handed over. A record
// larger than the whole limit still goes in when the buffer is empty.
// backlogAt is when the line was read if it was read well after it was
// written (a backlog), else zero.
func (b *buffer) add(ctx context.Context, rec []byte, stream logstream.Stream, lineLen int,
	slot *pendingPosition, pos Position, backlogAt time.Time) error {
	for {
		b.mu.Lock()
		if !b.paused && b.makeRoom(len(rec)) {
			b.blk.data = append(b.blk.data, rec...)
			if !backlogAt.IsZero() {
				b.backlogAt = backlogAt
			}
			b.records[stream]++
			b.bytes[stream] += lineLen
			slot.pos = pos
			if !slot.queued {
				slot.queued = true
				b.touched = append(b.touched, slot)
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

// Holding a collect while a backlog is read. Fluent Bit collects once a
// second; at the end of a backlog, the lines read after the last collect
// would wait for the next one. A collect that finds a backlog still being
// read waits until no backlog line has come for backlogQuiet, or the block
// is full, at most backlogHold, so the end of a backlog is handed over when
// it is read. Live lines never hold a collect. The hold stays below the
// collect interval, and it delays that instance's pause, resume and exit in
// Fluent Bit by as much.
const (
	// backlogLag is how long after its timestamp a line must be read to be
	// part of a backlog.
	backlogLag   = time.Second
	backlogQuiet = 50 * time.Millisecond
	backlogHold  = 800 * time.Millisecond
)

// awaitBacklog returns once no backlog line was added for quiet or a record
// waits for room, after at most hold, or when ctx ends.
func (b *buffer) awaitBacklog(ctx context.Context, quiet, hold time.Duration) {
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

// collect hands every buffered record to handOver, which must copy them
// before it returns, and makes their positions delivered.
func (b *buffer) collect(handOver func([]byte)) {
	if d := b.take(); d != nil {
		handOver(d)
		b.mem.Free(d)
	}
}

// take hands over the block of buffered records, or nil when there is
// none, and makes their positions delivered. The caller owns the block:
// it gives it back to the buffer's Memory.
func (b *buffer) take() []byte {
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
	for i, slot := range b.touched {
		b.delivered[slot.id] = slot.pos
		slot.queued = false
		b.touched[i] = nil
	}
	b.touched = b.touched[:0]
	b.touch()
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
func (b *buffer) resize(used int) {
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

func (b *buffer) wake() {
	close(b.room)
	b.room = make(chan struct{})
}

// calmCollects is how many collects without a pause double the ceiling
// back toward buffer_max_size.
const calmCollects = 30

func (b *buffer) setPaused(p bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p && !b.paused {
		// Fluent Bit pauses an input when a hand-over took it past its
		// mem_buf_limit (or storage limit): hand over less from now on.
		b.ceiling = max(b.lastTake/2, min(minBlock, b.limit))
		b.grant, b.size = min(b.grant, b.ceiling), min(b.size, b.ceiling)
		b.calm = 0
	}
	b.paused = p
	if !p {
		b.wake()
	}
}

// deliveredPositions returns a copy of the positions handed over so far.
func (b *buffer) deliveredPositions() map[string]Position {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.copyDelivered()
}

func (b *buffer) copyDelivered() map[string]Position {
	out := make(map[string]Position, len(b.delivered))
	for id, p := range b.delivered {
		out[id] = p
	}
	return out
}

// seed records positions known before anything was delivered: those of a
// checkpoint, and where a newly followed container starts, so a container
// that never logs is still remembered.
func (b *buffer) seed(positions map[string]Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, p := range positions {
		if _, ok := b.delivered[id]; !ok {
			b.delivered[id] = p
			b.touch()
		}
	}
}

// replace records positions handed over by an earlier engine.
func (b *buffer) replace(positions map[string]Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, p := range positions {
		b.delivered[id] = p
	}
	if len(positions) > 0 {
		b.touch()
	}
}

// forget drops a removed container's positions.
func (b *buffer) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.delivered[id]; ok {
		delete(b.delivered, id)
		b.touch()
	}
	kept := b.touched[:0]
	for _, slot := range b.touched {
		if slot.id == id {
			slot.queued = false
		} else {
			kept = append(kept, slot)
		}
	}
	b.touched = kept
}

func (b *buffer) touch() {
	if b.dirtySince.IsZero() {
		b.dirtySince = time.Now()
	}
}

// takeDirty returns the delivered positions if they changed since the last
// call, and marks them written; markDirty undoes that after a failed write.
func (b *buffer) takeDirty() (map[string]Position, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dirtySince.IsZero() {
		return nil, false
	}
	b.dirtySince = time.Time{}
	return b.copyDelivered(), true
}

func (b *buffer) markDirty() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.touch()
}

// checkpointLag is the age of the oldest delivered position not yet written.
func (b *buffer) checkpointLag(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dirtySince.IsZero() {
		return 0
	}
	return now.Sub(b.dirtySince)
}

// Take hands over the records encoded since the last call as one block of
// the Memory set with SetMemory, or nil when there is none; the caller owns
// the block. Collect is the same for callers that copy.
func (e *Engine) Take() []byte { return e.buf.take() }

// AwaitBacklog is called before Take at a collect: while streams are
// reading a backlog it waits, at most 0.8 s, until they stop, so
// that the end of the backlog is handed over now instead of a collect
// later. It returns at once when no backlog is being read.
func (e *Engine) AwaitBacklog() { e.buf.awaitBacklog(e.ctx, backlogQuiet, backlogHold) }

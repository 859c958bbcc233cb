package capture

import (
	"context"
	"sync"
	"time"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// buffer holds the encoded records waiting for Fluent Bit's next collect. It
// is bounded: a tailer that finds it full, or paused, waits for room (and
// stops reading, so the daemon keeps the lines) until its context ends.
type buffer struct {
	limit   int
	metrics *metrics.Input

	mu     sync.Mutex
	data   []byte
	paused bool
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
}

func newBuffer(limit int, m *metrics.Input) *buffer {
	m.BufferLimit.Set(float64(limit))
	return &buffer{
		limit: limit, metrics: m, room: make(chan struct{}),
		delivered: map[string]Position{},
	}
}

// pendingPosition is a tailer's newest position among the records waiting
// in the buffer. Each tailer owns one, so a record costs no map update; its
// fields are the buffer's, under its lock.
type pendingPosition struct {
	id     string
	pos    Position
	queued bool
}

// add appends one record of a line of lineLen bytes; pos becomes the
// container's delivered position once the record is handed over. A record
// larger than the whole limit still goes in when the buffer is empty.
func (b *buffer) add(ctx context.Context, rec []byte, stream logstream.Stream, lineLen int,
	slot *pendingPosition, pos Position) error {
	for {
		b.mu.Lock()
		if !b.paused && (len(b.data)+len(rec) <= b.limit || len(b.data) == 0) {
			b.data = append(b.data, rec...)
			b.records[stream]++
			b.bytes[stream] += lineLen
			slot.pos = pos
			if !slot.queued {
				slot.queued = true
				b.touched = append(b.touched, slot)
			}
			b.metrics.BufferBytes.Set(float64(len(b.data)))
			b.mu.Unlock()
			return nil
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

// collect hands every buffered record to handOver, which must copy them
// before it returns, and makes their positions delivered. Tailers wait for
// the copy, so memory never holds more than one buffer's worth.
func (b *buffer) collect(handOver func([]byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.data) == 0 {
		return
	}
	handOver(b.data)
	if cap(b.data) > b.limit {
		b.data = nil // one oversized record made it grow: give it back
	} else {
		b.data = b.data[:0]
	}
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
}

func (b *buffer) wake() {
	close(b.room)
	b.room = make(chan struct{})
}

func (b *buffer) setPaused(p bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
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

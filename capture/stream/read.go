package stream

import (
	"bytes"
	"context"
	"time"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
)

// keepScratch is the largest record buffer a tailer keeps between lines; a
// long line's is given back, so many tailers that each saw one stay small.
const keepScratch = 64 << 10

// consume reads entries until the stream fails or ends.
func (t *Tailer) consume(ctx context.Context, rot *rotation) error {
	reached := t.watch.reached.Load()
	for {
		entry, err := t.src.Next()
		if err != nil {
			return classify(err)
		}
		if !entry.TSValid {
			// Keep the text; stamp it with the last good timestamp. The
			// cursor does not count it.
			t.d.Metrics.Error(metrics.ReasonDecode)
			entry.TS = t.watch.lastTS.Load()
		} else {
			t.watch.lastTS.Store(entry.TS)
			v := t.cursor.Accept(entry.Stream, entry.TS, entry.Msg)
			if !reached && t.cursor.Reached() {
				reached = true
				t.markReached(rot)
				if t.cursor.Lost() {
					t.log.Warn("position no longer in the log (the daemon rotated it away): lines after it may be delivered again",
						"container_name", t.Name())
				}
			}
			switch v {
			case resume.Skip:
				continue
			case resume.Replay:
				t.d.Metrics.Replays.Inc()
				continue
			case resume.Gap:
				return errWindowMissed
			}
			if !t.wants(entry.Stream) {
				t.cursor.LineHandedOver(entry.Stream)
				continue
			}
		}
		if t.set.Details {
			var err error
			if entry.Msg, err = t.attrs.take(entry.Msg); err != nil {
				t.d.Metrics.Error(metrics.ReasonDecode) // the whole text stays the line
			}
		}
		line, ok := t.asm.Add(entry)
		if !ok {
			continue
		}
		if err := t.emit(ctx, line); err != nil {
			return err
		}
	}
}

// details keeps the attributes the daemon sends with each entry (details=1),
// parsed and encoded once for as long as they stay the same: a container's
// come from its labels and environment, so they rarely change.
type details struct {
	raw     []byte
	encoded []byte // a msgpack map; nil until an entry came
	parsed  []logstream.Attr
}

// take strips the attributes from an entry's message and keeps them for its
// line.
func (d *details) take(msg []byte) ([]byte, error) {
	raw, rest, err := logstream.SplitDetails(msg)
	if err != nil {
		return msg, err
	}
	if d.encoded != nil && bytes.Equal(raw, d.raw) {
		return rest, nil
	}
	parsed, err := logstream.ParseAttrs(d.parsed[:0], raw)
	if err != nil {
		return msg, err
	}
	d.raw, d.parsed = append(d.raw[:0], raw...), parsed
	d.encoded = record.EncodeAttrs(d.encoded[:0], parsed)
	return rest, nil
}

// readingBacklog reports whether the stream is reading entries stamped well
// before now and has read some since it was last asked: a reopen now would
// make the daemon seek back over the rest of that backlog.
func (t *Tailer) readingBacklog() bool {
	ts := t.watch.lastTS.Load()
	moved := t.watch.rotationTS.Swap(ts) != ts
	return moved && time.Duration(t.d.Daemon.OnDaemonClock(time.Now())-ts) > stallGrace(t.set.Rotate)
}

// wants reports whether the streams key selects s, and the container's
// labels do not exclude it.
func (t *Tailer) wants(s logstream.Stream) bool {
	switch s {
	case logstream.Stderr:
		return t.set.Stderr && !t.optOut.Stderr
	default: // stdout, and a TTY's merged output
		return t.set.Stdout && !t.optOut.Stdout
	}
}

// emit hands one line to the sink; the cursor moves once it is there.
func (t *Tailer) emit(ctx context.Context, line logstream.Line) error {
	pos := t.cursor.PositionAfterLine(line.Stream)
	t.scratch = t.meta.Load().enc.Append(t.scratch[:0], line.TS, line.Stream.String(), line.Msg, line.Truncated, t.attrs.encoded)
	var backlogAt time.Time
	// A line with no timestamp of its own before any good one has TS 0.
	if readAt := t.src.LastRead(); line.TS > 0 && t.d.Daemon.OnDaemonClock(readAt)-line.TS > int64(lateLine) {
		backlogAt = readAt
	}
	if err := t.d.Sink.Add(ctx, t.scratch, line.Stream, len(line.Msg), &t.pending, pos, backlogAt); err != nil {
		return err
	}
	t.cursor.LineHandedOver(line.Stream)
	if cap(t.scratch) > keepScratch {
		t.scratch = nil
	}
	if line.Truncated {
		t.d.Metrics.Truncated.Inc()
	}
	return nil
}

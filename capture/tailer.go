package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
)

// inspectTimeout bounds the one-off requests a tailer makes besides its
// stream.
const inspectTimeout = 10 * time.Second

// tailer follows one container's log. Its goroutine (run) owns the stream,
// the context that ends it, and the cursor that knows the position.
type tailer struct {
	e  *Engine
	id string
	// meta changes when the container is renamed.
	meta atomic.Pointer[containerMeta]
	tty  bool
	// startedAt is the container's State.StartedAt at the last inspect:
	// a stream that ends while a newer run is up saw a restart.
	startedAt string
	// ranSince: a stopped container whose last run ended before it (the
	// daemon's clock, Unix nanoseconds) is not read; 0 reads it anyway.
	ranSince int64
	// running and finishedAt (State.FinishedAt, 0 if it never ran) are
	// as of the last inspect.
	running    bool
	finishedAt int64
	logDriver  string
	log        *slog.Logger

	cursor  *resume.Cursor
	pending pendingPosition // positions waiting in the buffer
	reader  *logstream.Reader
	asm     *logstream.Assembler
	scratch []byte
	attrs   details // with details on: the last attributes read

	// state is the last error reported, so each change is logged once.
	state string
	// streamStart is when the current stream was opened (Unix nanoseconds;
	// 0 when none is open), for the watchdog.
	streamStart atomic.Int64
	// lastTS is the timestamp of the last entry read, and reached says
	// the stream has reached its position: for the rotation and the
	// watchdog, which tell a stream reading a backlog from a stuck one.
	lastTS  atomic.Int64
	reached atomic.Bool
	// seenTS is lastTS when the rotation last looked.
	seenTS atomic.Int64
	// Owned by the watchdog.
	stallReported bool
	wdTS          int64
	wdProgress    time.Time
}

var (
	// errContainerStopped ends a tailer whose container no longer runs.
	errContainerStopped = errors.New("container stopped")
	// errContainerRestarted ends a stream whose container was restarted:
	// follow the new run at once.
	errContainerRestarted = errors.New("container restarted")
	// errRotated says the stream's own deadline ended it: a rotation. Any
	// other timeout (an inspect, say) is an error.
	errRotated = errors.New("stream reached rotate_interval")
	// errNotReached ends a stream that was still catching up on its
	// position at its hard limit.
	errNotReached = errors.New("stream did not reach its position before its deadline")
	// errWindowMissed ends a stream whose window did not reach back to the
	// position: it is reopened as the cursor plans next.
	errWindowMissed = errors.New("window too small")
	// errTTYNotWanted: a TTY container merges both streams and is read only
	// when stdout is selected.
	errTTYNotWanted = errors.New("TTY container and stdout not selected")
	// errUnreadable: the container's logging driver keeps no log the API
	// can read (driver none, or a driver without the daemon's cache). It
	// is tried again when the container next starts.
	errUnreadable = errors.New("the container's logging driver does not support reading")
)

// keepScratch is the largest record buffer a tailer keeps between lines; a
// long line's is given back, so many tailers that each saw one stay small.
const keepScratch = 64 << 10

func newTailer(e *Engine, id string, from Position) *tailer {
	return &tailer{
		e: e, id: id, cursor: resume.NewCursor(from), pending: pendingPosition{id: id},
		log: e.log.With("container_id", shortID(id)),
		asm: logstream.NewAssembler(e.cfg.MaxLineSize),
	}
}

type containerMeta struct {
	record.Container
	enc *record.Encoder
}

func (t *tailer) containerName() string {
	if m := t.meta.Load(); m != nil {
		return m.Name
	}
	return ""
}

func shortID(id string) string { return id[:min(12, len(id))] }

// setMeta gives the tailer the container's name and metadata encoder.
func (t *tailer) setMeta(c record.Container) {
	t.meta.Store(&containerMeta{Container: c, enc: record.NewEncoder(c, t.e.cfg.LabelKeys)})
}

// rename is called by the supervisor while the tailer runs.
func (t *tailer) rename(name string) {
	if m := t.meta.Load(); m != nil {
		c := m.Container
		c.Name = name
		t.setMeta(c)
	}
}

// run follows the container until it stops, is removed or ctx ends, and
// returns the position to resume from.
func (t *tailer) run(ctx context.Context) (Position, error) {
	m := t.e.metrics
	t.e.register(t)
	defer t.e.unregister(t)
	b := newBackoff(500*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		if err := t.e.waitRunning(ctx); err != nil {
			break
		}
		err := t.follow(ctx)
		switch {
		case ctx.Err() != nil:
		case err == errRotated:
			m.Rotation(t.containerName())
			t.setState("", nil)
			b.reset()
			continue
		case err == errContainerRestarted:
			t.setState("", nil)
			b.reset()
			continue
		case errors.Is(err, errContainerStopped), err == errTTYNotWanted, err == errUnreadable:
			t.setState("", nil)
			return t.cursor.Position(), err
		default:
			t.setState(reasonOf(err), err)
			m.Error(reasonOf(err))
			if cerrdefs.IsNotFound(err) {
				return t.cursor.Position(), err
			}
		}
		if b.wait(ctx) != nil {
			break
		}
	}
	return t.cursor.Position(), ctx.Err()
}

// follow inspects the container if need be and reads one stream, reopening
// it at once when its window missed the position.
func (t *tailer) follow(ctx context.Context) error {
	if t.meta.Load() == nil {
		if err := t.inspect(ctx); err != nil {
			return err
		}
	}
	if t.tty && !t.e.cfg.Stdout {
		return errTTYNotWanted
	}
	if t.logDriver == "none" {
		return errUnreadable
	}
	if t.ranSince > 0 && !t.running && t.finishedAt < t.ranSince {
		return errContainerStopped // nothing written since positions were saved
	}
	for {
		plan := t.cursor.Plan(t.e.onDaemonClock(time.Now()))
		if plan.Probe {
			if err := t.probe(ctx); err != nil {
				return err
			}
			continue
		}
		err := t.stream(ctx, plan)
		if err != errWindowMissed {
			return err
		}
		t.e.metrics.WindowMisses.Inc()
	}
}

// probe asks for the log's last entry, without follow: where a position
// from a time or from now can anchor.
func (t *tailer) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	rc, err := t.e.docker.ContainerLogs(pctx, t.id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: "1",
	})
	if err != nil {
		return openError(err)
	}
	defer rc.Close()
	t.resetReader(rc)
	for {
		entry, err := t.reader.Next()
		switch {
		case errors.Is(err, io.EOF):
			t.cursor.Probed(0, false)
			return nil
		case err != nil:
			return classify(err)
		case entry.TSValid:
			t.cursor.Probed(entry.TS, true)
			return nil
		}
		t.e.metrics.Error(metrics.ReasonDecode)
	}
}

func (t *tailer) resetReader(rc io.Reader) {
	if t.reader == nil {
		t.reader = logstream.NewReader(rc, t.tty, t.e.cfg.MaxLineSize+logstream.ChunkSize)
	} else {
		t.reader.Reset(rc, t.tty)
	}
}

// stream opens one follow stream as plan says and reads it until it ends.
// It ends at rotate_interval once it has reached its position; one still
// catching up goes on until it does, or until its hard limit.
func (t *tailer) stream(parent context.Context, plan resume.Plan) error {
	rotate := t.e.cfg.RotateInterval
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, cancelHard := context.WithTimeoutCause(ctx, t.e.catchUp, errNotReached)
	defer cancelHard()
	rot := startRotation(rotate, cancel, t.readingBacklog)
	defer rot.stop()
	t.reached.Store(false)
	now := time.Now()
	t.streamStart.Store(now.UnixNano())
	defer t.streamStart.Store(0)

	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true, Details: t.e.cfg.Details}
	if plan.Since > 0 {
		opts.Since = logstream.FormatSince(plan.Since)
	}
	if plan.Tail >= 0 {
		opts.Tail = strconv.Itoa(plan.Tail)
	}
	if plan.Scan {
		t.e.metrics.SinceScans.Inc()
	}
	t.cursor.Begin(plan, now.UnixNano())
	defer func() { t.cursor.End(time.Now().UnixNano()) }()
	if t.cursor.Reached() {
		// A log read from its head has no position to reach: a silent
		// container has nothing to read, and rotates on time.
		t.markReached(rot)
	}
	rc, err := t.e.docker.ContainerLogs(ctx, t.id, opts)
	if err != nil {
		if ctx.Err() != nil {
			return streamEnd(ctx, parent, false)
		}
		return openError(err)
	}
	defer rc.Close()
	t.e.metrics.StreamsActive.Inc()
	defer t.e.metrics.StreamsActive.Dec()
	// The body's Read returns when ctx ends; closing it as well makes sure
	// of that even for a transport that would not watch ctx.
	stopClose := context.AfterFunc(ctx, func() { rc.Close() })
	defer stopClose()
	t.resetReader(rc)
	t.asm.Reset()
	err = t.consume(ctx, rot)
	if ctx.Err() != nil {
		return streamEnd(ctx, parent, t.reached.Load())
	}
	if errors.Is(err, io.EOF) {
		return t.streamEnded(parent)
	}
	return err
}

// openError classifies a failed logs request; the daemon answers 501 Not
// Implemented for a logging driver it cannot read.
func openError(err error) error {
	if cerrdefs.IsNotImplemented(err) {
		return errUnreadable
	}
	return &streamError{reason: metrics.ReasonOpen, err: err}
}

// streamEnd says why a stream's context ended: Stop, its rotation, or its
// hard limit before it reached its position. A stream that reached it and
// was reading a backlog at its hard limit rotates.
func streamEnd(ctx, parent context.Context, reached bool) error {
	switch cause := context.Cause(ctx); {
	case parent.Err() != nil:
		return parent.Err()
	case cause == errNotReached && !reached:
		return &streamError{reason: metrics.ReasonNotReached, err: cause}
	}
	return errRotated
}

// markReached says the stream has reached its position: from now on it
// rotates at rotate_interval, and the watchdog no longer waits for it.
func (t *tailer) markReached(rot *rotation) {
	t.reached.Store(true)
	rot.reached()
}

// consume reads entries until the stream fails or ends.
func (t *tailer) consume(ctx context.Context, rot *rotation) error {
	reached := t.reached.Load()
	for {
		entry, err := t.reader.Next()
		if err != nil {
			return classify(err)
		}
		if !entry.TSValid {
			// Keep the text; stamp it with the last good timestamp. The
			// cursor does not count it.
			t.e.metrics.Error(metrics.ReasonDecode)
			entry.TS = t.lastTS.Load()
		} else {
			t.lastTS.Store(entry.TS)
			v := t.cursor.Accept(entry.Stream, entry.TS, entry.Msg)
			if !reached && t.cursor.Reached() {
				reached = true
				t.markReached(rot)
				if t.cursor.Lost() {
					t.log.Warn("position no longer in the log (the daemon rotated it away): lines after it may be delivered again",
						"container_name", t.containerName())
				}
			}
			switch v {
			case resume.Skip:
				continue
			case resume.Replay:
				t.e.metrics.Replays.Inc()
				continue
			case resume.Gap:
				return errWindowMissed
			}
			if !t.wants(entry.Stream) {
				t.cursor.LineHandedOver(entry.Stream)
				continue
			}
		}
		if t.e.cfg.Details {
			var err error
			if entry.Msg, err = t.attrs.take(entry.Msg); err != nil {
				t.e.metrics.Error(metrics.ReasonDecode) // the whole text stays the line
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
func (t *tailer) readingBacklog() bool {
	ts := t.lastTS.Load()
	moved := t.seenTS.Swap(ts) != ts
	return moved && time.Duration(t.e.onDaemonClock(time.Now())-ts) > stallGrace(t.e.cfg.RotateInterval)
}

// wants reports whether the streams key selects s.
func (t *tailer) wants(s logstream.Stream) bool {
	switch s {
	case logstream.Stderr:
		return t.e.cfg.Stderr
	default: // stdout, and a TTY's merged output
		return t.e.cfg.Stdout
	}
}

// emit hands one line to the buffer; the cursor moves once it is there.
func (t *tailer) emit(ctx context.Context, line logstream.Line) error {
	pos := t.cursor.PositionAfterLine(line.Stream)
	t.scratch = t.meta.Load().enc.AppendWithAttrs(t.scratch[:0], line.TS, line.Stream.String(), line.Msg, line.Truncated, t.attrs.encoded)
	var backlogAt time.Time
	// A line with no timestamp of its own before any good one has TS 0.
	if readAt := t.reader.LastRead(); line.TS > 0 && t.e.onDaemonClock(readAt)-line.TS > int64(backlogLag) {
		backlogAt = readAt
	}
	if err := t.e.buf.add(ctx, t.scratch, line.Stream, len(line.Msg), &t.pending, pos, backlogAt); err != nil {
		return err
	}
	t.cursor.LineHandedOver(line.Stream)
	if cap(t.scratch) > keepScratch {
		t.scratch = nil
	}
	if line.Truncated {
		t.e.metrics.Truncated.Inc()
	}
	return nil
}

// streamEnded decides what the end of a follow stream means: the container
// stopped (deliver its unterminated last line and end), it was restarted
// (the same, then follow the new run), or the daemon closed the stream of a
// running container (read again).
func (t *tailer) streamEnded(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	res, err := t.e.docker.ContainerInspect(ictx, t.id, client.ContainerInspectOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return &streamError{reason: metrics.ReasonDaemon, err: err}
	}
	info := res.Container
	end := errContainerStopped
	if err == nil && info.State != nil && info.State.Running {
		if info.State.StartedAt == t.startedAt {
			return &streamError{reason: metrics.ReasonRead, err: errors.New("stream closed by the daemon while the container runs")}
		}
		t.startedAt = info.State.StartedAt
		end = errContainerRestarted
	}
	// The run is over: its unfinished line is whole as it is, and must not
	// be joined to the next run's first line.
	var flushErr error
	t.asm.Flush(func(l logstream.Line) {
		if flushErr == nil {
			flushErr = t.emit(ctx, l)
		}
	})
	if flushErr != nil {
		return flushErr
	}
	return end
}

func (t *tailer) inspect(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	res, err := t.e.docker.ContainerInspect(ictx, t.id, client.ContainerInspectOptions{})
	if err != nil {
		return &streamError{reason: metrics.ReasonList, err: err}
	}
	info := res.Container
	c := record.Container{ID: info.ID, Name: trimSlash(info.Name)}
	if info.Config != nil {
		c.Image, c.Labels = info.Config.Image, info.Config.Labels
		t.tty = info.Config.Tty
	}
	t.running, t.finishedAt = false, 0
	if info.State != nil {
		t.startedAt, t.running = info.State.StartedAt, info.State.Running
		if f, err := time.Parse(time.RFC3339Nano, info.State.FinishedAt); err == nil && f.Unix() > 0 {
			t.finishedAt = f.UnixNano()
		}
	}
	if info.HostConfig != nil {
		t.logDriver = info.HostConfig.LogConfig.Type
	}
	t.setMeta(c)
	return nil
}

// setState logs a change of the tailer's health once, not every retry.
func (t *tailer) setState(reason string, err error) {
	if reason == t.state {
		return
	}
	if reason == "" {
		t.log.Info("log stream recovered", "container_name", t.containerName())
	} else {
		t.log.Error("log stream failed; retrying with backoff", "reason", reason, "error", err)
	}
	t.state = reason
}

// streamError tags an error with the reason it is counted under.
type streamError struct {
	reason string
	err    error
}

func (e *streamError) Error() string { return fmt.Sprintf("%s: %v", e.reason, e.err) }
func (e *streamError) Unwrap() error { return e.err }

func classify(err error) error {
	var de *logstream.DaemonError
	switch {
	case errors.Is(err, io.EOF):
		return err
	case errors.As(err, &de):
		return &streamError{reason: metrics.ReasonDaemon, err: err}
	case errors.Is(err, logstream.ErrFrameTooLarge), errors.Is(err, logstream.ErrMalformed):
		return &streamError{reason: metrics.ReasonDecode, err: err}
	}
	return &streamError{reason: metrics.ReasonRead, err: err}
}

func reasonOf(err error) string {
	var se *streamError
	switch {
	case cerrdefs.IsNotFound(err):
		return metrics.ReasonNotFound
	case errors.As(err, &se):
		return se.reason
	}
	return metrics.ReasonDaemon
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
)

// inspectTimeout bounds the one-off requests a tailer makes besides its
// stream.
const inspectTimeout = 10 * time.Second

// tailer follows one container's log. Its goroutine (run) owns the stream,
// the context that ends it, and the read position.
type tailer struct {
	e  *Engine
	id string
	// meta changes when the container is renamed.
	meta atomic.Pointer[containerMeta]
	tty  bool
	log  *slog.Logger

	// committed is the position after the last line handed to the buffer
	// with no other line unfinished: where the next stream resumes.
	committed Position
	read      Position
	pending   pendingPosition // committed positions waiting in the buffer
	reader    *logstream.Reader
	asm       *logstream.Assembler
	scratch   []byte
	// Entries since committed that a stream resumed from committed replays,
	// by stream (the daemon replays them in the same order): done belong to
	// lines handed to the buffer, seen the current stream has passed, cur
	// to the line not yet handed over. The first done of each stream are
	// skipped on resume, so the lines of one stream handed over while
	// another's line was unfinished are not handed over again.
	done, seen, cur [logstream.TTY + 1]int

	// state is the last error reported, so each change is logged once.
	state string
	// streamStart is when the current stream was opened (Unix nanoseconds;
	// 0 when none is open), for the watchdog.
	streamStart   atomic.Int64
	stallReported bool // owned by the watchdog
}

var (
	// errContainerStopped ends a tailer whose container no longer runs.
	errContainerStopped = errors.New("container stopped")
	// errRotated says the stream's own deadline ended it: a rotation. Any
	// other timeout (an inspect, say) is an error.
	errRotated = errors.New("stream reached rotate_interval")
)

func newTailer(e *Engine, id string, from Position) *tailer {
	return &tailer{
		e: e, id: id, committed: from, pending: pendingPosition{id: id},
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
func (t *tailer) run(ctx context.Context) Position {
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
		case errors.Is(err, errContainerStopped):
			t.setState("", nil)
			return t.committed
		default:
			t.setState(reasonOf(err), err)
			m.Error(reasonOf(err))
			if errdefs.IsNotFound(err) {
				return t.committed
			}
		}
		if b.wait(ctx) != nil {
			break
		}
	}
	return t.committed
}

// follow inspects the container and reads one stream, under a deadline of
// rotate_interval. It returns errRotated when the deadline
// ended the stream and errContainerStopped when the container's stream ended
// with the container.
func (t *tailer) follow(parent context.Context) error {
	if t.meta.Load() == nil {
		if err := t.inspect(parent); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(parent, t.e.cfg.RotateInterval)
	defer cancel()
	t.streamStart.Store(time.Now().UnixNano())
	defer t.streamStart.Store(0)

	from := t.committed
	rc, err := t.e.docker.ContainerLogs(ctx, t.id, container.LogsOptions{
		ShowStdout: t.e.cfg.Stdout || t.tty, ShowStderr: t.e.cfg.Stderr && !t.tty,
		Follow: true, Timestamps: true, Since: from.Since(),
	})
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			return errRotated
		}
		return &streamError{reason: metrics.ReasonOpen, err: err}
	}
	defer rc.Close()
	t.e.metrics.StreamsActive.Inc()
	defer t.e.metrics.StreamsActive.Dec()
	// The body's Read returns when ctx ends; closing it as well makes sure
	// of that even for a transport that would not watch ctx.
	stopClose := context.AfterFunc(ctx, func() { rc.Close() })
	defer stopClose()
	if t.reader == nil {
		t.reader = logstream.NewReader(rc, t.tty, t.e.cfg.MaxLineSize+logstream.ChunkSize)
	} else {
		t.reader.Reset(rc, t.tty)
	}
	t.asm.Reset()
	t.read = from
	t.seen, t.cur = [logstream.TTY + 1]int{}, [logstream.TTY + 1]int{}
	err = t.consume(ctx, newSkipper(from))
	if ctx.Err() != nil {
		if parent.Err() != nil {
			return parent.Err() // Stop ended the stream
		}
		return errRotated
	}
	if errors.Is(err, io.EOF) {
		return t.streamEnded(parent)
	}
	return err
}

// consume reads entries until the stream fails or ends.
func (t *tailer) consume(ctx context.Context, skip skipper) error {
	for {
		entry, err := t.reader.Next()
		if err != nil {
			return classify(err)
		}
		if !entry.TSValid {
			// Keep the text; stamp it with the last good timestamp.
			t.e.metrics.Error(metrics.ReasonDecode)
			entry.TS = t.read.TS
		} else {
			if skip.skip(entry.TS) {
				continue
			}
			t.read.advance(entry.TS)
		}
		if s := entry.Stream; !entry.TSValid || entry.TS >= t.committed.TS {
			if t.seen[s]++; t.seen[s] <= t.done[s] {
				continue // its line was handed over before this resume
			}
			t.cur[s]++
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

// emit hands one line to the buffer. The position advances only when no
// other line is unfinished; otherwise a resume from it would cut that line.
func (t *tailer) emit(ctx context.Context, line logstream.Line) error {
	commit := !t.asm.Pending()
	t.scratch = t.meta.Load().enc.Append(t.scratch[:0], line.TS, line.Stream.String(), line.Msg, line.Truncated)
	if err := t.e.buf.add(ctx, t.scratch, line.Stream, len(line.Msg), &t.pending, t.read, commit); err != nil {
		return err
	}
	t.done[line.Stream] += t.cur[line.Stream]
	t.cur[line.Stream] = 0
	if commit {
		t.committed = t.read
		t.done, t.seen = [logstream.TTY + 1]int{}, [logstream.TTY + 1]int{}
	}
	if line.Truncated {
		t.e.metrics.Truncated.Inc()
	}
	return nil
}

// streamEnded decides what the end of a follow stream means: the container
// stopped (deliver its unterminated last line and end), or the daemon closed
// the stream of a running container (read again).
func (t *tailer) streamEnded(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	info, err := t.e.docker.ContainerInspect(ictx, t.id)
	if err == nil && info.State != nil && info.State.Running {
		return &streamError{reason: metrics.ReasonRead, err: errors.New("stream closed by the daemon while the container runs")}
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return &streamError{reason: metrics.ReasonDaemon, err: err}
	}
	var flushErr error
	t.asm.Flush(func(l logstream.Line) {
		if flushErr == nil {
			flushErr = t.emit(ctx, l)
		}
	})
	if flushErr != nil {
		return flushErr
	}
	return errContainerStopped
}

func (t *tailer) inspect(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	info, err := t.e.docker.ContainerInspect(ictx, t.id)
	if err != nil {
		return &streamError{reason: metrics.ReasonList, err: err}
	}
	c := record.Container{ID: info.ID, Name: trimSlash(info.Name)}
	if info.Config != nil {
		c.Image, c.Labels = info.Config.Image, info.Config.Labels
		t.tty = info.Config.Tty
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
	case errdefs.IsNotFound(err):
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

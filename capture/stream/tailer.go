// Package stream follows one container's log: its reads, their rotation
// and deadlines, the watchdog's view of them, and the records they make.
package stream

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"docker_logs/capture/config"
	"docker_logs/capture/dockerapi"
	"docker_logs/capture/logfile"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
)

// Settings are the keys a stream follows.
type Settings struct {
	Rotate         time.Duration // rotate_interval
	CatchUp        time.Duration // a stream's hard limit; 0 derives it from Rotate
	MaxLineSize    int
	Stdout, Stderr bool
	Details        bool
	Fields         record.Fields
	HostName       string // the host field; "" for the daemon's name
}

// Sink takes the records of every stream of an input (the hand-over
// buffer).
type Sink interface {
	// Add takes one record of a line of lineLen bytes; slot gets pos once
	// it is in. backlogAt is when the line was read if it was read late,
	// else zero. It waits for room until ctx ends.
	Add(ctx context.Context, rec []byte, s logstream.Stream, lineLen int,
		slot *resume.Pending, pos resume.Position, backlogAt time.Time) error
	// WaitRunning returns when the input is not paused, or ctx ends.
	WaitRunning(ctx context.Context) error
}

// Deps are what the streams of one input share.
type Deps struct {
	Docker   dockerapi.Docker // inspects
	Source   Source
	Daemon   *dockerapi.Daemon
	Sink     Sink
	Watchdog *Watchdog
	Metrics  *metrics.Input
	Log      *slog.Logger
}

// Tailer follows one container's log. Its goroutine (Run) owns the reads,
// the context that ends each, and the cursor that knows the position.
type Tailer struct {
	set Settings
	d   *Deps
	id  string
	log *slog.Logger
	// meta changes when the container is renamed.
	meta atomic.Pointer[containerMeta]
	tty  bool
	// startedAt bounds when the followed run began (State.StartedAt, or
	// its start event's time, which comes after it; the daemon's clock,
	// Unix nanoseconds): a stream that ends while a later run is up saw a
	// restart.
	startedAt int64
	// created: the last inspect found a container that never started; its
	// follow waits for Started. startEvent is what Started gave (0 before).
	created    bool
	startEvent atomic.Int64
	startWake  chan struct{}
	target     Target // what the source reads, from the inspect
	// ranSince: a stopped container whose last run ended before it (the
	// daemon's clock, Unix nanoseconds) is not read; 0 reads it anyway.
	ranSince int64
	// running and finishedAt (State.FinishedAt, 0 if it never ran) are
	// as of the last inspect.
	running    bool
	finishedAt int64
	logDriver  string
	optOut     config.OptOut // by the container's labels
	// died counts the die events discovery passed on; diedSeen is the
	// count before the last inspect. A file is followed until they differ.
	died     atomic.Int64
	diedSeen int64
	diedWake chan struct{} // a die event came: a follow at the file's end looks

	cursor  *resume.Cursor
	pending resume.Pending // its position among the records not yet handed over
	src     Log            // nil until the first inspect
	asm     *logstream.Assembler
	scratch []byte
	attrs   details // with details on: the last attributes read

	// state is the last error reported, so each change is logged once.
	state string
	watch watched
}

// New returns the tailer of container id, reading from position from.
// A stopped container whose last run ended before ranSince (the daemon's
// clock, Unix nanoseconds; 0 for none) wrote nothing new: its tailer ends
// after the inspect.
func New(id string, from resume.Position, ranSince int64, set Settings, d *Deps) *Tailer {
	if set.CatchUp == 0 {
		set.CatchUp = catchUpLimit(set.Rotate)
	}
	return &Tailer{
		set: set, d: d, id: id, ranSince: ranSince,
		cursor: resume.NewCursor(from), pending: resume.Pending{ID: id},
		log: d.Log.With("container_id", ShortID(id)),
		asm: logstream.NewAssembler(set.MaxLineSize), diedWake: make(chan struct{}, 1),
		startWake: make(chan struct{}, 1),
	}
}

type containerMeta struct {
	record.Container
	enc *record.Encoder
}

// Name is the container's name, "" before the first inspect.
func (t *Tailer) Name() string {
	if m := t.meta.Load(); m != nil {
		return m.Name
	}
	return ""
}

// Died tells the tailer its container's run ended (a die event): a log
// file followed to its end then ends. It may be called while the tailer
// runs.
func (t *Tailer) Died() {
	t.died.Add(1)
	select {
	case t.diedWake <- struct{}{}:
	default: // one is pending
	}
}

// Started tells a tailer started at its container's creation that the
// container started; at is the start event's time (the daemon's clock,
// Unix nanoseconds), 0 when unknown. A tailer that found it running or
// ended ignores it. It may be called while the tailer runs.
func (t *Tailer) Started(at int64) {
	if at <= 0 {
		at = unknownStart
	}
	t.startEvent.Store(at)
	select {
	case t.startWake <- struct{}{}:
	default: // one is pending
	}
}

// unknownStart: Started was called without the start event's time.
const unknownStart = -1

// awaitStart waits until a container its inspect found created has
// started. The start event's time bounds the run's start, and the
// json-file log's path follows from the daemon's root: no inspect waits on
// the daemon while it starts the container, or while a short run ends.
func (t *Tailer) awaitStart(ctx context.Context) error {
	for {
		at := t.startEvent.Swap(0)
		if at == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.startWake:
			}
			continue
		}
		if t.target.Driver == jsonFileDriver && t.target.LogPath == "" {
			t.target.LogPath = t.d.Daemon.JSONLogPath(t.id)
		}
		if at == unknownStart || t.target.Driver == jsonFileDriver && t.target.LogPath == "" {
			if err := t.inspect(ctx); err != nil || !t.created {
				return err
			}
			continue
		}
		t.created, t.running, t.startedAt = false, true, at
		t.log.Debug("container started", "log_path", t.target.LogPath)
		return nil
	}
}

// stopped reports whether the container's run has ended, as of the last
// inspect and the die events since.
func (t *Tailer) stopped() bool { return !t.running || t.died.Load() != t.diedSeen }

// ShortID is the 12-character form of a container ID that docker ps shows.
func ShortID(id string) string { return id[:min(12, len(id))] }

func (t *Tailer) setMeta(c record.Container) {
	t.meta.Store(&containerMeta{Container: c, enc: record.NewEncoder(c, t.set.Fields)})
}

// Rename gives the container's new name to the records read from now on;
// it may be called while the tailer runs.
func (t *Tailer) Rename(name string) {
	if m := t.meta.Load(); m != nil {
		c := m.Container
		c.Name = name
		t.setMeta(c)
	}
}

// Run follows the container until it stops, is removed or ctx ends, and
// returns the position to resume from and why it ended (ErrStopped,
// ErrTTYNotWanted and ErrUnreadable among others).
func (t *Tailer) Run(ctx context.Context) (resume.Position, error) {
	m := t.d.Metrics
	t.d.Watchdog.add(t)
	defer t.d.Watchdog.remove(t)
	b := dockerapi.NewBackoff(retryMin, retryMax)
	for ctx.Err() == nil {
		if err := t.d.Sink.WaitRunning(ctx); err != nil {
			break
		}
		err := t.follow(ctx)
		switch {
		case ctx.Err() != nil:
		case err == errRotated:
			m.Rotation(t.Name())
			t.setState("", nil)
			b.Reset()
			continue
		case err == errRestarted, err == errResumed:
			t.setState("", nil)
			b.Reset()
			continue
		case errors.Is(err, ErrStopped), err == ErrTTYNotWanted, err == ErrUnreadable, err == ErrGone:
			t.setState("", nil)
			return t.cursor.Position(), err
		case errors.Is(err, logfile.ErrRemoved):
			t.log.Warn("container's log file was removed while it was read", "container_name", t.Name())
			return t.cursor.Position(), ErrUnreadable
		default:
			t.setState(reasonOf(err), err)
			m.Error(reasonOf(err))
			if cerrdefs.IsNotFound(err) {
				return t.cursor.Position(), err
			}
		}
		if b.Wait(ctx) != nil {
			break
		}
	}
	return t.cursor.Position(), ctx.Err()
}

// follow inspects the container if need be and reads one stream, reopening
// it at once when its window missed the position.
func (t *Tailer) follow(ctx context.Context) error {
	if t.src == nil {
		if err := t.inspect(ctx); err != nil {
			return err
		}
		if t.created && t.ranSince > 0 {
			return ErrStopped
		}
		if t.created {
			if err := t.awaitStart(ctx); err != nil {
				return err
			}
		}
		t.src = t.d.Source.Log(t.target)
	}
	if t.tty && !t.wants(logstream.TTY) {
		return ErrTTYNotWanted
	}
	if t.logDriver == "none" {
		return ErrUnreadable
	}
	if t.ranSince > 0 && !t.running && t.finishedAt < t.ranSince {
		return ErrStopped // nothing written since positions were saved
	}
	for {
		plan := t.cursor.Plan(t.d.Daemon.OnDaemonClock(time.Now()))
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
		t.d.Metrics.WindowMisses.Inc()
	}
}

// probe asks for the log's last entry, without follow: where a position
// from a time or from now can anchor.
func (t *Tailer) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
	defer cancel()
	if err := t.src.Open(pctx, Query{Tail: 1}); err != nil {
		return openError(err)
	}
	defer t.src.Close()
	for {
		entry, err := t.src.Next()
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
		t.d.Metrics.Error(metrics.ReasonDecode)
	}
}

// stream opens one follow stream as plan says and reads it until it ends.
// It ends at rotate_interval once it has reached its position; one still
// catching up goes on until it does, or until its hard limit.
func (t *Tailer) stream(parent context.Context, plan resume.Plan) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, cancelHard := context.WithTimeoutCause(ctx, t.set.CatchUp, errNotReached)
	defer cancelHard()
	rot := startRotation(t.set.Rotate, cancel, t.readingBacklog)
	defer rot.stop()
	t.watch.reached.Store(false)
	now := time.Now()
	t.watch.openedAt.Store(now.UnixNano())
	defer t.watch.openedAt.Store(0)

	q := Query{Since: plan.Since, Tail: plan.Tail, Follow: true, Details: t.set.Details}
	t.cursor.Begin(plan, now.UnixNano())
	defer func() { t.cursor.End(time.Now().UnixNano()) }()
	if t.cursor.Reached() {
		// A log read from its head has no position to reach: a silent
		// container has nothing to read, and rotates on time.
		t.markReached(rot)
	}
	if err := t.src.Open(ctx, q); err != nil {
		if ctx.Err() != nil {
			return endCause(ctx, parent, false)
		}
		return openError(err)
	}
	defer t.src.Close()
	t.log.Debug("log stream opened", "source", t.src.Source(), "since", q.Since, "tail", q.Tail)
	if plan.Scan && t.src.Source() == metrics.SourceAPI {
		t.d.Metrics.SinceScans.Inc() // a file is searched, not scanned
	}
	t.d.Metrics.StreamsActive.Inc()
	defer t.d.Metrics.StreamsActive.Dec()
	bySource := t.d.Metrics.StreamsBySource(t.src.Source())
	bySource.Inc()
	defer bySource.Dec()
	t.asm.Reset()
	err := t.consume(ctx, rot)
	t.log.Debug("log stream ended", "error", err)
	if ctx.Err() != nil {
		return endCause(ctx, parent, t.watch.reached.Load())
	}
	if errors.Is(err, io.EOF) {
		return t.logEnded(parent)
	}
	return err
}

// markReached says the stream has reached its position: from now on it
// rotates at rotate_interval, and the watchdog no longer waits for it.
func (t *Tailer) markReached(rot *rotation) {
	t.watch.reached.Store(true)
	rot.reached()
}

// logEnded decides what the end of a follow stream means: the container
// stopped (deliver its unterminated last line and end), it was restarted
// (the same, then follow the new run), or the daemon closed the stream of a
// running container (read again).
func (t *Tailer) logEnded(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
	defer cancel()
	died := t.died.Load()
	res, err := t.d.Docker.ContainerInspect(ictx, t.id, client.ContainerInspectOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return &streamError{reason: metrics.ReasonDaemon, err: err}
	}
	info := res.Container
	end := ErrStopped
	t.running = err == nil && info.State != nil && info.State.Running
	if t.running {
		t.diedSeen = died
		began := parseStateTime(info.State.StartedAt)
		if began <= t.startedAt {
			if t.src.Source() == metrics.SourceFile {
				return errResumed // a die event of an earlier run came late
			}
			return &streamError{reason: metrics.ReasonRead, err: errors.New("stream closed by the daemon while the container runs")}
		}
		t.startedAt = began
		end = errRestarted
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

func (t *Tailer) inspect(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
	defer cancel()
	t.diedSeen = t.died.Load()
	res, err := t.d.Docker.ContainerInspect(ictx, t.id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) && t.src == nil {
		// Gone before its read began: a short-lived container, or an event
		// the daemon sent again (Podman's stream repeats some).
		t.log.Debug("container removed before its log was read")
		return ErrGone
	}
	if err != nil {
		return &streamError{reason: metrics.ReasonList, err: err}
	}
	info := res.Container
	c := record.Container{ID: info.ID, Name: TrimSlash(info.Name), Host: cmp.Or(t.set.HostName, t.d.Daemon.Name())}
	if info.Config != nil {
		c.Image, c.Labels = info.Config.Image, info.Config.Labels
		t.tty = info.Config.Tty
		t.optOut = config.OptOutOf(c.Labels)
	}
	t.running, t.finishedAt, t.created = false, 0, false
	if info.State != nil {
		t.startedAt, t.running = parseStateTime(info.State.StartedAt), info.State.Running
		t.finishedAt = parseStateTime(info.State.FinishedAt)
		t.created = neverStarted(info.State)
	}
	if info.HostConfig != nil {
		t.logDriver = info.HostConfig.LogConfig.Type
	}
	t.log.Debug("container inspected", "running", t.running, "created", t.created, "driver", t.logDriver, "log_path", info.LogPath)
	t.target = Target{ID: t.id, TTY: t.tty, Driver: t.logDriver, LogPath: info.LogPath, Stopped: t.stopped, StopWake: t.diedWake}
	t.setMeta(c)
	return nil
}

// neverStarted reports whether a container's state is that of one created
// and not started yet, whatever its status calls it: its tailer waits for
// the start. Read as a stopped container, its read could end just as the
// start event came, and the run would go unread.
func neverStarted(s *container.State) bool {
	return !s.Running && (NotStarted(s.Status) || parseStateTime(s.StartedAt) == 0)
}

// NotStarted reports whether a container's status is that of one created
// and not started yet (Podman has "configured" and "initialized" too).
func NotStarted(status container.ContainerState) bool {
	return status == container.StateCreated || status == "configured" || status == "initialized"
}

// parseStateTime is a time of a container's State in Unix nanoseconds, 0
// for none (the zero time the daemon gives for a run that never was).
func parseStateTime(s string) int64 {
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil && ts.Unix() > 0 {
		return ts.UnixNano()
	}
	return 0
}

// setState logs a change of the tailer's health once, not every retry.
func (t *Tailer) setState(reason string, err error) {
	if reason == t.state {
		return
	}
	if reason == "" {
		t.log.Info("log stream recovered", "container_name", t.Name())
	} else {
		t.log.Error("log stream failed; retrying with backoff", "reason", reason, "error", err)
	}
	t.state = reason
}

// TrimSlash drops the leading slash of a name as the API gives it.
func TrimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

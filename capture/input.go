// Package capture is the docker_logs input as its host sees it: Open one per
// configured instance, Collect once a second, Pause and Unpause, Close.
package capture

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"docker_logs/capture/config"
	"docker_logs/capture/discovery"
	"docker_logs/capture/dockerapi"
	"docker_logs/capture/handover"
	"docker_logs/capture/ledger"
	"docker_logs/capture/logfile"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
	"docker_logs/capture/stream"
)

// Position is where a container's log was handed over up to (package
// resume decides how a stream resumes from it).
type Position = resume.Position

// Deps are what an input takes from its host. Docker, Memory and Metrics
// may be nil.
type Deps struct {
	// Docker is the daemon; nil opens a client of cfg's docker_host,
	// which Close closes.
	Docker dockerapi.Docker
	// Memory holds the blocks Collect hands over; nil is the Go heap.
	Memory handover.Memory
	// Metrics are the input's series; nil registers cfg.InstanceName's.
	Metrics *metrics.Input
	Log     *slog.Logger
	// Carried is where an earlier instance of the same input stopped (a
	// hot reload): it resumes there even without a checkpoint file.
	Carried *Carried
}

// Carried is where an input stopped, and when.
type Carried struct {
	Positions map[string]Position
	Stopped   time.Time
}

// Input captures the logs of every matching container for one configured
// instance.
type Input struct {
	cfg     config.Config
	docker  dockerapi.Docker
	closer  io.Closer // the Docker client Open made, or nil
	log     *slog.Logger
	metrics *metrics.Input

	ledger    *ledger.Ledger
	watcher   *logfile.Watcher // log files' changes; nil with source api, or no inotify
	buf       *handover.Buffer
	watchdog  *stream.Watchdog
	discovery *discovery.Discovery
	settings  stream.Settings
	sink      stream.Sink // the buffer

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Open starts an input: discovery runs at once, and records wait for
// Collect.
func Open(cfg config.Config, deps Deps) (*Input, error) {
	in, err := newInput(cfg, deps)
	if err != nil {
		return nil, err
	}
	in.start()
	return in, nil
}

// newInput wires an input's parts; start runs them.
func newInput(cfg config.Config, deps Deps) (*Input, error) {
	in := &Input{cfg: cfg, docker: deps.Docker, log: deps.Log, metrics: deps.Metrics}
	if in.docker == nil {
		c, err := dockerapi.NewClient(cfg)
		if err != nil {
			return nil, err
		}
		in.docker, in.closer = c, c
	}
	mem := deps.Memory
	if mem == nil {
		mem = handover.GoHeap{}
	}
	if in.metrics == nil {
		in.metrics = metrics.NewInput(cfg.InstanceName, cfg.MetricsContainerLabels)
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.ledger = ledger.Open(cfg.DB, cfg.DBFlushInterval, in.metrics, in.log)
	if c := deps.Carried; c != nil {
		in.ledger.Carry(c.Positions, c.Stopped)
	}
	in.buf = handover.New(cfg.BufferMaxSize, mem, in.ledger, in.metrics)
	in.sink = in.buf
	in.watchdog = stream.NewWatchdog(cfg.RotateInterval, in.metrics, in.log)
	in.settings = stream.Settings{
		Rotate: cfg.RotateInterval, MaxLineSize: cfg.MaxLineSize,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, Details: cfg.Details, HostName: cfg.HostName,
		Fields: record.Fields{LabelKeys: cfg.LabelKeys, ComposeSwarm: cfg.ComposeSwarmFields},
	}
	return in, nil
}

func (in *Input) start() {
	daemon := &dockerapi.Daemon{}
	resumed, savedAt := in.ledger.Resumed()
	in.discovery = discovery.New(discovery.Deps{
		Config: in.cfg, Docker: in.docker, Daemon: daemon,
		Stream: in.settings,
		Streams: &stream.Deps{
			Docker: in.docker, Source: in.source(),
			Daemon: daemon, Sink: in.sink, Watchdog: in.watchdog, Metrics: in.metrics, Log: in.log,
		},
		Ledger:  positions{in.buf, in.ledger},
		Metrics: in.metrics, Log: in.log, Resumed: resumed, SavedAt: savedAt,
	})
	metrics.Shared.Serve(in.cfg.MetricsListen, in.cfg.InstanceName, in.Health, in.log)
	in.wg.Go(func() { in.discovery.Run(in.ctx) })
	in.wg.Go(func() { in.watchdog.Run(in.ctx) })
	in.wg.Go(func() { in.ledger.Run(in.ctx) })
}

// source is where the input's streams read, as the source key says.
func (in *Input) source() stream.Source {
	api := stream.APISource{Docker: in.docker, MaxLineSize: in.cfg.MaxLineSize}
	if in.cfg.Source == stream.ModeAPI {
		return api
	}
	w, err := logfile.NewWatcher()
	if err != nil {
		in.log.Warn("no inotify: log files are polled every 250ms", "error", err)
	}
	in.watcher = w
	file := stream.FileSource{MaxLineSize: in.cfg.MaxLineSize, Watcher: w}
	switch in.cfg.Source {
	case stream.ModeFile:
		return file
	case stream.ModeAuto:
		return stream.AutoSource{API: api, File: file, Metrics: in.metrics, Logger: in.log}
	}
	return api
}

// positions is what discovery records in: the ledger, and the records
// still in the buffer for a container it forgets.
type positions struct {
	buf    *handover.Buffer
	ledger *ledger.Ledger
}

func (p positions) Seed(id string, pos Position) { p.ledger.Seed(id, pos) }
func (p positions) Forget(id string) {
	p.buf.Forget(id)
	p.ledger.Forget(id)
}

// Collect hands over the records encoded since the last call, as one block
// of deps.Memory that the caller owns, or nil when there is none. While
// streams are reading a backlog it first waits, at most 0.8 s, until they
// stop, so that the end of the backlog goes now instead of a collect later.
func (in *Input) Collect() []byte {
	in.buf.HoldForBacklog(in.ctx)
	return in.buf.Take()
}

// Pause stops reading from the daemon: streams wait where they are, the
// daemon keeps the lines, and Collect hands over less once unpaused
// (Fluent Bit pauses an input whose mem_buf_limit is hit).
func (in *Input) Pause() { in.buf.SetPaused(true) }

// Unpause lets the streams read again.
func (in *Input) Unpause() { in.buf.SetPaused(false) }

// Health reports whether the daemon answers and no stream is stalled; it is
// served on /healthz.
func (in *Input) Health() (bool, string) {
	if in.ctx.Err() != nil {
		return true, ""
	}
	if !in.discovery.Up() {
		return false, "Docker daemon unreachable"
	}
	if n := in.watchdog.Stalled(); n > 0 {
		return false, fmt.Sprintf("%d log streams stalled", n)
	}
	return true, ""
}

// Stop ends every stream and waits for every goroutine of the input; each
// blocks only on calls bound to its context, so this returns promptly.
// Records already encoded stay for Collect; Close saves their positions
// again after it. It is idempotent.
func (in *Input) Stop() {
	in.stopOnce.Do(func() {
		in.cancel()
		in.wg.Wait()
		in.watcher.Close() // its followers have ended
		in.ledger.Save()
		in.metrics.StreamsActive.Set(0)
		in.metrics.Watched.Set(0)
	})
}

// Close stops the input if need be, after its last Collect: it saves the
// positions handed over to the checkpoint, releases what Open took, and
// returns where it stopped, for the next instance of the same input.
func (in *Input) Close() Carried {
	in.Stop()
	in.ledger.Save()
	carried := Carried{Positions: in.ledger.Positions(), Stopped: time.Now()}
	if in.closer != nil {
		in.closer.Close()
	}
	metrics.Shared.Forget(in.cfg.InstanceName)
	metrics.Shared.Release()
	in.metrics.Close()
	return carried
}

// Package capture is the engine of the docker_logs input: it discovers
// containers, follows their logs through the Docker Engine API and encodes
// each line as a Fluent Bit record. It has no cgo; the plugin package only
// translates Fluent Bit's callbacks into calls on an Engine.
package capture

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"docker_logs/capture/checkpoint"
	"docker_logs/capture/config"
	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
)

// Position is where a container's log was handed over up to (see package
// resume, which decides how a stream resumes from it).
type Position = resume.Position

// Engine captures the logs of every matching container. Start it once; Stop
// is idempotent and returns when every goroutine it started has ended.
type Engine struct {
	cfg     config.Config
	docker  Docker
	log     *slog.Logger
	metrics *metrics.Input
	buf     *buffer
	selfID  string

	started time.Time      // when Start ran: "now" for read_from_head off
	catchUp time.Duration  // how long a stream may catch up on its position
	db      *checkpoint.DB // nil without the db key
	// initial positions come from the checkpoint or an engine before this
	// one (hot reload); resumedAt is when they were saved.
	initial   map[string]Position
	resumedAt time.Time

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	exited   chan tailerExit

	dockerUp atomic.Bool
	stalled  atomic.Int64
	// clockSkew is how far this host's clock is ahead of the daemon's, in
	// nanoseconds (clock.go).
	clockSkew atomic.Int64

	liveMu sync.Mutex
	live   map[*tailer]struct{} // running tailers; stallReported is under liveMu

	pauseMu sync.Mutex
	paused  bool
	resumed chan struct{} // closed while running
}

// New returns an engine that talks to the daemon through docker.
func New(cfg config.Config, docker Docker, log *slog.Logger, m *metrics.Input) *Engine {
	ctx, cancel := context.WithCancel(context.Background())
	resumed := make(chan struct{})
	close(resumed)
	e := &Engine{
		cfg: cfg, docker: docker, log: log, metrics: m,
		buf: newBuffer(cfg.BufferMaxSize, m),
		ctx: ctx, cancel: cancel, exited: make(chan tailerExit),
		resumed: resumed, live: map[*tailer]struct{}{}, initial: map[string]Position{},
		catchUp: catchUpLimit(cfg.RotateInterval),
	}
	if cfg.ExcludeSelf {
		e.selfID = ownContainerID()
	}
	e.loadCheckpoint()
	return e
}

// Start begins discovery; tailers follow as containers are found.
func (e *Engine) Start() {
	e.started = time.Now()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.supervise(e.ctx)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.watchdog(e.ctx)
	}()
	if e.db != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.flushCheckpoints(e.ctx)
		}()
	}
}

// Stop ends every stream and waits for every goroutine of the engine. Each
// of them blocks only on calls bound to the engine's context, so this
// returns promptly.
func (e *Engine) Stop() {
	e.stopOnce.Do(func() {
		e.cancel()
		e.wg.Wait()
		if e.db != nil {
			e.saveCheckpoint()
		}
		e.metrics.StreamsActive.Set(0)
		e.metrics.Watched.Set(0)
	})
}

// Collect hands every record encoded since the last call to handOver, which
// must copy them before it returns. It does nothing when there is none.
func (e *Engine) Collect(handOver func([]byte)) { e.buf.collect(handOver) }

// Pause stops reading from the daemon: tailers wait, streams stay where they
// are, the daemon keeps the lines. Resume undoes it.
func (e *Engine) Pause() { e.setPaused(true) }

// Resume lets the tailers read again.
func (e *Engine) Resume() { e.setPaused(false) }

func (e *Engine) setPaused(p bool) {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if p == e.paused {
		return
	}
	e.paused = p
	if p {
		e.resumed = make(chan struct{})
		e.metrics.Paused.Set(1)
	} else {
		close(e.resumed)
		e.metrics.Paused.Set(0)
	}
	e.buf.setPaused(p)
}

// waitRunning returns when the engine is not paused, or ctx ends.
func (e *Engine) waitRunning(ctx context.Context) error {
	e.pauseMu.Lock()
	ch := e.resumed
	e.pauseMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Health reports whether the daemon answers; it is served on /healthz.
func (e *Engine) Health() (bool, string) {
	if e.ctx.Err() != nil {
		return true, ""
	}
	if !e.dockerUp.Load() {
		return false, "Docker daemon unreachable"
	}
	if n := e.stalled.Load(); n > 0 {
		return false, fmt.Sprintf("%d log streams stalled", n)
	}
	return true, ""
}

func (e *Engine) setDockerUp(up bool) {
	e.dockerUp.Store(up)
	if up {
		e.metrics.DockerUp.Set(1)
	} else {
		e.metrics.DockerUp.Set(0)
	}
}

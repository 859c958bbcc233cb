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

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"docker_logs/capture/checkpoint"
	"docker_logs/capture/config"
	"docker_logs/capture/metrics"
)

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

// Positions returns each container's position as handed to Fluent Bit.
func (e *Engine) Positions() map[string]Position { return e.buf.deliveredPositions() }

type tailerExit struct {
	id  string
	pos Position
}

// tailerHandle is the supervisor's view of a running tailer.
type tailerHandle struct {
	t       *tailer
	cancel  context.CancelFunc
	restart bool // the container started again while the tailer was ending
	gone    bool // the container was removed
}

// supervise discovers containers and owns the set of tailers: it alone
// starts them, and it learns of their end through e.exited.
func (e *Engine) supervise(ctx context.Context) {
	s := &supervisor{
		e: e, tailers: map[string]*tailerHandle{}, positions: map[string]Position{},
		names: map[string]string{},
	}
	for id, p := range e.initial {
		s.positions[id] = p
	}
	defer s.stopAll()
	b := newBackoff(250*time.Millisecond, 10*time.Second)
	up := true
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, inspectTimeout)
		_, err := e.docker.Ping(pctx)
		cancel()
		if err != nil {
			e.setDockerUp(false)
			if up && ctx.Err() == nil {
				e.log.Error("Docker daemon unreachable; retrying with backoff", "docker_host", e.cfg.DockerHost, "error", err)
			}
			up = false
			if s.wait(ctx, &b) != nil {
				return
			}
			continue
		}
		if !up {
			e.log.Info("Docker daemon reachable again", "docker_host", e.cfg.DockerHost)
		}
		up = true
		e.setDockerUp(true)
		if s.watch(ctx) {
			b.reset()
		}
		if ctx.Err() != nil {
			return
		}
		e.metrics.Reconnects.Inc()
		if s.wait(ctx, &b) != nil {
			return
		}
	}
}

type supervisor struct {
	e       *Engine
	tailers map[string]*tailerHandle
	// positions of containers without a running tailer, to resume from,
	// and the names their series carry.
	positions map[string]Position
	names     map[string]string
	// listed is set once a first list has succeeded: containers seen by it
	// existed before the plugin and are read from e.started, the time the
	// plugin started (not of that list, which may come later), unless
	// read_from_head is on.
	listed bool
}

// wait sleeps for the backoff while still reaping tailers that end.
func (s *supervisor) wait(ctx context.Context, b *backoff) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.wait(wctx) }()
	for {
		select {
		case err := <-done:
			return err
		case x := <-s.e.exited:
			s.reap(ctx, x)
		}
	}
}

// watch follows the events stream and re-lists on a timer. It returns when
// the events stream fails or ctx ends, reporting whether it had been up.
func (s *supervisor) watch(ctx context.Context) (wasUp bool) {
	e := s.e
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribed := time.Now()
	msgs, errs := e.docker.Events(ectx, events.ListOptions{
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType))),
	})
	// Subscribed first, listed second: nothing starts unseen in between.
	if err := s.resync(ctx); err != nil {
		return false
	}
	resync := time.NewTicker(e.cfg.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case m := <-msgs:
			s.handleEvent(ctx, m)
		case err := <-errs:
			if ctx.Err() == nil {
				// docker_up follows the next ping, not the events stream.
				e.metrics.Error(metrics.ReasonEvents)
				e.log.Warn("Docker events stream ended; reconnecting", "error", err)
			}
			// A stream refused or closed at once was never up: back off
			// rather than subscribe and list again four times a second.
			return time.Since(subscribed) >= time.Second
		case <-resync.C:
			s.resync(ctx)
		case x := <-e.exited:
			s.reap(ctx, x)
		}
	}
}

func (s *supervisor) handleEvent(ctx context.Context, m events.Message) {
	id := m.Actor.ID
	switch m.Action {
	case events.ActionStart:
		if h, ok := s.tailers[id]; ok {
			h.restart = true // its old stream is ending; follow the new run
			return
		}
		s.list(ctx, filters.NewArgs(filters.Arg("id", id)))
	case events.ActionRename:
		if h, ok := s.tailers[id]; ok {
			old := h.t.containerName()
			h.t.rename(trimSlash(m.Actor.Attributes["name"]))
			s.e.metrics.ForgetContainer(old)
		}
	case events.ActionDestroy:
		s.forget(id)
	}
}

// resync lists every container: it starts tailers for running ones that have
// none and forgets the positions of containers that no longer exist.
func (s *supervisor) resync(ctx context.Context) error {
	ids, err := s.list(ctx, filters.NewArgs())
	if err != nil {
		return err
	}
	for id := range s.positions {
		if _, ok := ids[id]; !ok {
			s.forget(id)
		}
	}
	return nil
}

// list lists containers matching f (all states) and starts a tailer for each
// running one that passes the filters. It returns every ID it saw.
func (s *supervisor) list(ctx context.Context, f filters.Args) (map[string]bool, error) {
	lctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	cs, err := s.e.docker.ContainerList(lctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		if ctx.Err() == nil {
			s.e.metrics.Error(metrics.ReasonList)
			s.e.log.Warn("listing containers failed", "error", err)
		}
		return nil, err
	}
	first := !s.listed
	s.listed = true
	ids := make(map[string]bool, len(cs))
	for _, c := range cs {
		ids[c.ID] = true
		if _, ok := s.positions[c.ID]; first && !ok && s.existedBefore(c) {
			s.positions[c.ID] = Position{TS: s.e.started.UnixNano()}
		}
		if c.State != "running" || s.tailers[c.ID] != nil || !s.wanted(c) {
			continue
		}
		s.start(ctx, c.ID)
	}
	return ids, nil
}

// existedBefore reports whether a container found by the first listing, and
// without a saved position, is read from now: unless read_from_head is on,
// and unless it was created after the positions were saved (while the
// plugin was down or reloading), when all of its lines are new.
func (s *supervisor) existedBefore(c container.Summary) bool {
	if s.e.cfg.ReadFromHead {
		return false
	}
	return s.e.resumedAt.IsZero() || time.Unix(c.Created+1, 0).Before(s.e.resumedAt) // Created is in whole seconds
}

func (s *supervisor) wanted(c container.Summary) bool {
	if c.ID == s.e.selfID {
		return false
	}
	name := ""
	if len(c.Names) > 0 {
		name = trimSlash(c.Names[0])
	}
	return s.e.cfg.Match(name, c.Image, c.Labels)
}

func (s *supervisor) start(ctx context.Context, id string) {
	tctx, cancel := context.WithCancel(ctx)
	from := s.positions[id]
	t := newTailer(s.e, id, from)
	delete(s.positions, id)
	delete(s.names, id)
	s.e.buf.seed(map[string]Position{id: from})
	s.tailers[id] = &tailerHandle{t: t, cancel: cancel}
	s.e.metrics.Watched.Set(float64(len(s.tailers)))
	s.e.wg.Add(1)
	go func() {
		defer s.e.wg.Done()
		defer cancel()
		pos := t.run(tctx)
		select {
		case s.e.exited <- tailerExit{id: id, pos: pos}:
		case <-ctx.Done():
		}
	}()
}

// reap records where an ended tailer stopped, and follows the container
// again if it restarted meanwhile.
func (s *supervisor) reap(ctx context.Context, x tailerExit) {
	h, ok := s.tailers[x.id]
	if !ok {
		return
	}
	delete(s.tailers, x.id)
	s.e.metrics.Watched.Set(float64(len(s.tailers)))
	if h.gone {
		// Forgotten while ending: its last rotation may have come after.
		s.e.metrics.ForgetContainer(h.t.containerName())
		return
	}
	s.positions[x.id] = x.pos
	s.names[x.id] = h.t.containerName()
	if h.restart {
		s.list(ctx, filters.NewArgs(filters.Arg("id", x.id)))
	}
}

// forget drops everything kept for a container that no longer exists.
func (s *supervisor) forget(id string) {
	if h, ok := s.tailers[id]; ok {
		h.cancel()
		h.gone = true // its series go when it has ended (reap)
	} else if name, ok := s.names[id]; ok {
		s.e.metrics.ForgetContainer(name)
	}
	delete(s.positions, id)
	delete(s.names, id)
	s.e.buf.forget(id)
}

func (s *supervisor) stopAll() {
	for _, h := range s.tailers {
		h.cancel()
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

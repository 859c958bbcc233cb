// Package discovery finds the containers to follow, by listing and by the
// daemon's events, and owns the tailer of each: starts, restarts, ends.
package discovery

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"docker_logs/capture/config"
	"docker_logs/capture/dockerapi"
	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
	"docker_logs/capture/stream"
)

// Positions is where discovery records which containers are followed.
type Positions interface {
	// Seed remembers where a newly followed container starts.
	Seed(id string, p resume.Position)
	// Forget drops a removed container's positions.
	Forget(id string)
}

// Deps are what discovery works with.
type Deps struct {
	Config  config.Config
	Docker  dockerapi.Docker
	Daemon  *dockerapi.Daemon
	Streams *stream.Deps    // given to every tailer
	Stream  stream.Settings // likewise
	Ledger  Positions
	Metrics *metrics.Input
	Log     *slog.Logger
	// Resumed are the positions saved by an earlier run, at SavedAt (zero
	// when none were).
	Resumed map[string]resume.Position
	SavedAt time.Time
}

// Discovery keeps one tailer running for each container that passes the
// filters, from its start until it stops or is removed.
type Discovery struct {
	d       Deps
	selfID  string
	started time.Time // when Run began: "now" for read_from_head off
	up      atomic.Bool

	exited  chan tailerExit
	tailers sync.WaitGroup
	// Owned by Run's goroutine.
	running map[string]*tailerHandle
	// positions of containers without a running tailer, to resume from,
	// and the names their series carry.
	positions map[string]resume.Position
	names     map[string]string
	// ignored are containers not read until they start again: TTY ones
	// while stdout is not selected, and those whose logs cannot be read.
	ignored map[string]error
	// unreadable holds the containers reported unreadable, so each is
	// reported once.
	unreadable map[string]bool
	// excluded are the containers whose labels opt out.
	excluded map[string]bool
	inotify  *inotifyWatch
	// waiting counts the tailers of containers not started yet
	// (tailerHandle.created): they hold no follow.
	waiting int
	// saved are the containers with a position from before this run.
	saved map[string]bool
	// listed is set once a first list has succeeded: containers seen by it
	// existed before the plugin (see initialPosition).
	listed bool
	// preexisting are stopped containers without a position that an
	// inspect showed were created before the plugin started (a creation
	// time does not change: one inspect tells).
	preexisting map[string]bool
	// eventsLost is when the events stream was last known to deliver
	// before it ended, until the list after a new subscription: events
	// from then on may be missed.
	eventsLost time.Time
}

// New returns the discovery of an input; Run starts it.
func New(d Deps) *Discovery {
	s := &Discovery{
		d: d, exited: make(chan tailerExit), running: map[string]*tailerHandle{},
		positions: map[string]resume.Position{}, names: map[string]string{}, ignored: map[string]error{},
		unreadable: map[string]bool{}, saved: map[string]bool{}, excluded: map[string]bool{}, preexisting: map[string]bool{},
		inotify: newInotifyWatch(d.Config.DockerHost, inotifyPath, d.Metrics, d.Log),
	}
	for id, p := range d.Resumed {
		s.positions[id] = p
		s.saved[id] = true
	}
	if d.Config.ExcludeSelf {
		s.selfID = ownContainerID()
	}
	return s
}

// Up reports whether the daemon answered the last ping.
func (s *Discovery) Up() bool { return s.up.Load() }

func (s *Discovery) setUp(up bool) {
	s.up.Store(up)
	if up {
		s.d.Metrics.DockerUp.Set(1)
	} else {
		s.d.Metrics.DockerUp.Set(0)
	}
}

// podmanAPIWarning: with source api on Podman, positions stand on whole
// seconds and a follow stream can skip a line (docs/design.md#engines).
const podmanAPIWarning = "Podman's logs API stamps whole seconds and can skip a line where a stream's backlog meets its live lines: on Podman's host, source file or auto reads its log files exactly"

// Run discovers containers until ctx ends, and returns once every tailer
// it started has ended.
func (s *Discovery) Run(ctx context.Context) {
	s.started = time.Now()
	defer s.tailers.Wait()
	defer s.stopAll()
	b := dockerapi.NewBackoff(250*time.Millisecond, 10*time.Second)
	up, podmanWarned := true, false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
		_, err := s.d.Docker.Ping(pctx, client.PingOptions{})
		cancel()
		if err != nil {
			s.setUp(false)
			if up && ctx.Err() == nil {
				s.d.Log.Error("Docker daemon unreachable; retrying with backoff", "docker_host", s.d.Config.DockerHost, "error", err)
			}
			up = false
			if s.wait(ctx, &b) != nil {
				return
			}
			continue
		}
		if !up {
			s.d.Log.Info("Docker daemon reachable again", "docker_host", s.d.Config.DockerHost)
		}
		up = true
		s.d.Daemon.Refresh(ctx, s.d.Docker, s.d.Config.DockerHost, s.d.Log)
		if !podmanWarned && s.d.Config.Source == "api" && s.d.Daemon.Engine().Podman() {
			podmanWarned = true
			s.d.Log.Warn(podmanAPIWarning, "docker_host", s.d.Config.DockerHost)
		}
		s.setUp(true)
		if s.watch(ctx) {
			b.Reset()
		}
		if ctx.Err() != nil {
			return
		}
		if s.eventsLost.IsZero() {
			// No list has followed a subscription yet: what ran since the
			// start is unseen.
			s.eventsLost = s.started
		}
		s.d.Metrics.Reconnects.Inc()
		if s.wait(ctx, &b) != nil {
			return
		}
	}
}

// wait sleeps for the backoff while still reaping tailers that end.
func (s *Discovery) wait(ctx context.Context, b *dockerapi.Backoff) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Wait(wctx) }()
	for {
		select {
		case err := <-done:
			return err
		case x := <-s.exited:
			s.reap(ctx, x)
		}
	}
}

// watch follows the events stream and re-lists on a timer. It returns when
// the events stream fails or ctx ends, reporting whether it had been up.
func (s *Discovery) watch(ctx context.Context) (wasUp bool) {
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribed := time.Now()
	ev := s.d.Docker.Events(ectx, client.EventsListOptions{
		Filters: make(client.Filters).Add("type", string(events.ContainerEventType)),
	})
	// Subscribed first, listed second: nothing starts unseen in between.
	if err := s.resync(ctx); err != nil {
		return false
	}
	s.eventsLost = time.Time{}
	// heard is when the stream was last known to deliver: a connection
	// that died quietly is noticed late, and an earlier loss only costs
	// an inspect more (positions keep lines from coming twice).
	heard := subscribed
	resync := time.NewTicker(s.d.Config.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case m := <-ev.Messages:
			heard = time.Now()
			s.handleEvent(ctx, m)
		case err := <-ev.Err:
			s.eventsLost = heard
			if ctx.Err() == nil {
				// docker_up follows the next ping, not the events stream.
				s.d.Metrics.Error(metrics.ReasonEvents)
				s.d.Log.Warn("Docker events stream ended; reconnecting", "error", err)
			}
			// A stream refused or closed at once was never up: back off
			// rather than subscribe and list again four times a second.
			return time.Since(subscribed) >= time.Second
		case <-resync.C:
			s.resync(ctx)
		case x := <-s.exited:
			s.reap(ctx, x)
		}
	}
}

func (s *Discovery) handleEvent(ctx context.Context, m events.Message) {
	id := m.Actor.ID
	s.d.Log.Debug("container event", "container_id", stream.ShortID(id), "action", m.Action, "followed", s.running[id] != nil)
	switch m.Action {
	case events.ActionCreate:
		// Its tailer inspects it now, before the daemon starts it: at the
		// start event an inspect waits while the daemon starts it, and
		// while a short run ends.
		if c, ok := s.fromEvent(m); ok && s.running[id] == nil {
			c.State = container.StateCreated
			s.consider(ctx, c, false, true)
		}
	case events.ActionStart:
		delete(s.ignored, id) // a new run may be readable
		if h, ok := s.running[id]; ok {
			h.t.Started(m.TimeNano) // a tailer waiting on a created container follows now
			if h.created {
				s.runStarted(h)
				return
			}
			h.restart = true // its old stream is ending; follow the new run
			return
		}
		if c, ok := s.fromEvent(m); ok {
			s.consider(ctx, c, false, true)
			return
		}
		s.list(ctx, make(client.Filters).Add("id", id), true)
	case events.ActionRename:
		if h, ok := s.running[id]; ok {
			old := h.t.Name()
			h.t.Rename(stream.TrimSlash(m.Actor.Attributes[attrName]))
			s.d.Metrics.ForgetContainer(old)
		}
	case events.ActionDie:
		if h, ok := s.running[id]; ok {
			h.t.Died() // a follow of its file ends at the file's end
		}
	case events.ActionDestroy, events.ActionRemove: // Podman's word for it
		s.forget(id)
	}
}

// resync lists every container: it starts tailers for running ones that have
// none and forgets the positions of containers that no longer exist.
func (s *Discovery) resync(ctx context.Context) error {
	ids, err := s.list(ctx, nil, false)
	if err != nil {
		return err
	}
	for id := range s.positions {
		if _, ok := ids[id]; !ok {
			s.forget(id)
		}
	}
	for id := range s.excluded {
		if _, ok := ids[id]; !ok {
			s.forget(id)
		}
	}
	for id := range s.preexisting {
		if _, ok := ids[id]; !ok {
			delete(s.preexisting, id)
		}
	}
	for id, h := range s.running {
		if !ids[id] {
			// Removed unseen: one waiting for its start inspects it, finds
			// it gone, and ends (whether discovery knew it waited or not).
			h.t.Started(0)
		}
	}
	return nil
}

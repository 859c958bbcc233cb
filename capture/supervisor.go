package capture

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
)

type tailerExit struct {
	id  string
	pos Position
	err error // why it ended
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
		names: map[string]string{}, ignored: map[string]error{}, saved: map[string]bool{},
		unreadable: map[string]bool{},
	}
	for id, p := range e.initial {
		s.positions[id] = p
		s.saved[id] = true
	}
	defer s.stopAll()
	b := newBackoff(250*time.Millisecond, 10*time.Second)
	up := true
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, inspectTimeout)
		_, err := e.docker.Ping(pctx, client.PingOptions{})
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
		e.measureClockSkew(ctx)
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
	// ignored are containers not read until they start again: TTY ones
	// while stdout is not selected, and those whose logs cannot be read.
	ignored map[string]error
	// unreadable holds the containers reported unreadable, so each is
	// reported once.
	unreadable map[string]bool
	// saved are the containers with a position from before this engine.
	saved map[string]bool
	// listed is set once a first list has succeeded: containers seen by it
	// existed before the plugin (see initialPosition).
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
	ev := e.docker.Events(ectx, client.EventsListOptions{
		Filters: make(client.Filters).Add("type", string(events.ContainerEventType)),
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
		case m := <-ev.Messages:
			s.handleEvent(ctx, m)
		case err := <-ev.Err:
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
		delete(s.ignored, id) // a new run may be readable
		if h, ok := s.tailers[id]; ok {
			h.restart = true // its old stream is ending; follow the new run
			return
		}
		s.list(ctx, make(client.Filters).Add("id", id))
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
	ids, err := s.list(ctx, nil)
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
func (s *supervisor) list(ctx context.Context, f client.Filters) (map[string]bool, error) {
	lctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	res, err := s.e.docker.ContainerList(lctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		if ctx.Err() == nil {
			s.e.metrics.Error(metrics.ReasonList)
			s.e.log.Warn("listing containers failed", "error", err)
		}
		return nil, err
	}
	first := !s.listed
	s.listed = true
	ids := make(map[string]bool, len(res.Items))
	for _, c := range res.Items {
		ids[c.ID] = true
		if _, ok := s.positions[c.ID]; first && !ok {
			if p, ok := s.initialPosition(ctx, c); ok {
				s.positions[c.ID] = p
			}
		}
		if s.tailers[c.ID] != nil || s.ignored[c.ID] != nil || !s.wanted(c) {
			continue
		}
		switch {
		case c.State == "running":
			s.start(ctx, c.ID, 0)
		case first && s.saved[c.ID]:
			// It stopped while the plugin was down, or before its last
			// lines were handed over: its tailer reads what it wrote after
			// its position, and ends with the log.
			s.start(ctx, c.ID, 0)
		case first && !s.e.resumedAt.IsZero():
			// It had no position when they were saved; it may have run
			// while the plugin was down.
			s.start(ctx, c.ID, s.e.onDaemonClock(s.e.resumedAt))
		}
	}
	return ids, nil
}

// initialPosition is where a container found by the first listing, and
// without a saved position, is read from; false for its first line.
//   - read_from_head on: its first line.
//   - Positions were saved (a checkpoint, or a hot reload): a container
//     created after that is read from its first line; one that existed then
//     had no position because it did not run, so it is read from when they
//     were saved (lines it wrote while the plugin was down are new).
//   - Otherwise: a running container from now, and a stopped one from when
//     the plugin started (its next run's lines are all new).
func (s *supervisor) initialPosition(ctx context.Context, c container.Summary) (Position, bool) {
	e := s.e
	switch {
	case e.cfg.ReadFromHead:
		return Position{}, false
	case !e.resumedAt.IsZero():
		saved := e.onDaemonClock(e.resumedAt)
		if s.createdBefore(ctx, c, saved) {
			return resume.FromTime(saved), true
		}
		return Position{}, false
	case c.State == "running":
		return resume.FromNow(e.onDaemonClock(e.started)), true
	}
	return resume.FromTime(e.onDaemonClock(e.started)), true
}

// createdBefore reports whether the container was created before ts (the
// daemon's clock, Unix nanoseconds). A listing gives whole seconds; within
// that second the inspect's time decides, and a container it cannot tell is
// taken as created after (its whole log is read: nothing is lost).
func (s *supervisor) createdBefore(ctx context.Context, c container.Summary, ts int64) bool {
	switch {
	case time.Unix(c.Created+1, 0).UnixNano() <= ts:
		return true
	case time.Unix(c.Created, 0).UnixNano() > ts:
		return false
	}
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	res, err := s.e.docker.ContainerInspect(ictx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return false
	}
	created, err := time.Parse(time.RFC3339Nano, res.Container.Created)
	return err == nil && created.UnixNano() < ts
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

// start follows a container. A stopped one whose run ended before
// ranSince (daemon's clock, Unix nanoseconds; 0 for none) wrote nothing new:
// its tailer ends after the inspect.
func (s *supervisor) start(ctx context.Context, id string, ranSince int64) {
	tctx, cancel := context.WithCancel(ctx)
	from := s.positions[id]
	t := newTailer(s.e, id, from)
	t.ranSince = ranSince
	delete(s.positions, id)
	delete(s.names, id)
	if ranSince == 0 {
		// Remembered even if it never logs. One looked at only because it
		// may have run while the plugin was down is not: the save time
		// covers it, and it is only inspected again at the next start.
		s.e.buf.seed(map[string]Position{id: from.Durable()})
	}
	s.tailers[id] = &tailerHandle{t: t, cancel: cancel}
	s.e.metrics.Watched.Set(float64(len(s.tailers)))
	s.e.wg.Add(1)
	go func() {
		defer s.e.wg.Done()
		defer cancel()
		pos, err := t.run(tctx)
		select {
		case s.e.exited <- tailerExit{id: id, pos: pos, err: err}:
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
	switch x.err {
	case errUnreadable:
		if !s.unreadable[x.id] {
			s.unreadable[x.id] = true
			s.e.log.Warn("container's logs cannot be read (logging driver none, or one without the daemon's cache); trying again when it restarts",
				"container_id", shortID(x.id), "container_name", s.names[x.id])
			s.e.metrics.Unreadable.Set(float64(len(s.unreadable)))
		}
		fallthrough
	case errTTYNotWanted:
		s.ignored[x.id] = x.err
		return
	}
	if h.restart {
		s.list(ctx, make(client.Filters).Add("id", x.id))
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
	delete(s.ignored, id)
	if s.unreadable[id] {
		delete(s.unreadable, id)
		s.e.metrics.Unreadable.Set(float64(len(s.unreadable)))
	}
	s.e.buf.forget(id)
}

func (s *supervisor) stopAll() {
	for _, h := range s.tailers {
		h.cancel()
	}
}

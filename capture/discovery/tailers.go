package discovery

import (
	"context"

	"github.com/moby/moby/client"

	"docker_logs/capture/resume"
	"docker_logs/capture/stream"
)

type tailerExit struct {
	id  string
	pos resume.Position
	err error // why it ended
}

// tailerHandle is discovery's view of a running tailer.
type tailerHandle struct {
	t       *stream.Tailer
	cancel  context.CancelFunc
	restart bool // the container started again while the tailer was ending
	created bool // started at its create event, until its start (Started)
	gone    bool // the container was removed
}

// start follows a container. A stopped one whose run ended before
// ranSince (daemon's clock, Unix nanoseconds; 0 for none) wrote nothing new:
// its tailer ends after the inspect. waits says it has not started yet: its
// tailer waits for its start (one given a ranSince ends instead).
func (s *Discovery) start(ctx context.Context, id string, ranSince int64, waits bool) {
	tctx, cancel := context.WithCancel(ctx)
	from := s.positions[id]
	t := stream.New(id, from, ranSince, s.d.Stream, s.d.Streams)
	delete(s.positions, id)
	delete(s.names, id)
	if ranSince == 0 {
		// Remembered even if it never logs. One looked at only because it
		// may have run while the plugin was down is not: the save time
		// covers it, and it is only inspected again at the next start.
		s.d.Ledger.Seed(id, from.Durable())
	}
	h := &tailerHandle{t: t, cancel: cancel, created: waits && ranSince == 0}
	s.d.Log.Debug("following container", "container_id", stream.ShortID(id), "ran_since", ranSince, "waits", h.created)
	s.running[id] = h
	if h.created {
		s.waiting++
	}
	s.d.Metrics.Watched.Set(float64(len(s.running)))
	if ranSince == 0 {
		// One that may have run unseen is a stopped container: most end
		// after their inspect, without a follow for the daemon to watch.
		s.inotify.check(s.following())
	}
	s.tailers.Go(func() {
		defer cancel()
		pos, err := t.Run(tctx)
		select {
		case s.exited <- tailerExit{id: id, pos: pos, err: err}:
		case <-ctx.Done():
		}
	})
}

// reap records where an ended tailer stopped, and follows the container
// again if it restarted meanwhile.
func (s *Discovery) reap(ctx context.Context, x tailerExit) {
	h, ok := s.running[x.id]
	if !ok {
		return
	}
	delete(s.running, x.id)
	s.d.Log.Debug("container's tailer ended", "container_id", stream.ShortID(x.id), "error", x.err, "restart", h.restart, "gone", h.gone)
	if h.created {
		s.waiting--
	}
	s.d.Metrics.Watched.Set(float64(len(s.running)))
	if h.gone {
		// Forgotten while ending: its last rotation may have come after.
		s.d.Metrics.ForgetContainer(h.t.Name())
		return
	}
	s.positions[x.id] = x.pos
	s.names[x.id] = h.t.Name()
	switch x.err {
	case stream.ErrUnreadable:
		if !s.unreadable[x.id] {
			s.unreadable[x.id] = true
			s.d.Log.Warn("container's logs cannot be read (logging driver none, or one without the daemon's cache); trying again when it restarts",
				"container_id", stream.ShortID(x.id), "container_name", s.names[x.id])
			s.d.Metrics.Unreadable.Set(float64(len(s.unreadable)))
		}
		fallthrough
	case stream.ErrTTYNotWanted:
		s.ignored[x.id] = x.err
		return
	}
	if h.restart {
		s.list(ctx, make(client.Filters).Add("id", x.id), true)
	}
}

// runStarted marks a tailer that waited for its container's start as no
// longer waiting: its follow counts toward the daemon's inotify instances.
func (s *Discovery) runStarted(h *tailerHandle) {
	h.created = false
	s.waiting--
	s.inotify.check(s.following())
}

// following is how many tailers follow a container that has started.
func (s *Discovery) following() int { return len(s.running) - s.waiting }

// forget drops everything kept for a container that no longer exists.
func (s *Discovery) forget(id string) {
	if h, ok := s.running[id]; ok {
		h.cancel()
		h.gone = true // its series go when it has ended (reap)
	} else if name, ok := s.names[id]; ok {
		s.d.Metrics.ForgetContainer(name)
	}
	delete(s.positions, id)
	delete(s.names, id)
	delete(s.ignored, id)
	delete(s.preexisting, id)
	s.setExcluded(id, false)
	if s.unreadable[id] {
		delete(s.unreadable, id)
		s.d.Metrics.Unreadable.Set(float64(len(s.unreadable)))
	}
	s.d.Ledger.Forget(id)
}

func (s *Discovery) stopAll() {
	for _, h := range s.running {
		h.cancel()
	}
}

package discovery

import (
	"context"
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

// list lists containers matching f (all states) and considers each (see
// consider); started says it lists one for its start event. It returns
// every ID it saw.
func (s *Discovery) list(ctx context.Context, f client.Filters, started bool) (map[string]bool, error) {
	lctx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
	defer cancel()
	res, err := s.d.Docker.ContainerList(lctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		if ctx.Err() == nil {
			s.d.Metrics.Error(metrics.ReasonList)
			s.d.Log.Warn("listing containers failed", "error", err)
		}
		return nil, err
	}
	first := !s.listed
	s.listed = true
	ids := make(map[string]bool, len(res.Items))
	for _, c := range res.Items {
		ids[c.ID] = true
		if h := s.running[c.ID]; h != nil && !stream.NotStarted(c.State) {
			if h.created {
				s.runStarted(h)
			}
			// Its start event may have been missed. A tailer that waits
			// unmarked (its inspect saw a start-less state the list does
			// not name) wakes too; one that follows ignores it.
			h.t.Started(0)
		}
		if h := s.running[c.ID]; h != nil && runEnded(c.State) {
			h.t.Died() // its die event may have been missed (a reconnect)
		}
		if _, ok := s.positions[c.ID]; first && !ok {
			if p, ok := s.initialPosition(ctx, c); ok {
				s.positions[c.ID] = p
			}
		}
		s.consider(ctx, c, first, started)
	}
	return ids, nil
}

// consider starts a tailer for a container a list or its start event gave,
// if it passes the filters, is not opted out and needs one; started says
// it was given for a start event, first that the first list gave it.
func (s *Discovery) consider(ctx context.Context, c container.Summary, first, started bool) {
	if s.running[c.ID] != nil || s.ignored[c.ID] != nil || !s.wanted(c) {
		return
	}
	if config.OptOutOf(c.Labels).All {
		s.setExcluded(c.ID, true)
		return
	}
	// A container not started yet: its tailer inspects it now and waits
	// for its start.
	waits := stream.NotStarted(c.State)
	switch {
	case c.State == "running", started:
		// Given for its start or create event: a run that already ended
		// (a short-lived container) is read to the end of its log.
		s.start(ctx, c.ID, 0, waits)
	case first && s.saved[c.ID]:
		// It stopped while the plugin was down, or before its last
		// lines were handed over: its tailer reads what it wrote after
		// its position, and ends with the log.
		s.start(ctx, c.ID, 0, waits)
	case first && !s.d.SavedAt.IsZero() && waits:
		// Not started yet: its tailer waits for its start.
		s.start(ctx, c.ID, 0, true)
	case first && !s.d.SavedAt.IsZero():
		// It had no position when they were saved; it may have run
		// while the plugin was down.
		s.start(ctx, c.ID, s.d.Daemon.OnDaemonClock(s.d.SavedAt), false)
	case s.mayHaveRunUnseen(c):
		// Its start event may have come while the events stream was
		// down: its tailer reads what the event would have had read
		// (after its position; one never read, from its first line), or
		// ends after the inspect if its last run ended before that.
		s.start(ctx, c.ID, s.d.Daemon.OnDaemonClock(s.eventsLost), false)
	case s.ranUnseen(ctx, c):
		// Its start event never came: it ran before the daemon served
		// the events subscription (seconds, on a busy Podman), or while
		// it was reconnecting. Read to the end of its log, as that
		// event would have had it.
		s.start(ctx, c.ID, 0, waits)
	}
}

// runEnded reports whether a listed container's state is that of a run
// that has ended: not created, running, paused or restarting (Podman's
// "stopped" included).
func runEnded(state container.ContainerState) bool {
	return state == container.StateExited || state == container.StateDead || state == "stopped"
}

// mayHaveRunUnseen reports whether a stopped container known from before
// (read, or created before the plugin started) is listed after events were
// lost.
func (s *Discovery) mayHaveRunUnseen(c container.Summary) bool {
	_, read := s.positions[c.ID]
	return (read || s.preexisting[c.ID]) && !s.eventsLost.IsZero() && !stream.NotStarted(c.State)
}

// ranUnseen reports whether a stopped container was created after the
// plugin started and was never read: no tailer left a position for it.
func (s *Discovery) ranUnseen(ctx context.Context, c container.Summary) bool {
	if _, read := s.positions[c.ID]; read || stream.NotStarted(c.State) || s.preexisting[c.ID] {
		return false
	}
	if !s.createdBefore(ctx, c, s.d.Daemon.OnDaemonClock(s.started)) {
		return true
	}
	s.preexisting[c.ID] = true
	return false
}

// fromEvent is the container a create or start event describes: Docker
// and Podman give its labels as the event's attributes, beside its name and
// image, so it needs no list. False when the event lacks them, or when a
// label filter names a key those two attributes would hide.
func (s *Discovery) fromEvent(m events.Message) (container.Summary, bool) {
	a := m.Actor.Attributes
	name, ok := a[attrName]
	if !ok || s.d.Config.FiltersLabel(attrName) || s.d.Config.FiltersLabel(attrImage) {
		return container.Summary{}, false
	}
	labels := make(map[string]string, len(a))
	for k, v := range a {
		if k != attrName && k != attrImage {
			labels[k] = v
		}
	}
	return container.Summary{ID: m.Actor.ID, Names: []string{"/" + name}, Image: a[attrImage], Labels: labels}, true
}

// The attributes of a container event that are not its labels.
const (
	attrName  = "name"
	attrImage = "image"
)

// setExcluded counts a container its labels opt out, or no longer.
func (s *Discovery) setExcluded(id string, excluded bool) {
	if s.excluded[id] == excluded {
		return
	}
	if excluded {
		s.excluded[id] = true
	} else {
		delete(s.excluded, id)
	}
	s.d.Metrics.Excluded.Set(float64(len(s.excluded)))
}

// initialPosition is where a container found by the first listing, and
// without a saved position, is read from; false for its first line.
//   - read_from_head on: its first line.
//   - Positions were saved (a checkpoint, or a hot reload): a container
//     created after that is read from its first line; one that existed then
//     had no position because it did not run, so it is read from when they
//     were saved (lines it wrote while the plugin was down are new).
//   - Created after the plugin started (the first list can come seconds
//     late on a busy daemon): its first line, as its start event would.
//   - Otherwise: a running container from now, and a stopped one from when
//     the plugin started (its next run's lines are all new).
func (s *Discovery) initialPosition(ctx context.Context, c container.Summary) (resume.Position, bool) {
	clock := s.d.Daemon
	started := clock.OnDaemonClock(s.started)
	switch {
	case s.d.Config.ReadFromHead:
		return resume.Position{}, false
	case !s.d.SavedAt.IsZero():
		saved := clock.OnDaemonClock(s.d.SavedAt)
		if s.createdBefore(ctx, c, saved) {
			return resume.FromTime(saved), true
		}
		return resume.Position{}, false
	case !s.createdBefore(ctx, c, started):
		return resume.Position{}, false
	case c.State == "running":
		return resume.FromNow(started), true
	}
	return resume.FromTime(started), true
}

// createdBefore reports whether the container was created before ts (the
// daemon's clock, Unix nanoseconds). A listing gives whole seconds; within
// that second the inspect's time decides, and a container it cannot tell is
// taken as created after (its whole log is read: nothing is lost).
func (s *Discovery) createdBefore(ctx context.Context, c container.Summary, ts int64) bool {
	switch {
	case time.Unix(c.Created+1, 0).UnixNano() <= ts:
		return true
	case time.Unix(c.Created, 0).UnixNano() > ts:
		return false
	}
	ictx, cancel := context.WithTimeout(ctx, dockerapi.RequestTimeout)
	defer cancel()
	res, err := s.d.Docker.ContainerInspect(ictx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return false
	}
	created, err := time.Parse(time.RFC3339Nano, res.Container.Created)
	return err == nil && created.UnixNano() < ts
}

// wanted reports whether the container passes the filters and is not the
// one Fluent Bit runs in (exclude_self).
func (s *Discovery) wanted(c container.Summary) bool {
	if c.ID == s.selfID {
		return false
	}
	name := ""
	if len(c.Names) > 0 {
		name = stream.TrimSlash(c.Names[0])
	}
	return s.d.Config.Match(name, c.Image, c.Labels)
}

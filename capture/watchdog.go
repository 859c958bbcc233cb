package capture

import (
	"context"
	"time"
)

// stallGrace is how long past its deadline a stream may run before the
// watchdog reports it, unless it is reading a backlog; and how far behind
// now its entries must be for a backlog. Streams end at their deadline by
// construction, or run on while they get on through a backlog; one that
// does neither is still catching up on its position (the daemon scanning)
// or stuck.
func stallGrace(rotate time.Duration) time.Duration { return max(5*time.Second, rotate/5) }

// watchdog checks every open stream once a second and reports those older
// than rotate_interval plus the grace that have not reached their position,
// or have read nothing within the grace: an error log line per stalled
// stream, the streams_stalled gauge, and /healthz.
func (e *Engine) watchdog(ctx context.Context) {
	limit := e.cfg.RotateInterval + stallGrace(e.cfg.RotateInterval)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			stalled := 0
			e.liveMu.Lock()
			for t := range e.live {
				start := t.streamStart.Load()
				if ts := t.lastTS.Load(); ts != t.wdTS {
					t.wdTS, t.wdProgress = ts, now
				}
				progressing := t.reached.Load() && now.Sub(t.wdProgress) < stallGrace(e.cfg.RotateInterval)
				isStalled := start != 0 && now.Sub(time.Unix(0, start)) > limit && !progressing
				if isStalled {
					stalled++
				}
				if isStalled != t.stallReported {
					t.stallReported = isStalled
					if isStalled {
						e.log.Error("log stream stalled: open longer than rotate_interval plus grace, and not reading",
							"container_id", shortID(t.id), "container_name", t.containerName(),
							"open_for", now.Sub(time.Unix(0, start)).Round(time.Second), "limit", limit)
					}
				}
			}
			e.liveMu.Unlock()
			e.stalled.Store(int64(stalled))
			e.metrics.Stalled.Set(float64(stalled))
		}
	}
}

// register and unregister keep the set of running tailers the watchdog
// looks at.
func (e *Engine) register(t *tailer) {
	e.liveMu.Lock()
	e.live[t] = struct{}{}
	e.liveMu.Unlock()
}

func (e *Engine) unregister(t *tailer) {
	e.liveMu.Lock()
	delete(e.live, t)
	e.liveMu.Unlock()
}

package stream

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"docker_logs/capture/metrics"
)

// watched is what a tailer shows the watchdog and its rotation, written by
// its goroutine and read by theirs.
type watched struct {
	// openedAt is when the current stream was opened (Unix nanoseconds;
	// 0 when none is open).
	openedAt atomic.Int64
	// lastTS is the timestamp of the last entry read, and reached says
	// the stream has reached its position: they tell a stream reading a
	// backlog from a stuck one.
	lastTS  atomic.Int64
	reached atomic.Bool
	// rotationTS is lastTS when the rotation last looked.
	rotationTS atomic.Int64
}

// Watchdog checks every open stream of an input once a second and reports
// those older than rotate_interval plus the grace that have not reached
// their position, or have read nothing within the grace: an error log line
// per stalled stream, the streams_stalled gauge, and Stalled.
type Watchdog struct {
	rotate  time.Duration
	metrics *metrics.Input
	log     *slog.Logger
	stalled atomic.Int64

	mu   sync.Mutex
	live map[*Tailer]*verdict
}

// verdict is the watchdog's own record of one tailer.
type verdict struct {
	reported   bool // its stall was logged
	lastTS     int64
	progressAt time.Time // when lastTS last moved
}

// NewWatchdog returns the watchdog of streams that rotate every rotate.
func NewWatchdog(rotate time.Duration, m *metrics.Input, log *slog.Logger) *Watchdog {
	return &Watchdog{rotate: rotate, metrics: m, log: log, live: map[*Tailer]*verdict{}}
}

// Stalled is how many streams were stalled at the last check.
func (w *Watchdog) Stalled() int { return int(w.stalled.Load()) }

func (w *Watchdog) add(t *Tailer) {
	w.mu.Lock()
	w.live[t] = &verdict{}
	w.mu.Unlock()
}

func (w *Watchdog) remove(t *Tailer) {
	w.mu.Lock()
	delete(w.live, t)
	w.mu.Unlock()
}

// Run checks the streams until ctx ends.
func (w *Watchdog) Run(ctx context.Context) {
	grace := stallGrace(w.rotate)
	limit := w.rotate + grace
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			stalled := 0
			w.mu.Lock()
			for t, v := range w.live {
				start := t.watch.openedAt.Load()
				if ts := t.watch.lastTS.Load(); ts != v.lastTS {
					v.lastTS, v.progressAt = ts, now
				}
				progressing := t.watch.reached.Load() && now.Sub(v.progressAt) < grace
				isStalled := start != 0 && now.Sub(time.Unix(0, start)) > limit && !progressing
				if isStalled {
					stalled++
				}
				if isStalled != v.reported {
					v.reported = isStalled
					if isStalled {
						w.log.Error("log stream stalled: open longer than rotate_interval plus grace, and not reading",
							"container_id", ShortID(t.id), "container_name", t.Name(),
							"open_for", now.Sub(time.Unix(0, start)).Round(time.Second), "limit", limit)
					}
				}
			}
			w.mu.Unlock()
			w.stalled.Store(int64(stalled))
			w.metrics.Stalled.Set(float64(stalled))
		}
	}
}

package capture

// Where positions come from and go to: the checkpoint file (db), and the
// engine before this one at a hot reload.

import (
	"context"
	"time"

	"docker_logs/capture/checkpoint"
)

// Positions returns each container's position as handed to Fluent Bit.
func (e *Engine) Positions() map[string]Position { return e.buf.deliveredPositions() }

// loadCheckpoint reads the positions saved by an earlier run, if any.
func (e *Engine) loadCheckpoint() {
	if e.cfg.DB == "" {
		return
	}
	e.db = checkpoint.New(e.cfg.DB)
	saved, when, warning := e.db.Load()
	if warning != nil {
		e.log.Warn(warning.Error())
	}
	for id, p := range saved {
		e.initial[id] = p
	}
	e.resumedAt = when
	e.buf.seed(e.initial)
	// Written even with no position: the file records when this run
	// stopped, which is where a container without a position resumes.
	e.buf.markDirty()
	if len(saved) > 0 {
		e.log.Info("resuming from checkpoint", "db", e.cfg.DB, "containers", len(saved))
	}
}

// ResumeFrom gives the engine the positions an earlier engine of the same
// input handed over, when it stopped at the given time: a hot reload keeps
// its place this way even without a checkpoint file. Call it before Start.
// They win over the checkpoint's, which cannot be newer.
func (e *Engine) ResumeFrom(positions map[string]Position, stopped time.Time) {
	durable := make(map[string]Position, len(positions))
	for id, p := range positions {
		durable[id] = p.Durable()
		e.initial[id] = durable[id]
	}
	if stopped.After(e.resumedAt) {
		e.resumedAt = stopped
	}
	e.buf.replace(durable)
}

// flushCheckpoints writes the delivered positions every db.flush_interval
// while they change, and keeps the lag gauge current.
func (e *Engine) flushCheckpoints(ctx context.Context) {
	tick := time.NewTicker(min(time.Second, e.cfg.DBFlushInterval))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(last) >= e.cfg.DBFlushInterval {
				e.saveCheckpoint()
				last = now
			}
			e.metrics.CheckpointLag.Set(e.buf.checkpointLag(now).Seconds())
		}
	}
}

// saveCheckpoint writes the delivered positions if they changed.
func (e *Engine) saveCheckpoint() {
	positions, dirty := e.buf.takeDirty()
	if !dirty {
		return
	}
	if err := e.db.Save(positions); err != nil {
		e.metrics.CheckpointErrors.Inc()
		e.buf.markDirty()
		e.log.Error("writing checkpoint failed; will retry", "db", e.cfg.DB, "error", err)
		return
	}
	e.metrics.CheckpointWrites.Inc()
	e.metrics.CheckpointLag.Set(e.buf.checkpointLag(time.Now()).Seconds())
}

// SaveCheckpoint writes the delivered positions to the db, if one is set
// and they changed. Stop saves too, but a stopped engine may still hand its
// buffered records over: call this after the instance's last Collect, so
// a restart does not deliver them again.
func (e *Engine) SaveCheckpoint() {
	if e.db != nil {
		e.saveCheckpoint()
	}
}

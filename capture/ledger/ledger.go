// Package ledger owns each container's position from handed over to saved:
// the positions Fluent Bit has, and the checkpoint file that keeps them.
package ledger

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"docker_logs/capture/metrics"
	"docker_logs/capture/resume"
)

// Position is the one position type (package resume decides how a stream
// resumes from it).
type Position = resume.Position

// Ledger holds the delivered position of every container: where the
// records handed to Fluent Bit end. With a checkpoint file it loads them at
// the start and writes them every flush interval while they change.
type Ledger struct {
	file     *File // nil without the db key
	interval time.Duration
	metrics  *metrics.Input
	log      *slog.Logger

	// resumed are the positions this run starts from (the checkpoint's,
	// or an earlier instance's at a hot reload), saved at savedAt.
	resumed map[string]Position
	savedAt time.Time

	mu        sync.Mutex
	delivered map[string]Position
	// dirtySince is when delivered first changed after the last write;
	// zero when the checkpoint is current.
	dirtySince time.Time
}

// Open returns the ledger of the checkpoint at path ("" for none), flushed
// every interval, with the positions it holds.
func Open(path string, interval time.Duration, m *metrics.Input, log *slog.Logger) *Ledger {
	l := &Ledger{interval: interval, metrics: m, log: log, resumed: map[string]Position{}, delivered: map[string]Position{}}
	if path == "" {
		return l
	}
	l.file = NewFile(path)
	saved, when, warning := l.file.Load()
	if warning != nil {
		log.Warn(warning.Error())
	}
	maps.Copy(l.resumed, saved)
	maps.Copy(l.delivered, saved)
	l.savedAt = when
	// Written even with no position: the file records when this run
	// stopped, which is where a container without a position resumes.
	l.touch()
	if len(saved) > 0 {
		log.Info("resuming from checkpoint", "db", path, "containers", len(saved))
	}
	return l
}

// Carry takes the positions an earlier instance of the same input handed
// over when it stopped: a hot reload keeps its place this way even without
// a checkpoint file. They win over the checkpoint's, which cannot be newer.
func (l *Ledger) Carry(positions map[string]Position, stopped time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, p := range positions {
		l.resumed[id] = p.Durable()
		l.delivered[id] = p.Durable()
	}
	if stopped.After(l.savedAt) {
		l.savedAt = stopped
	}
	if len(positions) > 0 {
		l.touch()
	}
}

// Resumed returns the positions this run starts from and when they were
// saved (zero when there were none).
func (l *Ledger) Resumed() (map[string]Position, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.resumed), l.savedAt
}

// Deliver makes the positions of a handed-over batch delivered and clears
// the batch.
func (l *Ledger) Deliver(batch []*resume.Pending) {
	if len(batch) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range batch {
		l.delivered[p.ID] = p.Pos
		p.Queued = false
		batch[i] = nil
	}
	l.touch()
}

// Seed records where a newly followed container starts, unless it has a
// position already, so a container that never logs is still remembered.
func (l *Ledger) Seed(id string, p Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.delivered[id]; !ok {
		l.delivered[id] = p
		l.touch()
	}
}

// Forget drops a removed container's position.
func (l *Ledger) Forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.delivered[id]; ok {
		delete(l.delivered, id)
		l.touch()
	}
}

// Positions returns a copy of the delivered positions.
func (l *Ledger) Positions() map[string]Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.delivered)
}

func (l *Ledger) touch() {
	if l.dirtySince.IsZero() {
		l.dirtySince = time.Now()
	}
}

// Run writes the checkpoint every flush interval while the positions
// change, and keeps the lag gauge current, until ctx ends.
func (l *Ledger) Run(ctx context.Context) {
	if l.file == nil {
		return
	}
	tick := time.NewTicker(min(time.Second, l.interval))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(last) >= l.interval {
				l.Save()
				last = now
			}
			l.metrics.CheckpointLag.Set(l.lag(now).Seconds())
		}
	}
}

// Save writes the delivered positions to the checkpoint, if there is one
// and they changed; a failed write is retried at the next.
func (l *Ledger) Save() {
	if l.file == nil {
		return
	}
	l.mu.Lock()
	if l.dirtySince.IsZero() {
		l.mu.Unlock()
		return
	}
	l.dirtySince = time.Time{}
	positions := maps.Clone(l.delivered)
	l.mu.Unlock()
	if err := l.file.Save(positions); err != nil {
		l.metrics.CheckpointErrors.Inc()
		l.mu.Lock()
		l.touch()
		l.mu.Unlock()
		l.log.Error("writing checkpoint failed; will retry", "db", l.file.path, "error", err)
		return
	}
	l.metrics.CheckpointWrites.Inc()
	l.metrics.CheckpointLag.Set(l.lag(time.Now()).Seconds())
}

// lag is the age of the oldest delivered position not yet written.
func (l *Ledger) lag(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dirtySince.IsZero() {
		return 0
	}
	return now.Sub(l.dirtySince)
}

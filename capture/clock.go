package capture

import (
	"context"
	"fmt"
	"time"
)

// Docker stamps log lines with the daemon's clock. Telling a backlog from
// live lines compares those stamps with when the lines were read, on this
// host's clock, so the difference between the two clocks is measured: a
// remote daemon (docker_host tcp://...) or a VM may run seconds apart.

// clockSkew returns how far this host's clock is ahead of the daemon's,
// from the daemon's time (Info's SystemTime) read by a request sent at
// sent and answered at answered: the daemon's time is taken for the
// request's midpoint, so the error is at most half the round trip.
func clockSkew(sent, answered time.Time, systemTime string) (time.Duration, error) {
	daemon, err := time.Parse(time.RFC3339Nano, systemTime)
	if err != nil {
		return 0, fmt.Errorf("the daemon's SystemTime %q: %w", systemTime, err)
	}
	mid := sent.Add(answered.Sub(sent) / 2)
	return mid.Sub(daemon), nil
}

// largeSkew is a difference of clocks worth a warning: it makes the
// daemon's timestamps (time, positions with read_from_head off) that far
// off this host's.
const largeSkew = time.Second

const skewWarning = "the Docker daemon's clock differs from this host's: record times are the daemon's"

// measureClockSkew asks the daemon for its time and keeps the skew for the
// tailers. On failure it keeps the last one measured (0 at first: a local
// daemon shares this host's clock).
func (e *Engine) measureClockSkew(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	sent := time.Now()
	info, err := e.docker.Info(ictx)
	answered := time.Now()
	if err != nil {
		e.log.Debug("could not read the daemon's time; assuming its clock is this host's", "error", err)
		return
	}
	skew, err := clockSkew(sent, answered, info.SystemTime)
	if err != nil {
		e.log.Debug("could not read the daemon's time; assuming its clock is this host's", "error", err)
		return
	}
	if old := time.Duration(e.clockSkew.Swap(int64(skew))); skew.Abs() >= largeSkew && (old-skew).Abs() >= largeSkew {
		e.log.Warn(skewWarning,
			"docker_host", e.cfg.DockerHost, "host_ahead_by", skew.Round(100*time.Millisecond).String())
	}
}

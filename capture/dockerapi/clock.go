package dockerapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
)

// Docker stamps log lines with the daemon's clock. Where the engine compares
// those stamps with times of this host's clock (when a line was read, when
// the plugin started, when positions were saved), it allows for the
// difference between the two clocks, measured at each connection: a remote
// daemon (docker_host tcp://...) or a VM may run seconds apart.

// clockSkew returns how far this host's clock is ahead of the daemon's,
// from the daemon's time (Info's SystemTime) read by a request sent at
// sent and answered at answered: the daemon's time is taken for the
// request's midpoint, so the error is at most half the round trip. A
// difference below minSkew, or not larger than the round trip, is taken
// for none: a local daemon shares this host's clock exactly, and
// correcting it by a measurement's error would move times that were right.
func clockSkew(sent, answered time.Time, systemTime string) (time.Duration, error) {
	daemon, err := time.Parse(time.RFC3339Nano, systemTime)
	if err != nil {
		return 0, fmt.Errorf("the daemon's SystemTime %q: %w", systemTime, err)
	}
	rtt := answered.Sub(sent)
	skew := sent.Add(rtt / 2).Sub(daemon)
	if skew.Abs() < minSkew || skew.Abs() <= rtt {
		return 0, nil
	}
	return skew, nil
}

// minSkew is the least difference of clocks the engine allows for.
const minSkew = 100 * time.Millisecond

// Clock converts this host's times to the daemon's clock, by the
// difference last measured (Measure).
type Clock struct {
	skew atomic.Int64 // nanoseconds this host is ahead of the daemon
}

// OnDaemonClock is t, a time of this host's clock, on the daemon's clock
// that stamps the log lines, in Unix nanoseconds.
func (c *Clock) OnDaemonClock(t time.Time) int64 { return t.UnixNano() - c.skew.Load() }

// largeSkew is a difference of clocks worth a warning: records carry the
// daemon's timestamps, that far off this host's.
const largeSkew = time.Second

const skewWarning = "the Docker daemon's clock differs from this host's: record times are the daemon's"

// Measure asks the daemon for its time and keeps the skew. On failure it
// keeps the last one measured (0 at first: a local daemon shares this
// host's clock). host names the daemon in the warning of a large skew.
func (c *Clock) Measure(ctx context.Context, docker Docker, host string, log *slog.Logger) {
	ictx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	sent := time.Now()
	res, err := docker.Info(ictx, client.InfoOptions{})
	var skew time.Duration
	if err == nil {
		skew, err = clockSkew(sent, time.Now(), res.Info.SystemTime)
	}
	if err != nil {
		log.Debug("could not read the daemon's time; assuming its clock is this host's", "error", err)
		return
	}
	if old := time.Duration(c.skew.Swap(int64(skew))); skew.Abs() >= largeSkew && (old-skew).Abs() >= largeSkew {
		log.Warn(skewWarning,
			"docker_host", host, "host_ahead_by", skew.Round(100*time.Millisecond).String())
	}
}

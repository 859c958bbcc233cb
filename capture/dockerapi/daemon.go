package dockerapi

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
)

// Daemon is what the input knows of the daemon it reads, from its /info at
// every connection: how far its clock is from this host's, and its name.
type Daemon struct {
	skew atomic.Int64 // nanoseconds this host is ahead of the daemon
	name atomic.Pointer[string]
}

// OnDaemonClock is t, a time of this host's clock, on the daemon's clock
// that stamps the log lines, in Unix nanoseconds.
func (d *Daemon) OnDaemonClock(t time.Time) int64 { return t.UnixNano() - d.skew.Load() }

// Name is the daemon's host name (Info's Name), "" until it was read.
func (d *Daemon) Name() string {
	if n := d.name.Load(); n != nil {
		return *n
	}
	return ""
}

// Refresh reads the daemon's /info. On failure it keeps what it last read
// (at first: no skew, as a local daemon shares this host's clock, and no
// name). host names the daemon in the warning of a large skew.
func (d *Daemon) Refresh(ctx context.Context, docker Docker, host string, log *slog.Logger) {
	ictx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	sent := time.Now()
	res, err := docker.Info(ictx, client.InfoOptions{})
	if err != nil {
		log.Debug("could not read the daemon's /info; keeping its last clock and name", "error", err)
		return
	}
	if res.Info.Name != "" {
		d.name.Store(&res.Info.Name)
	}
	skew, err := clockSkew(sent, time.Now(), res.Info.SystemTime)
	if err != nil {
		log.Debug("could not read the daemon's time; assuming its clock is this host's", "error", err)
		return
	}
	if old := time.Duration(d.skew.Swap(int64(skew))); skew.Abs() >= largeSkew && (old-skew).Abs() >= largeSkew {
		log.Warn(skewWarning,
			"docker_host", host, "host_ahead_by", skew.Round(100*time.Millisecond).String())
	}
}

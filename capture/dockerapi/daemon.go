package dockerapi

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
)

// Daemon is what the input knows of the daemon it reads, from its /info and
// /version at every connection: how far its clock is from this host's, its
// name, and which engine it is.
type Daemon struct {
	skew   atomic.Int64 // nanoseconds this host is ahead of the daemon
	name   atomic.Pointer[string]
	root   atomic.Pointer[string] // Info's DockerRootDir
	engine atomic.Pointer[Engine]
}

// Engine is the engine that served the last /version; zero until one did.
func (d *Daemon) Engine() Engine {
	if e := d.engine.Load(); e != nil {
		return *e
	}
	return Engine{}
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

// JSONLogPath is where Docker's json-file driver writes container id's log,
// under the daemon's root: an inspect gives it only once the container has
// started. "" until /info gave the root, and on Podman (whose inspect gives
// it from the creation).
func (d *Daemon) JSONLogPath(id string) string {
	root := d.root.Load()
	if root == nil || *root == "" || d.Engine().Podman() || !filepath.IsAbs(*root) {
		return ""
	}
	return filepath.Join(*root, "containers", id, id+"-json.log")
}

// refreshEngine reads /version, with a deadline of its own: a slow answer
// leaves /info its whole time.
func (d *Daemon) refreshEngine(ctx context.Context, docker Docker, host string, log *slog.Logger) {
	vctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	v, err := docker.ServerVersion(vctx, client.ServerVersionOptions{})
	if err != nil {
		log.Debug("could not read the daemon's /version; keeping the engine last read", "error", err)
		return
	}
	e := engineOf(v)
	if old := d.engine.Swap(&e); old == nil || *old != e {
		log.Info("daemon's engine", "docker_host", host, "engine", e.Name, "version", e.Version, "api", e.API)
	}
}

// Refresh reads the daemon's /version and /info. On failure it keeps what
// it last read (at first: no skew, as a local daemon shares this host's
// clock, no name, no engine). host names the daemon in what it logs.
func (d *Daemon) Refresh(ctx context.Context, docker Docker, host string, log *slog.Logger) {
	d.refreshEngine(ctx, docker, host, log)
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
	d.root.Store(&res.Info.DockerRootDir)
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

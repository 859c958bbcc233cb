package discovery

import (
	"log/slog"
	"os"
	"strconv"
	"strings"

	"docker_logs/capture/metrics"
)

// inotifyPath holds the most inotify instances one user may hold. The
// daemon takes one for each followed log it watches (json-file, local);
// past the limit it polls the file instead, which costs CPU with every
// container. It is the limit of the host the plugin runs on, so it is
// the daemon's only when the daemon is local.
const inotifyPath = "/proc/sys/fs/inotify/max_user_instances"

// inotifyWatch warns when the followed containers pass the daemon's
// inotify limit, once each time they do.
type inotifyWatch struct {
	limit  int // 0 when unknown
	warned bool
	log    *slog.Logger
}

// newInotifyWatch reads the limit for a daemon at dockerHost, from path.
func newInotifyWatch(dockerHost, path string, m *metrics.Input, log *slog.Logger) *inotifyWatch {
	w := &inotifyWatch{log: log}
	if !strings.HasPrefix(dockerHost, "unix://") {
		log.Info("the daemon is remote: its inotify limit (fs.inotify.max_user_instances) cannot be read from here, and past it the daemon polls log files", "docker_host", dockerHost)
		return w
	}
	if b, err := os.ReadFile(path); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			w.limit = n
			m.SetInotifyLimit(n)
		}
	}
	return w
}

// check looks at the number of followed containers.
func (w *inotifyWatch) check(followed int) {
	switch {
	case w.limit == 0:
	case followed >= w.limit && !w.warned:
		w.warned = true
		w.log.Warn("following as many containers as the daemon's host allows inotify instances: the daemon polls the log files past that, which costs CPU with every container; raise it with sysctl -w fs.inotify.max_user_instances=8192 (and in /etc/sysctl.d/ to keep it)",
			"containers", followed, "fs.inotify.max_user_instances", w.limit)
	case followed < w.limit:
		w.warned = false
	}
}

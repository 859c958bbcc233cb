package discovery

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"docker_logs/capture/metrics"
)

func TestInotifyWarning(t *testing.T) {
	limitFile := filepath.Join(t.TempDir(), "max_user_instances")
	os.WriteFile(limitFile, []byte("128\n"), 0o644)
	tests := []struct {
		name     string
		host     string
		path     string
		followed []int // successive counts of followed containers
		warnings int
		info     bool // the line saying the limit cannot be known
	}{
		{"below the limit", "unix:///var/run/docker.sock", limitFile, []int{10, 127}, 0, false},
		{"passing it warns once", "unix:///var/run/docker.sock", limitFile, []int{100, 128, 300, 200}, 1, false},
		{"again after falling below", "unix:///var/run/docker.sock", limitFile, []int{128, 50, 129}, 2, false},
		{"a remote daemon: unknown, said once", "tcp://10.0.0.5:2376", limitFile, []int{1000}, 0, true},
		{"unreadable limit: no warning", "unix:///var/run/docker.sock", "/nonexistent/max_user_instances", []int{1000}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			log := slog.New(slog.NewTextHandler(&out, nil))
			m := metrics.NewInput("inotify_"+strings.ReplaceAll(tt.name, " ", "_"), true)
			defer m.Close()
			w := newInotifyWatch(tt.host, tt.path, m, log)
			for _, n := range tt.followed {
				w.check(n)
			}
			if got := strings.Count(out.String(), "level=WARN"); got != tt.warnings {
				t.Errorf("%d warnings, want %d:\n%s", got, tt.warnings, out.String())
			}
			if got := strings.Contains(out.String(), "cannot be read from here"); got != tt.info {
				t.Errorf("unknown-limit line logged %v, want %v", got, tt.info)
			}
		})
	}
}

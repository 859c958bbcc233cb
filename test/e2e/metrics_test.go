package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every metric the README documents, by exact name.
var documentedMetrics = []string{
	"docker_logs_records_total", "docker_logs_bytes_total",
	"docker_logs_stream_rotations_total", "docker_logs_stream_errors_total",
	"docker_logs_streams_active", "docker_logs_containers_watched", "docker_logs_streams_stalled",
	"docker_logs_lines_truncated_total", "docker_logs_buffer_bytes", "docker_logs_buffer_limit_bytes",
	"docker_logs_paused", "docker_logs_docker_up", "docker_logs_events_reconnects_total",
	"docker_logs_checkpoint_writes_total", "docker_logs_checkpoint_errors_total", "docker_logs_checkpoint_lag_seconds",
	"docker_logs_build_info", "go_goroutines", "process_open_fds", "process_resident_memory_bytes",
	"docker_logs_containers_unreadable", "docker_logs_resume_window_misses_total",
	"docker_logs_resume_since_scans_total", "docker_logs_replays_dropped_total",
	"docker_logs_log_messages_dropped_total",
}

// A scrape while the plugin captures shows every documented series, with
// values that follow what happened: records and bytes equal to the lines
// delivered, rotations after a known number of deadlines, errors after a
// planted fault, paused 1 then 0 around a pause.
func TestMetricsFollowCapture(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "docker_logs.db")
	h := startHost(t, []string{"include_names=" + prefix + "-*", "instance_name=metrics-test", "rotate_interval=1s",
		"buffer_max_size=8M", "db=" + db, "db.flush_interval=1s", "metrics_listen=" + addr})
	in := map[string]string{"input": "metrics-test"}
	lines := runLogger(t, prefix+"-lines", nil, "-n", "150", "-rate", "300", "-streams", "both")
	idle := prefix + "-idle"
	runLogger(t, idle, nil, "-n", "1")
	// The planted fault: logs that cannot be read.
	runLogger(t, prefix+"-nologs", []string{"--log-driver", "none"}, "-n", "0", "-rate", "1")

	recs := h.waitRecords(t, 30*time.Second, "all 300 lines", func(r []Record) bool { return countFor(r, lines) >= 300 })
	// The idle stream rotates at its deadline: 5 more rotations take at
	// least 4 s at rotate_interval 1s (fewer would mean early reopens) and
	// come within the deadline (more would mean rotation stalls).
	rotations := func() float64 {
		v, _ := metricValue(scrape(t, addr), "docker_logs_stream_rotations_total", map[string]string{"container_name": idle})
		return v
	}
	r0, start := rotations(), time.Now()
	var r1 float64
	if !eventually(20*time.Second, func() bool { r1 = rotations(); return r1-r0 >= 5 }) {
		t.Errorf("idle stream: %v rotations in %v at rotate_interval 1s, want 5", r1-r0, time.Since(start).Round(time.Second))
	} else if took := time.Since(start); took < 4*time.Second {
		t.Errorf("idle stream: %v rotations in %v at rotate_interval 1s: faster than the interval", r1-r0, took)
	}
	fams := scrape(t, addr)
	for _, name := range documentedMetrics {
		if _, ok := fams[name]; !ok {
			t.Errorf("metric %s missing from /metrics", name)
		}
	}
	recs = h.Records()
	byStream := map[string][2]float64{}
	for _, r := range recs {
		v := byStream[r.Body.Stream]
		byStream[r.Body.Stream] = [2]float64{v[0] + 1, v[1] + float64(len(r.Body.Log))}
	}
	for _, stream := range []string{"stdout", "stderr"} {
		want := byStream[stream]
		got, _ := metricValue(fams, "docker_logs_records_total", map[string]string{"input": "metrics-test", "stream": stream})
		bytes, _ := metricValue(fams, "docker_logs_bytes_total", map[string]string{"input": "metrics-test", "stream": stream})
		if got != want[0] || bytes != want[1] {
			t.Errorf("%s: records_total %v bytes_total %v, host received %v records of %v bytes", stream, got, bytes, want[0], want[1])
		}
	}
	expect := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"docker_logs_containers_unreadable", in, func(v float64) bool { return v == 1 }, "1 (logging driver none)"},
		{"docker_logs_stream_errors_total", map[string]string{"input": "metrics-test", "reason": "open"}, func(v float64) bool { return v == 0 }, "0 (an unreadable container is no error)"},
		{"docker_logs_containers_watched", in, func(v float64) bool { return v == 2 }, "2 (the unreadable one is not followed)"},
		{"docker_logs_streams_active", in, func(v float64) bool { return v == 2 }, "2 (the third cannot open)"},
		{"docker_logs_streams_stalled", in, func(v float64) bool { return v == 0 }, "0"},
		{"docker_logs_buffer_limit_bytes", in, func(v float64) bool { return v == 8<<20 }, "8 MiB"},
		{"docker_logs_docker_up", in, func(v float64) bool { return v == 1 }, "1"},
		{"docker_logs_paused", in, func(v float64) bool { return v == 0 }, "0"},
		{"docker_logs_checkpoint_writes_total", in, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"docker_logs_checkpoint_errors_total", in, func(v float64) bool { return v == 0 }, "0"},
		{"docker_logs_lines_truncated_total", in, func(v float64) bool { return v == 0 }, "0"},
		{"docker_logs_build_info", nil, func(v float64) bool { return v == 1 }, "1"},
	}
	for _, e := range expect {
		if v, found := metricValue(fams, e.name, e.labels); !found || !e.ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", e.name, e.labels, v, found, e.want)
		}
	}

	h.cmd.Process.Signal(syscall.SIGUSR1)
	h.waitStderr(t, "host: pause", 5*time.Second)
	if v, _ := metricValue(scrape(t, addr), "docker_logs_paused", in); v != 1 {
		t.Errorf("docker_logs_paused = %v while paused, want 1", v)
	}
	h.cmd.Process.Signal(syscall.SIGUSR2)
	h.waitStderr(t, "host: resume", 5*time.Second)
	if v, _ := metricValue(scrape(t, addr), "docker_logs_paused", in); v != 0 {
		t.Errorf("docker_logs_paused = %v after resume, want 0", v)
	}
}

type health struct {
	code int
	body struct {
		Status string            `json:"status"`
		Inputs map[string]string `json:"inputs"`
	}
}

func getHealth(t *testing.T, addr string) health {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	h := health{code: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&h.body); err != nil {
		t.Fatalf("/healthz body: %v", err)
	}
	return h
}

// /healthz answers 503 with the reason while dockerd is stopped, and 200
// again once it is back.
func TestHealthFollowsDaemon(t *testing.T) {
	addr := freeAddr(t)
	startHost(t, []string{"include_names=none-such", "metrics_listen=" + addr})
	var h health
	if !eventually(10*time.Second, func() bool { h = getHealth(t, addr); return h.code == 200 }) {
		t.Fatalf("/healthz %d %+v with the daemon up, want 200", h.code, h.body)
	}
	dockerdScript(t, "stop")
	t.Cleanup(func() { dockerdScript(t, "start") })
	if !eventually(20*time.Second, func() bool { h = getHealth(t, addr); return h.code == 503 }) {
		t.Fatalf("/healthz %d %+v with dockerd stopped, want 503", h.code, h.body)
	}
	if !strings.Contains(h.body.Inputs["docker_logs.0"], "unreachable") {
		t.Errorf("503 body %+v does not give the reason", h.body)
	}
	dockerdScript(t, "start")
	if !eventually(30*time.Second, func() bool { h = getHealth(t, addr); return h.code == 200 }) {
		t.Fatalf("/healthz %d %+v after dockerd came back, want 200", h.code, h.body)
	}
}

// Removing 50 containers removes their series; metrics_container_labels off
// keeps container names out of the series altogether.
func TestContainerSeriesFollowContainers(t *testing.T) {
	prefix := uniqueName(t)
	addr, addrNoLabels := freeAddr(t), freeAddr(t)
	startHost(t, []string{"include_names=" + prefix + "-*", "rotate_interval=1s", "metrics_listen=" + addr})
	ids := startLoggers(t, names(prefix, 50), nil, "-n", "1")
	count := func(addr string) map[string]int {
		out := map[string]int{}
		f, ok := scrape(t, addr)["docker_logs_stream_rotations_total"]
		if !ok {
			return out
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "container_name" {
					if strings.HasPrefix(l.GetValue(), prefix) {
						out["named"]++
					} else if l.GetValue() == "" {
						out["unnamed"]++
					}
				}
			}
		}
		return out
	}
	if !eventually(60*time.Second, func() bool { return count(addr)["named"] == 50 }) {
		t.Fatalf("%d rotation series for 50 containers", count(addr)["named"])
	}
	removeContainers(ids)
	if !eventually(30*time.Second, func() bool { return count(addr)["named"] == 0 }) {
		t.Fatalf("%d rotation series left after removing the containers", count(addr)["named"])
	}

	p2 := uniqueName(t)
	h2 := launchHost(t, hostArgs(200*time.Millisecond, []string{"include_names=" + p2 + "-*", "rotate_interval=1s",
		"metrics_container_labels=off", "metrics_listen=" + addrNoLabels})...)
	h2.waitStderr(t, "host: instance 0 running", 20*time.Second)
	startLoggers(t, names(p2, 3), nil, "-n", "1")
	if !eventually(30*time.Second, func() bool { return count(addrNoLabels)["unnamed"] == 1 }) {
		t.Fatalf("with metrics_container_labels off: %v", count(addrNoLabels))
	}
	for _, c := range []string{p2 + "-0", p2 + "-1", p2 + "-2"} {
		if _, found := metricValue(scrape(t, addrNoLabels), "docker_logs_stream_rotations_total", map[string]string{"container_name": c}); found {
			t.Errorf("series named %s with metrics_container_labels off", c)
		}
	}
}

// A metrics port that is taken is an error in the log, not a failed start.
func TestMetricsPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix, "metrics_listen=" + ln.Addr().String()})
	h.waitStderr(t, fmt.Sprintf("metrics endpoint disabled: cannot listen metrics_listen=%s", ln.Addr()), 5*time.Second)
	runLogger(t, prefix, nil, "-n", "5")
	h.waitRecords(t, 30*time.Second, "5 lines", func(r []Record) bool { return len(r) >= 5 })
}

// Containers that never write a line, beside one that writes a line a
// second, in the real Fluent Bit with rotate_interval 8s: past
// rotate_interval plus the watchdog's grace (13 s), /healthz stays 200,
// nothing is reported stalled or not reached, and every silent stream
// rotates on time.
func TestSilentContainersStayHealthy(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	var silent []string
	for i := range 3 {
		silent = append(silent, fmt.Sprintf("%s-silent-%d", prefix, i))
		runLogger(t, silent[i], nil, "-n", "0", "-delay", "24h")
	}
	h := startFluentBit(t, fbRun{inputs: [][]string{{"include_names=" + prefix + "-*", "rotate_interval=8s", "metrics_listen=" + addr}}})
	busy := runLogger(t, prefix+"-busy", nil, "-n", "0", "-rate", "1")
	// Sample health once a second for 20 s: two rotations of each stream,
	// and 7 s past the watchdog's limit.
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if hh := getHealth(t, addr); hh.code != http.StatusOK {
			t.Fatalf("/healthz %d %+v with silent containers", hh.code, hh.body)
		}
		if v, _ := metricValue(scrape(t, addr), "docker_logs_streams_stalled", nil); v != 0 {
			t.Fatalf("docker_logs_streams_stalled = %v with silent containers", v)
		}
	}
	fams := scrape(t, addr)
	for _, name := range silent {
		if v, _ := metricValue(fams, "docker_logs_stream_rotations_total", map[string]string{"container_name": name}); v < 2 {
			t.Errorf("silent container %s rotated %v times in 20 s at rotate_interval 8s, want 2", name, v)
		}
	}
	if v, _ := metricValue(fams, "docker_logs_stream_errors_total", map[string]string{"reason": "not_reached"}); v != 0 {
		t.Errorf("not_reached errors = %v, want 0", v)
	}
	if strings.Contains(h.stderr.String(), "log stream stalled") {
		t.Errorf("Fluent Bit logged a stalled stream:\n%s", tail(h.stderr.String(), 20))
	}
	stopContainers(t, busy)
	expectExactlyOnce(t, 30*time.Second, []string{busy}, h)
}

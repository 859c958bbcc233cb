package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"docker_logs/capture/dockerapi"
)

// goroutinesPerStream is the stated bound: the tailer, and the HTTP
// connection's read and write loops.
const goroutinesPerStream = 3

// procStats is what the tests read of the host process through /metrics.
type procStats struct{ goroutines, fds float64 }

func readProcStats(t *testing.T, addr string) procStats {
	t.Helper()
	fams := scrape(t, addr)
	g, _ := metricValue(fams, "go_goroutines", nil)
	f, _ := metricValue(fams, "process_open_fds", nil)
	return procStats{g, f}
}

// waitActive waits until the instance has n streams open.
func waitActive(t *testing.T, addr string, n int, timeout time.Duration) {
	t.Helper()
	var v float64
	if !eventually(timeout, func() bool {
		v, _ = metricValue(scrape(t, addr), "docker_logs_streams_active", nil)
		return v == float64(n)
	}) {
		t.Fatalf("docker_logs_streams_active = %v, want %d", v, n)
	}
}

// startLoggers starts n containers in parallel (docker run is slow on vfs).
func startLoggers(t *testing.T, names []string, dockerArgs []string, loggerArgs ...string) []string {
	t.Helper()
	ids := make([]string, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := exec.Command("docker", loggerRunArgs(name, dockerArgs, loggerArgs)...).CombinedOutput()
			if err != nil {
				t.Errorf("docker run %s: %v\n%s", name, err, out)
				return
			}
			ids[i] = strings.TrimSpace(string(out))
		}()
	}
	wg.Wait()
	t.Cleanup(func() { removeContainers(ids) })
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

func removeContainers(ids []string) {
	var live []string
	for _, id := range ids {
		if id != "" {
			live = append(live, id)
		}
	}
	for len(live) > 0 {
		n := min(len(live), 50)
		exec.Command("docker", append([]string{"rm", "-f"}, live[:n]...)...).Run()
		live = live[n:]
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// 36 containers (10 busy, 26 idle) with rotate_interval 2s for 60 s: every
// stream reopens at least 28 times, more than 1,000 rotations in all; lines
// flow with no gap; goroutines and FDs stay within the stated bounds and do
// not grow between the first and the last third of the run; the watchdog
// sees nothing stalled.
func TestRotationContinuityAndBounds(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "rotate_interval=2s", "metrics_listen=" + addr})
	base := readProcStats(t, addr)
	busy := startLoggers(t, names(prefix+"-busy", 10), nil, "-n", "0", "-rate", "50")
	idle := startLoggers(t, names(prefix+"-idle", 26), nil, "-n", "1")
	all := append(append([]string{}, busy...), idle...)
	waitActive(t, addr, len(all), 60*time.Second)

	const run = 60 * time.Second
	var samples []procStats
	start := time.Now()
	for time.Since(start) < run {
		samples = append(samples, readProcStats(t, addr))
		if v, _ := metricValue(scrape(t, addr), "docker_logs_streams_stalled", nil); v != 0 {
			t.Errorf("watchdog reports %v stalled streams", v)
		}
		time.Sleep(2 * time.Second)
	}
	fams := scrape(t, addr)
	total := 0.0
	for _, n := range append(names(prefix+"-busy", 10), names(prefix+"-idle", 26)...) {
		r, _ := metricValue(fams, "docker_logs_stream_rotations_total", map[string]string{"container_name": n})
		total += r
		if r < 28 {
			t.Errorf("%s: %v rotations in %v at rotate_interval 2s, want at least 28", n, r, run)
		}
	}
	if total < 1000 {
		t.Errorf("%v rotations in all, want at least 1000", total)
	}
	third := len(samples) / 3
	peak := func(s []procStats) procStats {
		var p procStats
		for _, x := range s {
			p.goroutines, p.fds = max(p.goroutines, x.goroutines), max(p.fds, x.fds)
		}
		return p
	}
	early, late := peak(samples[:third]), peak(samples[len(samples)-third:])
	t.Logf("%v rotations; base %v goroutines %v FDs; first third peak %+v, last third peak %+v",
		total, base.goroutines, base.fds, early, late)
	if late.goroutines > early.goroutines+2 || late.fds > early.fds+2 {
		t.Errorf("growth over the run: first third %+v, last third %+v", early, late)
	}
	if bound := base.goroutines + goroutinesPerStream*float64(len(all)) + 4; late.goroutines > bound {
		t.Errorf("%v goroutines with %d streams, over the bound %v (base %v + %d per stream)",
			late.goroutines, len(all), bound, base.goroutines, goroutinesPerStream)
	}
	if bound := base.fds + float64(len(all)) + 4; late.fds > bound {
		t.Errorf("%v FDs with %d streams, over the bound %v (base %v + 1 per stream)", late.fds, len(all), bound, base.fds)
	}
	stopContainers(t, busy...)
	expectExactlyOnce(t, 60*time.Second, busy, h)
}

// SIGTERM with 50 streams open on idle, busy and paused containers: the
// host exits within 2 s.
func TestShutdownWithBusyIdleAndPausedContainers(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "metrics_listen=" + addr})
	startLoggers(t, names(prefix+"-idle", 20), nil, "-n", "1")
	startLoggers(t, names(prefix+"-busy", 20), nil, "-n", "0", "-rate", "100")
	paused := startLoggers(t, names(prefix+"-paused", 10), nil, "-n", "0", "-rate", "10")
	waitActive(t, addr, 50, 60*time.Second)
	docker(t, append([]string{"pause"}, paused...)...)
	t.Cleanup(func() { exec.Command("docker", append([]string{"unpause"}, paused...)...).Run() })
	code, took := h.stop(t, syscall.SIGTERM)
	t.Logf("exit with 50 streams (20 idle, 20 busy, 10 paused) took %v", took)
	if code != 0 || took > 2*time.Second {
		t.Errorf("exit code %d after %v, want 0 within 2s", code, took)
	}
}

// A container whose logs cannot be read (logging driver none) is reported
// once and not retried until it restarts; others go on.
func TestUnreadableLogsReportedOnce(t *testing.T) {
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "metrics_listen=off"})
	noLogs := runLogger(t, prefix+"-none", []string{"--log-driver", "none"}, "-n", "0", "-rate", "10")
	ok := runLogger(t, prefix+"-ok", nil, "-n", "0", "-rate", "50")
	h.waitRecords(t, 30*time.Second, "lines of the readable container", func(r []Record) bool { return countFor(r, ok) >= 300 })
	reports := strings.Count(h.stderr.String(), "logs cannot be read")
	if reports != 1 || strings.Contains(h.stderr.String(), "log stream failed") {
		t.Errorf("%d failure reports for the unreadable container, want exactly 1:\n%s", reports, h.stderr.String())
	}
	if countFor(h.Records(), noLogs) != 0 {
		t.Error("records from a container with logging driver none")
	}
	stopContainers(t, ok)
	expectExactlyOnce(t, 30*time.Second, []string{ok}, h)
}

// 200 containers started and removed in waves: each one's lines come, and
// nothing is left for them: no stream, no watched container, no metric
// series, no checkpoint entry, no goroutine.
func TestContainerChurn(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "docker_logs.db")
	// At debug level the host's log traces each container's hand-off:
	// a failure shows the steps of the containers it names.
	h := startHost(t, []string{"include_names=" + prefix + "-*", "db=" + db, "db.flush_interval=1s",
		"resync_interval=2s", "metrics_listen=" + addr, "log_level=debug"})
	base := readProcStats(t, addr)
	for wave := 0; wave < 4; wave++ {
		wprefix := fmt.Sprintf("%s-w%d", prefix, wave)
		ids := startLoggers(t, names(wprefix, 50), nil, "-n", "3", "-after", "exit")
		if !eventually(60*time.Second, func() bool {
			recs := h.Records()
			for _, id := range ids {
				if countFor(recs, id) < 3 {
					return false
				}
			}
			return true
		}) {
			expectDaemonsLines(t, h, ids, wave)
		}
		removeContainers(ids)
	}
	var watched, active, series float64
	var left []string
	if !eventually(30*time.Second, func() bool {
		fams := scrape(t, addr)
		watched, _ = metricValue(fams, "docker_logs_containers_watched", nil)
		active, _ = metricValue(fams, "docker_logs_streams_active", nil)
		series = 0
		if f, ok := fams["docker_logs_stream_rotations_total"]; ok {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == "container_name" && strings.HasPrefix(l.GetValue(), prefix) {
						series++
					}
				}
			}
		}
		b, _ := os.ReadFile(db)
		left = nil
		for _, id := range strings.Split(string(b), "\"") {
			if hexID.MatchString(id) {
				left = append(left, id)
			}
		}
		return watched == 0 && active == 0 && series == 0 && len(left) == 0
	}) {
		t.Fatalf("after removing 200 containers: %v watched, %v streams, %v rotation series, %d checkpoint entries",
			watched, active, series, len(left))
	}
	// Connections kept for the next request close once idle for
	// dockerapi.IdleConnTimeout, whatever the daemon does.
	var after procStats
	settled := eventually(dockerapi.IdleConnTimeout+15*time.Second, func() bool {
		after = readProcStats(t, addr)
		return after.goroutines <= base.goroutines+3 && after.fds <= base.fds+3
	})
	t.Logf("goroutines %v -> %v, FDs %v -> %v after 200 containers came and went", base.goroutines, after.goroutines, base.fds, after.fds)
	if !settled {
		t.Errorf("left behind: goroutines %v -> %v, FDs %v -> %v", base.goroutines, after.goroutines, base.fds, after.fds)
	}
}

// 20 hot reloads in a row (SIGHUP: new register, old pre-exit and exit, new
// init) leave goroutines and FDs at their first-cycle values, and with the
// same db no line is lost or duplicated across them. Without a db, the
// positions live on in the process across reloads.
func TestHotReloads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		db      bool
		reloads int
	}{{"with db", true, 20}, {"positions in memory", false, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniqueName(t)
			addr := freeAddr(t)
			props := []string{"include_names=" + prefix + "-*", "metrics_listen=" + addr}
			if tc.db {
				props = append(props, "db="+filepath.Join(t.TempDir(), "docker_logs.db"))
			}
			h := startHost(t, props)
			ids := startLoggers(t, names(prefix, 3), nil, "-n", "0", "-rate", "100")
			waitActive(t, addr, 3, 30*time.Second)
			var first procStats
			for i := 1; i <= tc.reloads; i++ {
				n := len(h.Records())
				h.cmd.Process.Signal(syscall.SIGHUP)
				h.waitStderr(t, fmt.Sprintf("host: reload %d done", i), 20*time.Second)
				waitActive(t, addr, 3, 20*time.Second)
				h.waitRecords(t, 20*time.Second, "lines after the reload", func(r []Record) bool { return len(r) >= n+100 })
				s := readProcStats(t, addr)
				if i == 1 {
					first = s
				}
				if i == tc.reloads {
					t.Logf("after reload 1: %+v; after reload %d: %+v", first, i, s)
					if s.goroutines > first.goroutines+2 || s.fds > first.fds+2 {
						t.Errorf("%d reloads grew goroutines %v -> %v, FDs %v -> %v", i, first.goroutines, s.goroutines, first.fds, s.fds)
					}
				}
			}
			stopContainers(t, ids...)
			expectExactlyOnce(t, 60*time.Second, ids, h)
		})
	}
}

// Two instances in one host with different include_names get disjoint,
// correct records through their own context callbacks; pausing one does not
// stall the other.
// Host-only: it pauses with SIGUSR1 (Fluent Bit's own pause is
// TestPauseOfOneOfTwoInputs; two instances in Fluent Bit,
// TestExitSavesPositionsAfterTheLastCollect).
func TestTwoInstances(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	// -P 1: the last-initialised instance alone hits its mem_buf_limit.
	// (Fluent Bit's proxy stops that one's collector whichever instance is
	// paused, so only then can the other keep delivering.)
	h := launchHost(t, append([]string{"-P", "1"}, hostArgs(200*time.Millisecond,
		[]string{"include_names=" + prefix + "-a*", "instance_name=first", "metrics_listen=" + addr},
		[]string{"include_names=" + prefix + "-b*", "instance_name=second", "metrics_listen=" + addr})...)...)
	h.waitStderr(t, "host: instance 1 running", 20*time.Second)
	a := runLogger(t, prefix+"-a", nil, "-n", "0", "-rate", "100")
	b := runLogger(t, prefix+"-b", nil, "-n", "0", "-rate", "100")
	h.waitRecords(t, 30*time.Second, "lines on both instances", func(r []Record) bool {
		return countFor(r, a) >= 100 && countFor(r, b) >= 100
	})
	for _, r := range h.Records() {
		if want := map[string]int{a: 0, b: 1}[r.Body.ID]; r.Instance != want {
			t.Fatalf("record of %s came through instance %d, want %d", r.Body.Name, r.Instance, want)
		}
	}
	h.cmd.Process.Signal(syscall.SIGUSR1)
	h.waitStderr(t, "host: pause", 5*time.Second)
	// While one is paused, the other keeps delivering.
	counts := func() (int, int) { r := h.Records(); return countFor(r, a), countFor(r, b) }
	na, nb := counts()
	h.waitRecords(t, 10*time.Second, "lines on the running instance during the pause", func(r []Record) bool {
		ca, cb := countFor(r, a), countFor(r, b)
		return ca+cb >= na+nb+300
	})
	ca, cb := counts()
	t.Logf("during the pause: +%d records for %s, +%d for %s", ca-na, "a", cb-nb, "b")
	if ca-na < 100 && cb-nb < 100 {
		t.Errorf("both instances stalled during a pause of one")
	}
	fams := scrape(t, addr)
	p1, _ := metricValue(fams, "docker_logs_paused", map[string]string{"input": "first"})
	p2, _ := metricValue(fams, "docker_logs_paused", map[string]string{"input": "second"})
	if p1+p2 != 1 {
		t.Errorf("docker_logs_paused: first=%v second=%v, want exactly one paused", p1, p2)
	}
	h.cmd.Process.Signal(syscall.SIGUSR2)
	h.waitStderr(t, "host: resume", 5*time.Second)
	stopContainers(t, a, b)
	expectExactlyOnce(t, 30*time.Second, []string{a, b}, h)
}

// expectDaemonsLines fails unless each container of a churn wave that is
// short of its 3 lines has every line the daemon holds for it. A daemon
// can lose the output of a container that exits at once ("copy stream
// failed: reading from a closed fifo" in its log, moby#38086): no reader
// gets those lines, docker logs included.
func expectDaemonsLines(t *testing.T, h *Host, ids []string, wave int) {
	t.Helper()
	recs := h.Records()
	var lost []string
	for _, id := range ids {
		n := countFor(recs, id)
		if n >= 3 {
			continue
		}
		held := lineCount(t, id)
		if n >= held {
			t.Logf("wave %d: %.12s: the daemon holds %d of its 3 lines (docker logs), and all came", wave, id, held)
			continue
		}
		logLinesOf(t, h.stderr.String(), id[:12])
		lost = append(lost, fmt.Sprintf("%.12s: %d of %d", id, n, held))
	}
	if len(lost) > 0 {
		t.Fatalf("wave %d: %d of 50 containers without the lines the daemon holds after 60 s: %v", wave, len(lost), lost)
	}
}

// logLinesOf logs each line of the host's log that names a container, one
// test log line each.
func logLinesOf(t *testing.T, log, shortID string) {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, shortID) {
			t.Log(l)
		}
	}
}

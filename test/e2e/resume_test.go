package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// historyLines is the history written before the live lines of the long
// history tests (E2E_HISTORY overrides it).
func historyLines() int {
	if n, err := strconv.Atoi(os.Getenv("E2E_HISTORY")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// dockerdCPU returns the CPU seconds the engine under test's dockerd has
// used so far. It is found by its pidfile, beside its socket or the default
// one: two engines may run.
func dockerdCPU(t *testing.T) float64 {
	t.Helper()
	pidfile := "/var/run/docker.pid"
	if daemonSocket != "/var/run/docker.sock" {
		pidfile = filepath.Join(filepath.Dir(daemonSocket), "docker.pid")
	}
	out, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("dockerd not found: %v", err)
	}
	pid := strings.TrimSpace(string(out))
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// verdict words a target that a benchmark reports and no test fails on.
func verdict(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// lastLogLine returns the container's last log line.
func lastLogLine(t *testing.T, id string) string {
	t.Helper()
	out, _ := exec.Command("docker", "logs", "--tail", "1", id).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// firstLogLine returns the first log line Docker still holds.
func firstLogLine(t *testing.T, id string) string {
	t.Helper()
	cmd := exec.Command("docker", "logs", id)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	return strings.TrimSpace(line)
}

// waitLastLine waits until the container's last line contains want.
func waitLastLine(t *testing.T, id, want string, timeout time.Duration) {
	t.Helper()
	if !eventually(timeout, func() bool { return strings.Contains(lastLogLine(t, id), want) }) {
		t.Fatalf("container's last line %q, want one with %q", lastLogLine(t, id), want)
	}
}

// historyThenLive runs a container that writes n lines of history, then
// waits for /go and writes live lines: 150 at 5 lines/s. The local driver
// gets files large enough to hold it all: Engine 20.10 skips compressed
// rotated files that a since falls in when they were written within a few
// seconds, as this history is (docker logs --since shows the same).
func historyThenLive(t *testing.T, name, driver string, n int) string {
	t.Helper()
	script := fmt.Sprintf("/logger -n %d -id hist -after exit && until [ -e /go ]; do sleep 0.05; done && exec /logger -n 150 -rate 5 -id live", n)
	args := []string{"--log-driver", driver, "--entrypoint", "/bin/sh"}
	if driver == "local" {
		args = append(args, "--log-opt", "max-size=500m")
	}
	id := runLogger(t, name, args, "-c", script)
	waitLastLine(t, id, fmt.Sprintf("seq=%d stream=stdout id=hist", n), 10*time.Minute)
	return id
}

// A container with a long history and a few live lines: followed from now
// with short rotations, every live line arrives once and within seconds,
// and no history line comes; read from its head, every line comes once.
// The reopens ask the daemon for a window, so it does not scan the history
// again at every rotation. Read through the logs API (source api): these
// are its costs; a log file's reopen costs the daemon nothing.
func TestLongHistory(t *testing.T) {
	n := historyLines()
	for _, driver := range []string{"json-file", "local"} {
		t.Run(driver, func(t *testing.T) {
			prefix := uniqueName(t)
			id := historyThenLive(t, prefix, driver, n)
			addr := freeAddr(t)
			h := startHost(t, []string{"include_names=" + prefix, "source=api", "rotate_interval=2s", "read_from_head=off", "metrics_listen=" + addr})
			if !eventually(20*time.Second, func() bool {
				v, _ := metricValue(scrape(t, addr), "docker_logs_streams_active", nil)
				return v == 1
			}) {
				t.Fatal("the container's stream did not open")
			}
			cpu0, start := dockerdCPU(t), time.Now()
			docker(t, "exec", id, "touch", "/go")
			recs := h.waitRecords(t, 90*time.Second, "150 live lines", func(rs []Record) bool {
				return len(rs) > 0 && seqOf(rs[len(rs)-1].Body.Log) == 150 && idOf(rs[len(rs)-1].Body.Log) == "live"
			})
			window := time.Since(start)
			cpu := dockerdCPU(t) - cpu0
			var live []int
			worst := time.Duration(0)
			for _, r := range recs {
				if idOf(r.Body.Log) != "live" {
					t.Fatalf("a history line was delivered: %.80s", r.Body.Log)
				}
				live = append(live, seqOf(r.Body.Log))
				worst = max(worst, recordTime(t, r.Recv).Sub(recordTime(t, r.Time)))
			}
			checkExactlyOnce(t, "live lines", live, 1, 150)
			if worst > 5*time.Second {
				t.Errorf("a live line took %v to arrive, want a few seconds at most", worst)
			}
			fams := scrape(t, addr)
			rotations, _ := metricValue(fams, "docker_logs_stream_rotations_total", nil)
			scans, _ := metricValue(fams, "docker_logs_resume_since_scans_total", nil)
			if rotations < 10 {
				t.Errorf("%v rotations in %v at rotate_interval 2s, want at least 10", rotations, window)
			}
			if scans != 0 {
				t.Errorf("%v opens with since alone, want 0: every reopen is a window", scans)
			}
			t.Logf("%s, %d lines of history: dockerd used %.2f CPU-s over the %v of live lines (%v rotations; target under 4 s: %s); slowest live line %v",
				driver, n, cpu, window.Round(time.Second), rotations, verdict(cpu < 4), worst.Round(time.Millisecond))
			h.stop(t, syscall.SIGTERM)

			// The same container from its head: every line Docker still
			// holds, once (the local driver rotates its files by default:
			// 20 MB, 5 files).
			first := seqOf(firstLogLine(t, id))
			want := n - first + 1 + 150
			// Timed at Fluent Bit's cadence with the defaults, records
			// counted, not printed; beside one raw read of the same log.
			rawStart := time.Now()
			if err := exec.Command("sh", "-c", "docker logs --timestamps "+id+" >/dev/null 2>&1").Run(); err != nil {
				t.Fatalf("docker logs: %v", err)
			}
			raw := time.Since(rawStart)
			headStart := time.Now()
			timed := launchHost(t, append([]string{"-q", "-m", strconv.Itoa(want)},
				hostArgs(time.Second, []string{"include_names=" + prefix, "read_from_head=on", "metrics_listen=off"})...)...)
			if code := timed.waitExit(t, 5*time.Minute); code != 0 {
				t.Fatalf("timed host exited %d", code)
			}
			head := time.Since(headStart)
			t.Logf("%s, read from its head: %v through the plugin (1 s tick, defaults), %v for one raw read (docker logs): %.2fx",
				driver, head.Round(time.Millisecond), raw.Round(time.Millisecond), head.Seconds()/raw.Seconds())
			// Checked line by line, with records printed.
			h2 := startHost(t, []string{"include_names=" + prefix, "source=api", "rotate_interval=2s", "read_from_head=on", "metrics_listen=off"})
			recs = h2.waitRecords(t, 5*time.Minute, "the whole log", func(rs []Record) bool {
				return len(rs) >= want
			})
			var hist []int
			live = live[:0]
			for _, r := range recs {
				switch idOf(r.Body.Log) {
				case "hist":
					hist = append(hist, seqOf(r.Body.Log))
				case "live":
					live = append(live, seqOf(r.Body.Log))
				}
			}
			checkExactlyOnce(t, "history from the head", hist, first, n)
			checkExactlyOnce(t, "live lines from the head", live, 1, 150)
		})
	}
}

// Containers with long histories, the plugin restarted with a checkpoint
// while they write: every line written after the first start arrives once,
// and the restart's reopens cost the daemon little (source api).
func TestRestartWithLongHistories(t *testing.T) {
	const containers = 20
	history := min(historyLines()/5, 200_000)
	prefix := uniqueName(t)
	var ids []string
	for i := range containers {
		script := fmt.Sprintf("/logger -n %d -id hist -after exit && until [ -e /go ]; do sleep 0.05; done && exec /logger -n 400 -rate 20 -id live", history)
		ids = append(ids, runLogger(t, fmt.Sprintf("%s-%02d", prefix, i), []string{"--entrypoint", "/bin/sh"}, "-c", script))
	}
	for _, id := range ids {
		waitLastLine(t, id, fmt.Sprintf("seq=%d stream=stdout id=hist", history), 10*time.Minute)
	}
	db := filepath.Join(t.TempDir(), "positions.db")
	props := []string{"include_names=" + prefix + "-*", "source=api", "db=" + db, "db.flush_interval=1s", "metrics_listen=off"}
	h := startHost(t, props)
	for _, id := range ids {
		docker(t, "exec", id, "touch", "/go")
	}
	h.waitRecords(t, 60*time.Second, "live lines from every container", func(rs []Record) bool {
		seen := map[string]bool{}
		for _, r := range rs {
			seen[r.Body.Name] = true
		}
		return len(seen) == containers
	})
	h.stop(t, syscall.SIGTERM)
	first := h.Records()
	// Lines go on while the plugin is down: two seconds' worth.
	down := seqOf(lastLogLine(t, ids[0]))
	if !eventually(30*time.Second, func() bool { return seqOf(lastLogLine(t, ids[0])) >= down+40 }) {
		t.Fatal("the containers did not write on")
	}
	cpu0 := dockerdCPU(t)
	h2 := startHost(t, props)
	h2.waitRecords(t, 60*time.Second, "a record from every container", func(rs []Record) bool {
		seen := map[string]bool{}
		for _, r := range rs {
			seen[r.Body.Name] = true
		}
		return len(seen) == containers
	})
	reopenCPU := dockerdCPU(t) - cpu0
	for _, id := range ids {
		waitLastLine(t, id, "seq=400 stream=stdout id=live", 60*time.Second)
	}
	recs := h2.waitRecords(t, 60*time.Second, "every live line", func(rs []Record) bool {
		return len(first)+len(rs) >= containers*400
	})
	all := append(append([]Record{}, first...), recs...)
	for name, seqs := range sequences(all) {
		checkExactlyOnce(t, name.name, seqs, 1, 400)
	}
	t.Logf("%d containers × %d lines of history: dockerd used %.2f CPU-s from the restart until every container had delivered a line (target under 2 s: %s)",
		containers, history, reopenCPU, verdict(reopenCPU < 2))
}

// More lines are written while the plugin is down than its first window
// holds: the window misses, is widened or dropped for since alone, that is
// counted, and no line is lost or duplicated. Both drivers, source api.
func TestWindowTooSmallAfterRestart(t *testing.T) {
	for _, driver := range []string{"json-file", "local"} {
		t.Run(driver, func(t *testing.T) {
			prefix := uniqueName(t)
			id := runLogger(t, prefix, []string{"--log-driver", driver}, "-rate", "2000", "-streams", "both", "-n", "40000")
			db := filepath.Join(t.TempDir(), "positions.db")
			addr := freeAddr(t)
			props := []string{"include_names=" + prefix, "source=api", "db=" + db, "metrics_listen=" + addr}
			h := startHost(t, props)
			h.waitRecords(t, 30*time.Second, "some lines", func(rs []Record) bool { return len(rs) > 1000 })
			h.stop(t, syscall.SIGTERM)
			first := h.Records()
			down := seqOf(lastLogLine(t, id))
			// Down while more than a window's worth is written.
			if !eventually(60*time.Second, func() bool { return seqOf(lastLogLine(t, id)) > down+10000 }) {
				t.Fatal("the container did not write on")
			}
			h2 := startHost(t, props)
			waitLastLine(t, id, "seq=40000 ", 60*time.Second)
			recs := h2.waitRecords(t, 60*time.Second, "every line", func(rs []Record) bool {
				last := map[string]int{}
				for _, r := range rs {
					last[r.Body.Stream] = seqOf(r.Body.Log)
				}
				return last["stdout"] == 40000 && last["stderr"] == 40000
			})
			all := append(append([]Record{}, first...), recs...)
			for k, seqs := range sequences(all) {
				checkExactlyOnce(t, k.stream, seqs, seqs[0], 40000)
			}
			misses, _ := metricValue(scrape(t, addr), "docker_logs_resume_window_misses_total", nil)
			if misses < 1 {
				t.Errorf("window misses = %v, want at least 1", misses)
			}
		})
	}
}

// A json-file log rotated by the daemon (max-size, max-file) under load: the
// daemon's follow stream sends some entries again at each rotation; they are
// dropped, and every line arrives once (source api: a file has no replays).
func TestDaemonLogRotationReplays(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix, "source=api", "metrics_listen=" + addr})
	id := runLogger(t, prefix, []string{"--log-opt", "max-size=1m", "--log-opt", "max-file=3"},
		"-rate", "3000", "-n", "60000", "-size", "150")
	waitLastLine(t, id, "seq=60000 ", 2*time.Minute)
	recs := h.waitRecords(t, 60*time.Second, "60000 lines", func(rs []Record) bool {
		return len(rs) > 0 && seqOf(rs[len(rs)-1].Body.Log) == 60000
	})
	var seqs []int
	for _, r := range recs {
		seqs = append(seqs, seqOf(r.Body.Log))
	}
	checkExactlyOnce(t, "rotated log", seqs, 1, 60000)
	replays, _ := metricValue(scrape(t, addr), "docker_logs_replays_dropped_total", nil)
	t.Logf("replayed entries dropped: %v", replays)
}

// In the real Fluent Bit with db and read_from_head off: a first run that
// has no position to save (its one container is stopped) still leaves a
// checkpoint saying when it stopped, so the 10 lines the container writes
// while Fluent Bit is down all arrive at the next start, and none of its
// earlier run.
func TestStartedWhileDownAfterAnEmptyRun(t *testing.T) {
	prefix := uniqueName(t)
	db := filepath.Join(t.TempDir(), "docker_logs.db")
	id := runLogger(t, prefix, nil, "-n", "10", "-after", "exit")
	docker(t, "wait", id)
	run := fbRun{inputs: [][]string{{"include_names=" + prefix, "db=" + db, "read_from_head=off", "metrics_listen=off"}}}
	first := startFluentBit(t, run)
	if code, _ := first.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("fluent-bit exited with %d", code)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no checkpoint after a run without positions: %v", err)
	}
	if n := len(first.Records()); n != 0 {
		t.Errorf("the first run delivered %d lines of a container stopped all through it", n)
	}

	docker(t, "start", id)
	docker(t, "wait", id)
	stamps := dockerStampsInOrder(t, id)
	if len(stamps) != 20 {
		t.Fatalf("docker logs shows %d lines, want 20", len(stamps))
	}
	second := startFluentBit(t, run)
	second.waitRecords(t, 30*time.Second, "the 10 lines written while Fluent Bit was down", func(r []Record) bool { return countFor(r, id) >= 10 })
	if code, _ := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("fluent-bit exited with %d", code)
	}
	recs := second.Records()
	if len(recs) != 10 {
		t.Errorf("%d records after the restart, want the 10 of the run while Fluent Bit was down", len(recs))
	}
	for i, r := range recs {
		if got := engineTime(t, r.Time); i < 10 && !got.Equal(stamps[10+i]) {
			t.Errorf("record %d (%q) stamped %v, want line %d of the log, stamped %v", i, r.Body.Log, got, 11+i, stamps[10+i])
		}
	}
}

// dockerStampsInOrder returns Docker's timestamps of a container's lines,
// in the log's order.
func dockerStampsInOrder(t *testing.T, id string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, line := range strings.Split(docker(t, "logs", "--timestamps", id), "\n") {
		stamp, _, _ := strings.Cut(line, " ")
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("docker logs timestamp %q: %v", stamp, err)
		}
		out = append(out, ts)
	}
	return out
}

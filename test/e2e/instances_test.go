package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostCounter reads a "host: <what>=N" line the host prints at exit.
func hostCounter(t *testing.T, h *Host, what string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta("host: "+what+"=") + `(\d+)`).FindStringSubmatch(h.stderr.String())
	if m == nil {
		t.Fatalf("host did not print %q at exit", "host: "+what+"=N")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Two instances; Fluent Bit pauses the first one (over its mem_buf_limit),
// not the last-initialised. The plugin must stop that one: whatever it
// still hands over waits in its ring buffer, which Fluent Bit does not
// drain while it is paused and drops from when full. Small rings make a
// few seconds of pause enough to see drops.
// Host-only: it pauses with SIGUSR1 and reads the host's drop counter.
func TestPauseStopsTheInstanceFluentBitPaused(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := launchHost(t, append([]string{"-P", "0"}, hostArgs(200*time.Millisecond,
		[]string{"include_names=" + prefix + "-a*", "instance_name=first", "metrics_listen=" + addr,
			"thread.ring_buffer.capacity=4"},
		[]string{"include_names=" + prefix + "-b*", "instance_name=second", "metrics_listen=" + addr,
			"thread.ring_buffer.capacity=4"})...)...)
	h.waitStderr(t, "host: instance 1 running", 20*time.Second)
	a := runLogger(t, prefix+"-a", nil, "-n", "0", "-rate", "500")
	b := runLogger(t, prefix+"-b", nil, "-n", "0", "-rate", "500")
	h.waitRecords(t, 30*time.Second, "lines on both instances", func(r []Record) bool {
		return countFor(r, a) >= 200 && countFor(r, b) >= 200
	})

	h.cmd.Process.Signal(syscall.SIGUSR1)
	h.waitStderr(t, "host: pause", 5*time.Second)
	paused := func(input string) float64 {
		v, _ := metricValue(scrape(t, addr), "docker_logs_paused", map[string]string{"input": input})
		return v
	}
	if !eventually(5*time.Second, func() bool { return paused("first") == 1 }) {
		t.Errorf("docker_logs_paused{input=first} = %v while Fluent Bit paused it, want 1", paused("first"))
	}
	if v := paused("second"); v != 0 {
		t.Errorf("docker_logs_paused{input=second} = %v, want 0: Fluent Bit did not pause it", v)
	}
	// The pause lasts while a writes 1,500 lines (3 s, 15 collect ticks):
	// far more than the ring's 4 slots.
	written := lineCount(t, a)
	if !eventually(20*time.Second, func() bool { return lineCount(t, a) >= written+1500 }) {
		t.Fatal("container a did not write 1,500 lines during the pause")
	}
	h.cmd.Process.Signal(syscall.SIGUSR2)
	h.waitStderr(t, "host: resume", 5*time.Second)

	stopContainers(t, a, b)
	expectExactlyOnce(t, 60*time.Second, []string{a, b}, h)
	if code, _ := h.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("host exited with %d", code)
	}
	if n := hostCounter(t, h, "records dropped from ring buffers"); n != 0 {
		t.Errorf("%d records handed to Fluent Bit were dropped from the paused input's full ring buffer", n)
	}
}

// Fluent Bit exits inputs one after the other, last first, while the
// others keep collecting. Each instance's db must hold what it handed
// over up to its own last collect: a restart then delivers nothing twice.
func TestExitSavesPositionsAfterTheLastCollect(t *testing.T) {
	prefix := uniqueName(t)
	dir := t.TempDir()
	props := [][]string{
		{"include_names=" + prefix + "-a*", "instance_name=first", "metrics_listen=off",
			"db=" + filepath.Join(dir, "first.db")},
		{"include_names=" + prefix + "-b*", "instance_name=second", "metrics_listen=off",
			"db=" + filepath.Join(dir, "second.db")},
	}
	first := startCapture(t, props...)
	a := runLogger(t, prefix+"-a", nil, "-n", "0", "-rate", "2000")
	b := runLogger(t, prefix+"-b", nil, "-n", "0", "-rate", "2000")
	first.waitRecords(t, 30*time.Second, "lines on both instances", func(r []Record) bool {
		return countFor(r, a) >= 2000 && countFor(r, b) >= 2000
	})
	if code, _ := first.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("%s exited with %d", filepath.Base(first.cmd.Path), code)
	}
	second := startCapture(t, props...)
	n := len(first.Records())
	second.waitRecords(t, 30*time.Second, "lines after the restart", func(r []Record) bool {
		return countFor(r, a) >= 1000 && countFor(r, b) >= 1000
	})
	stopContainers(t, a, b)
	t.Logf("first run: %d records", n)
	expectExactlyOnce(t, 60*time.Second, []string{a, b}, first, second)
	for _, r := range append(first.Records(), second.Records()...) {
		if want := map[string]int{a: 0, b: 1}[r.Body.ID]; r.Instance != want {
			t.Fatalf("a record of %s came through instance %d, want %d", r.Body.Name, r.Instance, want)
		}
	}
}

// Fluent Bit keeps a plugin's log line (log_file, log counters) only when
// it comes from one of its own threads; discovery, tailers and
// checkpoint log from goroutines. A daemon that does not answer makes the
// discovery log at once.
func TestPluginLogsOnlyFromFluentBitThreads(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	h := startHost(t,
		[]string{"docker_host=unix://" + filepath.Join(dir, "none.sock"), "include_names=" + prefix,
			"instance_name=nodaemon", "metrics_listen=" + addr},
		[]string{"include_names=" + prefix + "-*", "instance_name=capturing", "metrics_listen=" + addr,
			"db=" + filepath.Join(dir, "capturing.db"), "rotate_interval=1s"})
	h.waitStderr(t, "Docker daemon unreachable", 10*time.Second)
	id := runLogger(t, prefix+"-x", nil, "-n", "50", "-rate", "100")
	h.waitRecords(t, 30*time.Second, "the container's lines", func(r []Record) bool { return countFor(r, id) >= 50 })
	for _, input := range []string{"nodaemon", "capturing"} {
		v, ok := metricValue(scrape(t, addr), "docker_logs_log_messages_dropped_total", map[string]string{"input": input})
		if !ok || v != 0 {
			t.Errorf("docker_logs_log_messages_dropped_total{input=%s} = %v (present %v), want 0", input, v, ok)
		}
	}
	if code, _ := h.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("host exited with %d", code)
	}
	if n := hostCounter(t, h, "log_print calls outside Fluent Bit's threads"); n != 0 {
		t.Errorf("%d plugin log lines came from threads that are not Fluent Bit's: Fluent Bit writes them to stderr, not to its log", n)
	}
}

// Two docker_logs inputs in the real Fluent Bit: A's output stalls, so
// Fluent Bit pauses A (over its mem_buf_limit); B has its own output. Fluent
// Bit 5.1's Go proxy stops the collector of the last-initialised instance,
// whichever is paused. Declared as the README says, A last, B goes on and
// delivers all its lines; declared the other way, B stops with A, and the
// plugin says so once.
func TestPauseOfOneOfTwoInputs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aLast bool
	}{
		{"paused input declared last", true},
		{"paused input declared first", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniqueName(t)
			// Nothing listens there: every flush fails and is retried, so A's
			// chunks stay in memory until Fluent Bit pauses it for good.
			host, port, _ := strings.Cut(freeAddr(t), ":")
			dir := t.TempDir()
			a := []string{"include_names=" + prefix + "-a", "instance_name=a", "metrics_listen=off", "mem_buf_limit=256K"}
			b := []string{"include_names=" + prefix + "-b", "instance_name=b", "metrics_listen=off"}
			inputs, aTag, bTag := [][]string{a, b}, "in.0", "in.1"
			if tc.aLast {
				inputs, aTag, bTag = [][]string{b, a}, "in.1", "in.0"
			}
			h := startFluentBit(t, fbRun{inputs: inputs, outputs: []fbOutput{
				{"name": "tcp", "match": aTag, "host": host, "port": port, "format": "json_lines", "retry_limit": "no_limits"},
				{"name": "file", "match": bTag, "path": dir, "file": "records"},
			}})
			h.outPath = filepath.Join(dir, "records")
			runLogger(t, prefix+"-a", nil, "-n", "0", "-rate", "5000", "-size", "1000")
			aName := "docker_logs.0"
			if tc.aLast {
				aName = "docker_logs.1"
			}
			h.waitStderr(t, "[input] "+aName+" paused (mem buf overlimit", 60*time.Second)

			bID := runLogger(t, prefix+"-b", nil, "-n", "20000", "-rate", "0")
			delivered := func() int { return countFor(h.Records(), bID) }
			all := eventually(10*time.Second, func() bool { return delivered() >= 20000 })
			warning := "Go proxy stopped the collector of another input instead: b hands nothing over"
			warnings := strings.Count(h.stderr.String(), warning)
			t.Logf("B delivered %d of 20,000 lines within 10 s while A was paused", delivered())
			if strings.Contains(h.stderr.String(), "[input] "+aName+" resume") {
				t.Fatalf("A was resumed: its output did not stall")
			}
			if tc.aLast {
				if !all {
					t.Errorf("B delivered %d of 20,000 lines within 10 s with the paused input declared last", delivered())
				}
				if warnings != 0 {
					t.Errorf("the misrouted pause was reported %d times with the paused input declared last", warnings)
				}
				return
			}
			if all {
				t.Errorf("B delivered all its lines while A was paused, declared first: Fluent Bit's proxy no longer stops the last-initialised collector (update the README's limit)")
			}
			if warnings != 1 {
				t.Errorf("the misrouted pause was reported %d times, want once:\n%s", warnings, tail(h.stderr.String(), 30))
			}
		})
	}
}

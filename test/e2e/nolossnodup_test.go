package e2e

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lineKey is one log entry as Docker stored it: its timestamp and text.
type lineKey struct {
	ts   int64 // Unix nanoseconds: time.Time values differ in location
	text string
}

// dockerEntries counts every line of a container by (timestamp, text), as
// docker logs --timestamps reports them.
func dockerEntries(t *testing.T, id string) map[lineKey]int {
	t.Helper()
	out, err := exec.Command("docker", "logs", "--timestamps", id).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs %s: %v", id, err)
	}
	m := map[lineKey]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		stamp, text, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("docker logs line %q: %v", line, err)
		}
		m[lineKey{ts.UnixNano(), text}]++
	}
	return m
}

// delivery compares the records of one container with what Docker holds.
type delivery struct {
	written, delivered, lost, duplicated, foreign int
	dupKeys, lostKeys                             []lineKey
}

func compareWithDocker(t *testing.T, recs []Record, id string) delivery {
	t.Helper()
	want := dockerEntries(t, id)
	got := map[lineKey]int{}
	d := delivery{}
	for _, r := range recs {
		if r.Body.ID == id {
			got[lineKey{engineTime(t, r.Time).UnixNano(), r.Body.Log}]++
			d.delivered++
		}
	}
	for k, n := range want {
		d.written += n
		switch g := got[k]; {
		case g < n:
			d.lost += n - g
			d.lostKeys = append(d.lostKeys, k)
		case g > n:
			d.duplicated += g - n
			d.dupKeys = append(d.dupKeys, k)
		}
	}
	for k, g := range got {
		if want[k] == 0 {
			d.foreign += g
		}
	}
	return d
}

// firstKeys is up to n of keys, oldest first, for a failure's message.
func firstKeys(keys []lineKey, n int) []lineKey {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b lineKey) int { return cmp.Compare(a.ts, b.ts) })
	return keys[:min(n, len(keys))]
}

// countFor returns how many records belong to container id.
func countFor(recs []Record, id string) int {
	n := 0
	for _, r := range recs {
		if r.Body.ID == id {
			n++
		}
	}
	return n
}

// lineCount is how many lines Docker holds for a container.
func lineCount(t *testing.T, id string) int {
	n := 0
	for _, c := range dockerEntries(t, id) {
		n += c
	}
	return n
}

// stopContainers stops the containers, so their logs are final.
func stopContainers(t *testing.T, ids ...string) {
	t.Helper()
	docker(t, append([]string{"stop", "-t", "2"}, ids...)...)
}

// waitDelivered waits until every line Docker holds for ids has come from
// the hosts at least once, or the timeout passes, and returns the records.
// It matches lines, not counts: a duplicate must not stand in for a line
// still on its way.
func waitDelivered(t *testing.T, timeout time.Duration, ids []string, hosts ...*Host) []Record {
	t.Helper()
	type entry struct {
		id string
		lineKey
	}
	missing := map[entry]int{}
	for _, id := range ids {
		for k, n := range dockerEntries(t, id) {
			missing[entry{id, k}] = n
		}
	}
	seen := make([]int, len(hosts))
	eventually(timeout, func() bool {
		for i, h := range hosts {
			recs := h.Records()
			for _, r := range recs[seen[i]:] {
				e := entry{r.Body.ID, lineKey{engineTime(t, r.Time).UnixNano(), r.Body.Log}}
				if missing[e]--; missing[e] <= 0 {
					delete(missing, e)
				}
			}
			seen[i] = len(recs)
		}
		return len(missing) == 0
	})
	var recs []Record
	for _, h := range hosts {
		recs = append(recs, h.Records()...)
	}
	return recs
}

// expectExactlyOnce waits until every line Docker holds for ids has been
// delivered by the hosts, then checks nothing is lost or duplicated.
func expectExactlyOnce(t *testing.T, timeout time.Duration, ids []string, hosts ...*Host) {
	t.Helper()
	recs := waitDelivered(t, timeout, ids, hosts...)
	for _, id := range ids {
		d := compareWithDocker(t, recs, id)
		if d.lost != 0 || d.duplicated != 0 || d.foreign != 0 {
			t.Errorf("container %.12s: %d lines written, %d delivered: %d lost, %d duplicated, %d not in docker logs; lost %v",
				id, d.written, d.delivered, d.lost, d.duplicated, d.foreign, firstKeys(d.lostKeys, 3))
		} else {
			t.Logf("container %.12s: %d lines, all delivered once", id, d.written)
		}
	}
}

// 3,000 lines at 100 a second, the stream reopened every 2 s, in Fluent
// Bit: every line once, across 12 rotations or more.
func TestRotationEveryTwoSeconds(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "rotate_interval=2s", "metrics_listen=" + addr})
	name := prefix + "-0"
	id := runLogger(t, name, nil, "-n", "3000", "-rate", "100", "-after", "exit")
	docker(t, "wait", id)
	expectExactlyOnce(t, 30*time.Second, []string{id}, h)
	if n := lineCount(t, id); n != 3000 {
		t.Errorf("docker logs holds %d lines, want 3000", n)
	}
	rotations, _ := metricValue(scrape(t, addr), "docker_logs_stream_rotations_total", map[string]string{"container_name": name})
	t.Logf("%v rotations", rotations)
	if rotations < 12 {
		t.Errorf("%v rotations in the 30 s, want 12 or more", rotations)
	}
}

// 10 containers at about 1,000 lines/s each with rotate_interval 1s for
// 30 s: every line once.
func TestHighRateWithFastRotation(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "rotate_interval=1s", "metrics_listen=" + addr})
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, runLogger(t, fmt.Sprintf("%s-%d", prefix, i), nil, "-n", "0", "-rate", "1000"))
	}
	start := time.Now()
	eventually(40*time.Second, func() bool { return time.Since(start) >= 30*time.Second })
	stopContainers(t, ids...)
	expectExactlyOnce(t, 90*time.Second, ids, h)
	fams := scrape(t, addr)
	for i := range ids {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if n, _ := metricValue(fams, "docker_logs_stream_rotations_total", map[string]string{"container_name": name}); n < 20 {
			t.Errorf("%s: %v rotations in 30 s at rotate_interval 1s, want at least 20", name, n)
		}
	}
}

// Lines of 40 KB and 200 KB come whole; a 2 MiB line with max_line_size 1M
// is cut there and marked; all while streams rotate every second.
func TestLongLines(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "rotate_interval=1s", "max_line_size=1M", "metrics_listen=" + addr})
	long := runLogger(t, prefix+"-long", nil, "-sizes", "40000,200000", "-n", "30", "-rate", "6", "-streams", "both")
	huge := runLogger(t, prefix+"-huge", nil, "-sizes", "2097152,100", "-n", "4", "-rate", "1")
	recs := h.waitRecords(t, 60*time.Second, "every long line", func(r []Record) bool {
		return countFor(r, long) >= 60 && countFor(r, huge) >= 4
	})
	seqs := map[string][]int{}
	for _, r := range recs {
		size := lineLen(t, r.Body.Log)
		key := r.Body.Name + " " + r.Body.Stream
		seqs[key] = append(seqs[key], seqOf(r.Body.Log))
		switch {
		case size <= 1<<20:
			if len(r.Body.Log) != size || r.Body.Truncated {
				t.Fatalf("%s seq %d: %d bytes (truncated=%v), want the whole %d", key, seqOf(r.Body.Log), len(r.Body.Log), r.Body.Truncated, size)
			}
			checkFiller(t, r.Body.Log)
		default:
			if len(r.Body.Log) != 1<<20 || !r.Body.Truncated {
				t.Fatalf("%s seq %d: %d bytes (truncated=%v), want 1 MiB and log_truncated", key, seqOf(r.Body.Log), len(r.Body.Log), r.Body.Truncated)
			}
			checkFiller(t, r.Body.Log)
		}
	}
	checkExactlyOnce(t, "long stdout", seqs[prefix+"-long stdout"], 1, 30)
	checkExactlyOnce(t, "long stderr", seqs[prefix+"-long stderr"], 1, 30)
	checkExactlyOnce(t, "huge", seqs[prefix+"-huge stdout"], 1, 4)
	if n, _ := metricValue(scrape(t, addr), "docker_logs_lines_truncated_total", nil); n != 2 {
		t.Errorf("docker_logs_lines_truncated_total = %v, want 2", n)
	}
}

// lineLen reads the len= a logger line says it has.
func lineLen(t *testing.T, log string) int {
	m := linePattern.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("not a logger line: %.100q", log)
	}
	n, _ := strconv.Atoi(m[4])
	return n
}

// checkFiller checks that a logger line's filler is intact up to its end.
func checkFiller(t *testing.T, log string) {
	t.Helper()
	m := linePattern.FindStringSubmatchIndex(log)
	rest := log[m[1]:]
	if rest == "" {
		return
	}
	rest = rest[1:] // the space before the filler
	for i := 0; i < len(rest); i++ {
		if rest[i] != byte('a'+i%26) {
			t.Fatalf("line %.60q...: filler byte %d is %q, want %q", log, i, rest[i], byte('a'+i%26))
		}
	}
}

// Fluent Bit (the host without it) is stopped (SIGTERM) and started again
// with the same db while containers keep writing, streams reopened every
// 2 s: lines written while it was down are delivered, lines delivered
// before are not.
func TestRestartWithCheckpoint(t *testing.T) {
	restartWithCheckpoint(t, syscall.SIGTERM)
}

// Fluent Bit (the host without it) is killed (SIGKILL) and started again,
// with filesystem buffering as in conf/no-loss.yaml: nothing is lost; the
// only duplicates are lines handed over within db.flush_interval of the
// kill.
func TestKillWithCheckpoint(t *testing.T) {
	restartWithCheckpoint(t, syscall.SIGKILL)
}

func restartWithCheckpoint(t *testing.T, sig syscall.Signal) {
	prefix := uniqueName(t)
	db := filepath.Join(t.TempDir(), "docker_logs.db")
	const flush = time.Second
	props := []string{"include_names=" + prefix + "-*", "db=" + db, "db.flush_interval=" + flush.String(), "rotate_interval=2s", "metrics_listen=off"}
	var service map[string]string
	if sig == syscall.SIGKILL {
		// Records Fluent Bit holds in memory die with it (the README).
		props = append(props, "storage.type=filesystem")
		service = map[string]string{"storage.path": t.TempDir()}
	}
	first := startCaptureWith(t, service, props)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, runLogger(t, fmt.Sprintf("%s-%d", prefix, i), nil, "-n", "0", "-rate", "200", "-streams", "both"))
	}
	first.waitRecords(t, 30*time.Second, "lines before the stop", func(r []Record) bool { return len(r) >= 1500 })
	// Let a checkpoint or two be written while lines flow.
	if !eventually(30*time.Second, func() bool { _, err := os.Stat(db); return err == nil && len(first.Records()) >= 3000 }) {
		t.Fatalf("no checkpoint at %s, or fewer than 3000 records, within 30 s", db)
	}
	killedAt := time.Now()
	first.stop(t, sig)
	// Lines written while the plugin is down.
	before := lineCount(t, ids[0])
	if !eventually(30*time.Second, func() bool { return lineCount(t, ids[0]) >= before+400 }) {
		t.Fatal("the containers did not write 400 lines within 30 s while the plugin was down")
	}

	second := startCaptureWith(t, service, props)
	second.waitRecords(t, 30*time.Second, "lines after the restart", func(r []Record) bool { return len(r) >= 1500 })
	stopContainers(t, ids...)

	if sig == syscall.SIGTERM {
		expectExactlyOnce(t, 60*time.Second, ids, first, second)
		return
	}
	// After SIGKILL: wait for everything, then count what came twice.
	recs := waitDelivered(t, 60*time.Second, ids, first, second)
	total, lost := 0, 0
	for _, id := range ids {
		d := compareWithDocker(t, recs, id)
		total, lost = total+d.duplicated, lost+d.lost
		if d.lost != 0 || d.foreign != 0 {
			t.Errorf("container %.12s: %d lost, %d not in docker logs", id, d.lost, d.foreign)
		}
		// A duplicate must have been handed over within the flush interval
		// (plus one collect tick and scheduling slack) before the kill; its
		// stamp, as the engine gives it, may be up to its precision early.
		for _, k := range d.dupKeys {
			if ts := time.Unix(0, k.ts).Add(stampPrecision - 1); ts.Before(killedAt.Add(-flush - first.tick - 2*time.Second)) {
				t.Errorf("container %.12s: line %q from %v duplicated, older than db.flush_interval before the kill (%v)",
					id, k.text, ts.UTC(), killedAt.UTC())
			}
		}
	}
	t.Logf("SIGKILL with db.flush_interval %v: %d lines duplicated, %d lost", flush, total, lost)
}

// docker restart of a container: its new lines arrive, none of its old
// lines come again.
func TestContainerRestart(t *testing.T) {
	prefix := uniqueName(t)
	h := startCapture(t, []string{"include_names=" + prefix, "metrics_listen=off"})
	id := runLogger(t, prefix, nil, "-n", "0", "-rate", "100")
	h.waitRecords(t, 30*time.Second, "lines of the first run", func(r []Record) bool { return len(r) >= 200 })
	docker(t, "restart", "-t", "1", id)
	n := len(h.Records())
	h.waitRecords(t, 30*time.Second, "lines of the second run", func(r []Record) bool { return len(r) >= n+200 })
	stopContainers(t, id)
	expectExactlyOnce(t, 30*time.Second, []string{id}, h)
}

// dockerd (with live-restore) is killed and started again while containers
// write, streams reopened every 2 s: the plugin reconnects and goes on,
// losing and repeating nothing.
func TestDaemonRestart(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "rotate_interval=2s", "metrics_listen=" + addr})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, runLogger(t, fmt.Sprintf("%s-%d", prefix, i), nil, "-n", "0", "-rate", "200"))
	}
	h.waitRecords(t, 30*time.Second, "lines before the restart", func(r []Record) bool { return len(r) >= 600 })
	dockerdScript(t, "kill")
	if !eventually(10*time.Second, func() bool {
		v, _ := metricValue(scrape(t, addr), "docker_logs_docker_up", nil)
		return v == 0
	}) {
		t.Error("docker_logs_docker_up did not drop to 0 while dockerd was down")
	}
	dockerdScript(t, "start")
	n := len(h.Records())
	h.waitRecords(t, 60*time.Second, "lines after the restart", func(r []Record) bool { return len(r) >= n+600 })
	stopContainers(t, ids...)
	expectExactlyOnce(t, 60*time.Second, ids, h)
	fams := scrape(t, addr)
	if v, _ := metricValue(fams, "docker_logs_events_reconnects_total", nil); v < 1 {
		t.Errorf("docker_logs_events_reconnects_total = %v, want at least 1", v)
	}
	// Discovery pings with backoff (at most 10 s): it sees the daemon
	// back at its next ping.
	if !eventually(15*time.Second, func() bool {
		v, _ := metricValue(scrape(t, addr), "docker_logs_docker_up", nil)
		return v == 1
	}) {
		t.Error("docker_logs_docker_up did not go back to 1 after the restart")
	}
}

// dockerdScript starts, stops or kills the engine under test.
func dockerdScript(t *testing.T, action string) {
	t.Helper()
	script := "dockerd.sh"
	if podman {
		script = "podman.sh"
	}
	out, err := exec.Command(filepath.Join(repoRoot, "test", "scripts", script), action).CombinedOutput()
	if err != nil {
		t.Fatalf("test/scripts/%s %s: %v\n%s", script, action, err, out)
	}
}

// A container started while the plugin cannot reach the daemon (its events
// stream is down) is captured from its first line once it can; one read
// before, that runs again and exits meanwhile, from where it was.
func TestContainerStartedWhileEventsDown(t *testing.T) {
	prefix := uniqueName(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	stop := forwardSocket(t, sock, daemonSocket)
	h := startCapture(t, []string{"docker_host=unix://" + sock, "include_names=" + prefix + "-*", "metrics_listen=off"})
	before := runLogger(t, prefix+"-before", nil, "-n", "0", "-rate", "50")
	again := runLogger(t, prefix+"-again", nil, "-n", "20", "-rate", "100", "-after", "exit")
	docker(t, "wait", again)
	h.waitRecords(t, 30*time.Second, "lines through the socket", func(r []Record) bool { return len(r) >= 50 && countFor(r, again) == 20 })

	stop()
	h.waitStderr(t, "Docker events stream ended", 10*time.Second)
	during := runLogger(t, prefix+"-during", nil, "-n", "50", "-rate", "100")
	docker(t, "start", again)
	docker(t, "wait", again)
	if !eventually(30*time.Second, func() bool { return lineCount(t, during) == 50 }) {
		t.Fatalf("the container started while the events stream was down wrote %d lines, want 50", lineCount(t, during))
	}
	os.Remove(sock)
	forwardSocket(t, sock, daemonSocket)

	recs := h.waitRecords(t, 30*time.Second, "the new container's lines", func(r []Record) bool { return countFor(r, during) >= 50 && countFor(r, again) >= 40 })
	checkExactlyOnce(t, "started while down", sequences(recs)[streamKey{prefix + "-during", "stdout"}], 1, 50)
	stopContainers(t, before, during)
	expectExactlyOnce(t, 30*time.Second, []string{before, during, again}, h)
}

// Paused for 10 s while containers write fast, the plugin's memory stays
// under buffer_max_size plus a small constant; after resume every line
// arrives.
// Host-only: it pauses with SIGUSR1 (Fluent Bit's own pause is
// TestPauseOfOneOfTwoInputs).
func TestPauseBoundsMemory(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	const limit = 4 << 20
	h := startHost(t, []string{"include_names=" + prefix + "-*", "buffer_max_size=4M", "metrics_listen=" + addr})
	var ids []string
	for i := 0; i < 2; i++ {
		ids = append(ids, runLogger(t, fmt.Sprintf("%s-%d", prefix, i), nil, "-n", "0", "-rate", "5000"))
	}
	h.waitRecords(t, 30*time.Second, "lines before the pause", func(r []Record) bool { return len(r) >= 20000 })
	baseline := rss(t, h.cmd.Process.Pid)
	h.cmd.Process.Signal(syscall.SIGUSR1)
	h.waitStderr(t, "host: pause", 5*time.Second)
	if !eventually(5*time.Second, func() bool {
		v, _ := metricValue(scrape(t, addr), "docker_logs_paused", nil)
		return v == 1
	}) {
		t.Error("docker_logs_paused did not become 1")
	}
	var maxRSS, maxBuf float64
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		maxRSS = max(maxRSS, float64(rss(t, h.cmd.Process.Pid)))
		v, _ := metricValue(scrape(t, addr), "docker_logs_buffer_bytes", nil)
		maxBuf = max(maxBuf, v)
		time.Sleep(200 * time.Millisecond)
	}
	h.cmd.Process.Signal(syscall.SIGUSR2)
	h.waitStderr(t, "host: resume", 5*time.Second)
	const slack = 24 << 20
	t.Logf("paused 10 s: RSS %d MiB before, at most %.0f MiB during; buffer at most %.0f bytes (limit %d)",
		baseline>>20, maxRSS/(1<<20), maxBuf, limit)
	if maxBuf > limit {
		t.Errorf("buffer reached %.0f bytes, over buffer_max_size %d", maxBuf, limit)
	}
	if maxRSS > float64(baseline+limit+slack) {
		t.Errorf("RSS reached %.0f MiB while paused, over %d MiB before + buffer_max_size + %d MiB",
			maxRSS/(1<<20), baseline>>20, slack>>20)
	}
	if v, _ := metricValue(scrape(t, addr), "docker_logs_paused", nil); v != 0 {
		t.Errorf("docker_logs_paused = %v after resume, want 0", v)
	}
	stopContainers(t, ids...)
	expectExactlyOnce(t, 120*time.Second, ids, h)
}

// rss reads a process's resident set size in bytes.
func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// A checkpoint filled with garbage, or cut in half, does not stop the
// plugin: it warns, moves the file aside and captures.
func TestCorruptCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, db string)
	}{
		{"garbage", func(t *testing.T, db string) {
			os.WriteFile(db, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, '{'}, 1000), 0o644)
		}},
		{"cut in half", func(t *testing.T, db string) {
			// A real checkpoint, from a run that saw a container.
			prefix := uniqueName(t)
			h := startCapture(t, []string{"include_names=" + prefix, "db=" + db, "metrics_listen=off"})
			runLogger(t, prefix, nil, "-n", "5")
			h.waitRecords(t, 30*time.Second, "5 lines", func(r []Record) bool { return len(r) >= 5 })
			h.stop(t, syscall.SIGTERM)
			b, err := os.ReadFile(db)
			if err != nil || len(b) < 20 {
				t.Fatalf("no checkpoint written: %v (%d bytes)", err, len(b))
			}
			os.WriteFile(db, b[:len(b)/2], 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "docker_logs.db")
			tc.corrupt(t, db)
			prefix := uniqueName(t)
			h := startCapture(t, []string{"include_names=" + prefix, "db=" + db, "metrics_listen=off"})
			h.waitStderr(t, "moved to "+db+".corrupt-", 10*time.Second)
			if m, _ := filepath.Glob(db + ".corrupt-*"); len(m) != 1 {
				t.Errorf("corrupt checkpoint not moved aside: %v", m)
			}
			runLogger(t, prefix, nil, "-n", "10", "-rate", "100")
			recs := h.waitRecords(t, 30*time.Second, "10 lines", func(r []Record) bool { return len(r) >= 10 })
			checkExactlyOnce(t, prefix, sequences(recs)[streamKey{prefix, "stdout"}], 1, 10)
		})
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logPath is the json-file log of container id, as its inspect gives it.
func logPath(t *testing.T, id string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, "inspect", "-f", "{{.LogPath}}", id))
}

// expectSource checks, from the plugin's metrics, that streams read from
// source and that auto did not fall back to the API for a json-file log.
func expectSource(t *testing.T, addr, source string) {
	t.Helper()
	ok := eventually(20*time.Second, func() bool {
		n, _ := metricValue(scrape(t, addr), "docker_logs_streams_by_source", map[string]string{"source": source})
		return n >= 1
	})
	if !ok {
		t.Fatalf("no stream open from source %s within 20 s", source)
	}
	if n, _ := metricValue(scrape(t, addr), "docker_logs_source_fallbacks_total", map[string]string{"reason": "unreadable"}); n != 0 {
		t.Errorf("docker_logs_source_fallbacks_total{reason=unreadable} = %v, want 0", n)
	}
}

// The daemon rotates the log under load (max-size=1m, max-file=3) while
// the plugin reads the file: 60,000 lines at 3,000/s, every one once, with
// source file and with auto.
func TestFileSourceDaemonRotation(t *testing.T) {
	for _, source := range []string{"file", "auto"} {
		t.Run(source, func(t *testing.T) {
			name := uniqueName(t)
			addr := freeAddr(t)
			h := startCapture(t, []string{"include_names=" + name, "source=" + source, "metrics_listen=" + addr})
			const perStream = 30000 // 60,000 lines at 3,000/s
			runLogger(t, name, []string{"--log-opt", "max-size=1m", "--log-opt", "max-file=3"},
				"-n", fmt.Sprint(perStream), "-rate", "1500", "-streams", "both", "-after", "exit")
			expectSource(t, addr, "file")
			recs := h.waitRecords(t, 90*time.Second, "every line", func(r []Record) bool { return len(r) >= 2*perStream })
			expectEveryLineOnce(t, h, recs, name, perStream)
			if n, _ := metricValue(scrape(t, addr), "docker_logs_stream_errors_total", map[string]string{"reason": "decode"}); n != 0 {
				t.Errorf("%v decode errors, want 0", n)
			}
		})
	}
}

// expectEveryLineOnce checks that both streams of the logger container
// name came whole, each line once, after a moment for any duplicate to
// arrive.
func expectEveryLineOnce(t *testing.T, h *Host, recs []Record, name string, perStream int) {
	t.Helper()
	n := len(recs)
	eventually(3*time.Second, func() bool { return len(h.Records()) > n })
	seqs := sequences(h.Records())
	for _, stream := range []string{"stdout", "stderr"} {
		checkExactlyOnce(t, name+" "+stream, seqs[streamKey{name, stream}], 1, perStream)
	}
}

// A reader that starts behind reads the rotated files, compressed ones
// (compress=true) included, oldest first: read_from_head on a log rotated
// four times.
func TestFileSourceReadsCompressedRotations(t *testing.T) {
	name := uniqueName(t)
	const perStream = 12000 // about 4 MB of json-file entries
	id := runLogger(t, name, []string{"--log-opt", "max-size=1m", "--log-opt", "max-file=5", "--log-opt", "compress=true"},
		"-n", fmt.Sprint(perStream), "-rate", "6000", "-streams", "both")
	path := logPath(t, id)
	if !eventually(30*time.Second, func() bool { return lineCount(t, id) >= 2*perStream }) {
		t.Fatal("the container did not write its lines within 30 s")
	}
	gz, _ := filepath.Glob(path + ".*.gz")
	if len(gz) < 2 {
		t.Fatalf("%d compressed rotated files, want at least 2 (the log did not rotate as planned)", len(gz))
	}
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + name, "source=file", "read_from_head=on", "metrics_listen=" + addr})
	recs := h.waitRecords(t, 60*time.Second, "every line", func(r []Record) bool { return len(r) >= 2*perStream })
	expectEveryLineOnce(t, h, recs, name, perStream)
}

// Fluent Bit restarts with its db between source file and source api while
// a container writes: each reads on where the other stopped, 0 lost and 0
// duplicated.
func TestSourceSwitchThroughRestart(t *testing.T) {
	name := uniqueName(t)
	db := filepath.Join(t.TempDir(), "docker_logs.db")
	addr := freeAddr(t)
	props := func(source string) []string {
		return []string{"include_names=" + name, "db=" + db, "db.flush_interval=1s", "source=" + source, "metrics_listen=" + addr}
	}
	var id string
	var hosts []*Host
	order := []string{"file", "api", "file"}
	for i, source := range order {
		h := startCapture(t, props(source))
		if i == 0 {
			id = runLogger(t, name, nil, "-n", "0", "-rate", "200", "-streams", "both")
		}
		expectSource(t, addr, source)
		h.waitRecords(t, 30*time.Second, fmt.Sprintf("lines read from source %s", source),
			func(r []Record) bool { return len(r) >= 600 })
		hosts = append(hosts, h)
		if i < len(order)-1 {
			h.stop(t, syscall.SIGTERM)
			// Lines written while Fluent Bit is down.
			before := lineCount(t, id)
			if !eventually(30*time.Second, func() bool { return lineCount(t, id) >= before+200 }) {
				t.Fatal("the container did not write 200 lines within 30 s")
			}
		}
	}
	stopContainers(t, id)
	expectExactlyOnce(t, 60*time.Second, []string{id}, hosts...)
}

// A container's log files deleted while it runs: its stream ends and it
// counts as unreadable; another container's lines all come.
func TestFileSourceLogDeleted(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "source=file", "metrics_listen=" + addr})
	gone := runLogger(t, prefix+"-gone", nil, "-n", "0", "-rate", "100")
	kept := runLogger(t, prefix+"-kept", nil, "-n", "0", "-rate", "100")
	h.waitRecords(t, 30*time.Second, "lines of both", func(r []Record) bool {
		return countFor(r, gone) >= 100 && countFor(r, kept) >= 100
	})
	if err := os.Remove(logPath(t, gone)); err != nil {
		t.Fatal(err)
	}
	if !eventually(30*time.Second, func() bool {
		n, _ := metricValue(scrape(t, addr), "docker_logs_containers_unreadable", nil)
		return n == 1
	}) {
		t.Fatal("docker_logs_containers_unreadable did not reach 1 within 30 s of the deletion")
	}
	n := countFor(h.Records(), kept)
	h.waitRecords(t, 30*time.Second, "more lines of the other container", func(r []Record) bool { return countFor(r, kept) >= n+300 })
	stopContainers(t, kept)
	expectExactlyOnce(t, 30*time.Second, []string{kept}, h)
	seqs := sequences(h.Records())[streamKey{prefix + "-gone", "stdout"}]
	checkExactlyOnce(t, "the deleted container's lines until the deletion", seqs, 1, seqs[len(seqs)-1])
}

// Package e2e runs the plugin, built as a .so, against the real Docker
// engine, in the real Fluent Bit (when it is on PATH) or in the project's
// Fluent Bit host, and checks what a user would see.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	repoRoot, _ = filepath.Abs("../..")
	hostBin     = envOr("FBHOST", filepath.Join(repoRoot, "build", "fbhost"))
	pluginSO    = envOr("PLUGIN_SO", filepath.Join(repoRoot, "build", "in_docker_logs.so"))
	testImage   = envOr("TEST_IMAGE", "docker-logs-test:latest")
	// daemonSocket is the engine under test's socket, as DOCKER_HOST names
	// it for the docker CLI and the plugin alike.
	daemonSocket = strings.TrimPrefix(envOr("DOCKER_HOST", "unix:///var/run/docker.sock"), "unix://")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	for _, f := range []string{hostBin, pluginSO} {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s missing: run make build host first\n", f)
			os.Exit(1)
		}
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no Docker engine answers (test/scripts/dockerd.sh start): %v\n%s", err, out)
		os.Exit(1)
	}
	out, _ := exec.Command("docker", "version", "--format", "{{range .Server.Components}}{{.Name}};{{end}}").Output()
	if podman = strings.Contains(string(out), "Podman Engine"); podman {
		stampPrecision = time.Second
	}
	os.Exit(m.Run())
}

var (
	// podman: the engine under test is Podman's Docker-compatible API.
	podman bool
	// stampPrecision is how finely the engine's logs API stamps lines:
	// Docker gives nanoseconds, Podman whole seconds (its log files keep
	// nanoseconds, which the plugin's records carry when it reads them).
	stampPrecision = time.Nanosecond
)

// Record is one line the host printed.
type Record struct {
	Instance int    `json:"instance"`
	Time     string `json:"time"`
	Recv     string `json:"recv"`
	Body     struct {
		Log       string            `json:"log"`
		Stream    string            `json:"stream"`
		ID        string            `json:"container_id"`
		Name      string            `json:"container_name"`
		Image     string            `json:"container_image"`
		Labels    map[string]string `json:"labels"`
		Truncated bool              `json:"log_truncated"`
		Attrs     map[string]string `json:"attrs"`
		Host      string            `json:"host"`
		// Compose and Swarm fields.
		ComposeProject string `json:"compose_project"`
		ComposeService string `json:"compose_service"`
		ComposeNumber  string `json:"compose_container_number"`
		ComposeOneoff  string `json:"compose_oneoff"`
		SwarmService   string `json:"swarm_service"`
		SwarmTask      string `json:"swarm_task"`
		SwarmNodeID    string `json:"swarm_node_id"`
		SwarmStack     string `json:"swarm_stack"`
	} `json:"record"`
}

// Host is one run of build/fbhost, or of the real Fluent Bit
// (startFluentBit).
type Host struct {
	t       *testing.T
	cmd     *exec.Cmd
	outPath string
	stderr  *syncBuffer
	done    chan struct{}
	exitErr error
	// parse reads a line of outPath; nil for the host's JSON lines.
	parse func([]byte) (Record, error)
	// fbAddr is the real Fluent Bit's HTTP server.
	fbAddr string
	// tick is the collect interval.
	tick time.Duration

	mu      sync.Mutex
	offset  int64
	records []Record
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hostArgs builds the host's arguments for instances given as property
// lists; tick is the collect interval.
func hostArgs(tick time.Duration, instances ...[]string) []string {
	args := []string{"-e", pluginSO, "-T", strconv.Itoa(int(tick / time.Millisecond))}
	for _, props := range instances {
		args = append(args, "-i")
		for _, p := range props {
			args = append(args, "-p", p)
		}
	}
	return args
}

// startHost runs the host with the given instances (property lists) and a
// collect tick of 200 ms, and waits until every instance runs.
func startHost(t *testing.T, instances ...[]string) *Host {
	t.Helper()
	h := launchHost(t, hostArgs(200*time.Millisecond, instances...)...)
	h.tick = 200 * time.Millisecond
	h.waitStderr(t, fmt.Sprintf("host: instance %d running", len(instances)-1), 20*time.Second)
	return h
}

// launchHost starts the host with raw arguments, without waiting.
func launchHost(t *testing.T, args ...string) *Host {
	t.Helper()
	h := &Host{t: t, outPath: filepath.Join(t.TempDir(), "records.jsonl"), stderr: &syncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(hostBin, append([]string{"-o", h.outPath}, args...)...)
	h.cmd.Stderr = h.stderr
	h.start(t)
	return h
}

// start runs h.cmd; the test's cleanup kills it.
func (h *Host) start(t *testing.T) {
	t.Helper()
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", h.cmd.Path, err)
	}
	go func() {
		h.exitErr = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(h.cmd.Path), tail(h.stderr.String(), 60))
		}
	})
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Records returns every record printed so far.
func (h *Host) Records() []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.Open(h.outPath)
	if err != nil {
		return h.records
	}
	defer f.Close()
	f.Seek(h.offset, io.SeekStart)
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break // a partial last line is read again next time
		}
		h.offset += int64(len(line))
		var rec Record
		if h.parse != nil {
			rec, err = h.parse(line)
		} else {
			err = json.Unmarshal(line, &rec)
		}
		if err != nil {
			h.t.Errorf("%s wrote a record line that does not parse: %v: %.200s", filepath.Base(h.cmd.Path), err, line)
			continue
		}
		h.records = append(h.records, rec)
	}
	return h.records
}

// waitRecords polls the records until cond holds or the timeout ends.
func (h *Host) waitRecords(t *testing.T, timeout time.Duration, what string, cond func([]Record) bool) []Record {
	t.Helper()
	var recs []Record
	ok := eventually(timeout, func() bool {
		recs = h.Records()
		return cond(recs)
	})
	if !ok {
		t.Fatalf("timed out after %v waiting for %s (%d records so far)", timeout, what, len(recs))
	}
	return recs
}

func (h *Host) waitStderr(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	if !eventually(timeout, func() bool { return strings.Contains(h.stderr.String(), text) || h.exited() }) ||
		!strings.Contains(h.stderr.String(), text) {
		t.Fatalf("host did not print %q within %v; stderr:\n%s", text, timeout, tail(h.stderr.String(), 40))
	}
}

func (h *Host) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the host to exit, returning its exit code
// and how long the exit took.
func (h *Host) stop(t *testing.T, sig syscall.Signal) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	h.cmd.Process.Signal(sig)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("host did not exit within 30s of %v", sig)
	}
	took := time.Since(start)
	code := 0
	if h.exitErr != nil {
		code = -1
		if ee, ok := h.exitErr.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return code, took
}

// waitExit waits for the host to exit on its own.
func (h *Host) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(timeout):
		t.Fatalf("host still running after %v", timeout)
	}
	if ee, ok := h.exitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// docker runs the docker CLI and returns its trimmed output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// runLogger starts a test container named name running the logger with
// args, removed when the test ends, and returns its full ID.
func runLogger(t *testing.T, name string, dockerArgs []string, loggerArgs ...string) string {
	t.Helper()
	id := docker(t, loggerRunArgs(name, dockerArgs, loggerArgs)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

// loggerRunArgs are the docker arguments that start a test container.
func loggerRunArgs(name string, dockerArgs, loggerArgs []string) []string {
	args := append([]string{"run", "-d", "--network", "none", "--name", name, "--label", "docker-logs-e2e=1"}, dockerArgs...)
	return append(append(args, testImage), loggerArgs...)
}

// uniqueName returns a container name prefix unique to this test run.
func uniqueName(t *testing.T) string {
	re := regexp.MustCompile(`[^a-zA-Z0-9]+`)
	return fmt.Sprintf("e2e-%s-%d", strings.ToLower(re.ReplaceAllString(t.Name(), "-")), time.Now().UnixNano()%1e6)
}

// freeAddr returns a loopback address with a free port for metrics.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads /metrics at addr.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// metricValue sums the samples of family name whose labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

var linePattern = regexp.MustCompile(`^seq=(\d+) stream=(stdout|stderr) id=(\S+) len=(\d+)`)

// lineField returns field i of a logger line (1 seq, 2 stream, 3 id,
// 4 len), or "".
func lineField(log string, i int) string {
	if m := linePattern.FindStringSubmatch(log); m != nil {
		return m[i]
	}
	return ""
}

// lineNumber returns numeric field i of a logger line, or -1.
func lineNumber(log string, i int) int {
	n, err := strconv.Atoi(lineField(log, i))
	if err != nil {
		return -1
	}
	return n
}

// seqOf returns the sequence number of a logger line, or -1.
func seqOf(log string) int { return lineNumber(log, 1) }

// idOf returns the id= tag of a logger line.
func idOf(log string) string { return lineField(log, 3) }

// lenOf returns the length a logger line says it has, or -1.
func lenOf(log string) int { return lineNumber(log, 4) }

// streamKey identifies one stream of one container.
type streamKey struct{ name, stream string }

// sequences groups the sequence numbers of logger lines by container name
// (without the test's prefix) and stream, in arrival order.
func sequences(recs []Record) map[streamKey][]int {
	out := map[streamKey][]int{}
	for _, r := range recs {
		k := streamKey{r.Body.Name, r.Body.Stream}
		out[k] = append(out[k], seqOf(r.Body.Log))
	}
	return out
}

// checkExactlyOnce reports every gap, duplicate or reordering in seqs, which
// must be first, first+1, ..., last.
func checkExactlyOnce(t *testing.T, what string, seqs []int, first, last int) {
	t.Helper()
	if len(seqs) == 0 {
		t.Errorf("%s: no lines", what)
		return
	}
	want := first
	problems := 0
	for i, s := range seqs {
		if s != want {
			if problems < 5 {
				t.Errorf("%s: line %d has seq %d, want %d (lost or duplicated lines)", what, i, s, want)
			}
			problems++
			want = s
		}
		want++
	}
	if got := seqs[len(seqs)-1]; got != last {
		t.Errorf("%s: last seq %d, want %d", what, got, last)
	}
	if len(seqs) != last-first+1 {
		t.Errorf("%s: %d lines, want %d", what, len(seqs), last-first+1)
	}
}

// dockerTimestamps returns Docker's own timestamp of each line of a
// container, by line text and stream.
func dockerTimestamps(t *testing.T, id string) map[string]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", "--timestamps", id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker logs: %v", err)
	}
	ts := map[string]time.Time{}
	for _, line := range strings.Split(out.String(), "\n") {
		stamp, text, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("docker logs timestamp %q: %v", stamp, err)
		}
		ts[text] = tm
	}
	return ts
}

// engineTime is a record's time as the engine's logs API would stamp it.
func engineTime(t *testing.T, s string) time.Time {
	t.Helper()
	return recordTime(t, s).Truncate(stampPrecision)
}

// recordTime parses the host's "sec.nsec" time.
func recordTime(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 9 {
		t.Fatalf("record time %q is not sec.nnnnnnnnn", s)
	}
	si, err1 := strconv.ParseInt(sec, 10, 64)
	ni, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("record time %q: %v %v", s, err1, err2)
	}
	return time.Unix(si, ni)
}

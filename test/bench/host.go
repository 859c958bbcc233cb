package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// stderrWatch keeps the host's stderr and when given texts first appeared.
type stderrWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	marks map[string]time.Time
	// pid is the host's; its read syscalls and peak RSS are taken when it
	// prints its exit, while it still runs (-1 until then, or when unknown).
	// The rusage of a child is no measure of its RSS: its peak includes
	// the parent's, whose memory it shares from the fork to the exec.
	pid        int
	readsAtEnd int64
	hwmAtEnd   int64
}

// connectedMark is the plugin's log line once it has reached the daemon
// (through the host's logger or Fluent Bit's).
const connectedMark = "daemon's engine"

var watched = []string{"host: instance 0 running", "host: exiting", connectedMark}

func (w *stderrWatch) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	from := w.buf.Len()
	w.buf.Write(p)
	for _, m := range watched {
		if _, ok := w.marks[m]; !ok && bytes.Contains(w.buf.Bytes()[max(0, from-len(m)):], []byte(m)) {
			w.marks[m] = now
			if m == "host: exiting" && w.pid > 0 {
				w.readsAtEnd, w.hwmAtEnd = procReads(w.pid), procHWM(w.pid)
			}
		}
	}
	return len(p), nil
}

func (w *stderrWatch) mark(m string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.marks[m]
	return t, ok
}

func (w *stderrWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// hostRun is one run of build/fbhost.
type hostRun struct {
	cmd     *exec.Cmd
	stderr  *stderrWatch
	start   time.Time
	done    chan struct{}
	waitErr error
}

func (b *bench) startHost(args ...string) (*hostRun, error) {
	h := &hostRun{stderr: &stderrWatch{marks: map[string]time.Time{}, readsAtEnd: -1, hwmAtEnd: -1}, done: make(chan struct{})}
	h.cmd = exec.Command(b.o.host, append([]string{"-e", b.o.plugin}, args...)...)
	h.cmd.Stderr = h.stderr
	h.start = time.Now()
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start host: %w", err)
	}
	h.stderr.mu.Lock()
	h.stderr.pid = h.cmd.Process.Pid
	h.stderr.mu.Unlock()
	b.mu.Lock()
	b.hosts[h] = true
	b.mu.Unlock()
	go func() {
		h.waitErr = h.cmd.Wait()
		b.mu.Lock()
		delete(b.hosts, h)
		b.mu.Unlock()
		close(h.done)
	}()
	return h, nil
}

// tail returns the last lines of the host's stderr, for error messages.
func (h *hostRun) tail() string {
	lines := strings.Split(strings.TrimRight(h.stderr.String(), "\n"), "\n")
	return "host stderr (last lines):\n  " + strings.Join(lines[max(0, len(lines)-20):], "\n  ")
}

// errExited: the process ended before it printed what was waited for.
var errExited = errors.New("exited")

// waitMark waits until the process printed m, or done is closed (its exit).
func (w *stderrWatch) waitMark(ctx context.Context, m string, timeout time.Duration, done <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, ok := w.mark(m); ok {
			return nil
		}
		select {
		case <-done:
			return errExited
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%q not printed within %v", m, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitMark waits until the host printed m.
func (h *hostRun) waitMark(ctx context.Context, m string, timeout time.Duration) error {
	switch err := h.stderr.waitMark(ctx, m, timeout, h.done); {
	case errors.Is(err, errExited):
		return fmt.Errorf("host exited (%v) before printing %q\n%s", h.waitErr, m, h.tail())
	case err != nil && ctx.Err() == nil:
		return fmt.Errorf("host: %w\n%s", err, h.tail())
	default:
		return err
	}
}

// wait waits for the host to exit on its own, killing it after timeout, and
// checks it exited 0.
func (h *hostRun) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-h.done:
	case <-time.After(timeout):
		h.cmd.Process.Kill()
		<-h.done
		return fmt.Errorf("host still running after %v: killed\n%s", timeout, h.tail())
	case <-ctx.Done():
		h.cmd.Process.Kill()
		<-h.done
		return ctx.Err()
	}
	if h.waitErr != nil {
		return fmt.Errorf("host exited badly: %v\n%s", h.waitErr, h.tail())
	}
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (h *hostRun) stop(ctx context.Context) error {
	h.cmd.Process.Signal(syscall.SIGTERM)
	return h.wait(ctx, 30*time.Second)
}

var countersRe = regexp.MustCompile(`host: records=(\d+) bytes=(\d+)`)

// records returns the host's final count of records.
func (h *hostRun) records() (int64, error) {
	m := countersRe.FindAllStringSubmatch(h.stderr.String(), -1)
	if m == nil {
		return 0, fmt.Errorf("host printed no record count\n%s", h.tail())
	}
	return strconv.ParseInt(m[len(m)-1][1], 10, 64)
}

// runB runs the plugin in the host, collecting every tick, until every
// line of every load container was counted.
func (b *bench) runB(ctx context.Context, tick time.Duration) (sideResult, error) {
	o := b.o
	total := int64(o.containers * o.lines)
	d0 := procCPU(b.dockerdPID)
	args := []string{"-T", strconv.FormatInt(tick.Milliseconds(), 10), "-q", "-m", strconv.FormatInt(total, 10),
		"-i", "-p", "read_from_head=on", "-p", "include_names=bench-" + b.runID + "-*", "-p", "metrics_listen=off"}
	if o.bufferMax != "" {
		args = append(args, "-p", "buffer_max_size="+o.bufferMax)
	}
	h, err := b.startHost(args...)
	if err != nil {
		return sideResult{}, err
	}
	if err := h.wait(ctx, o.timeout); err != nil {
		return sideResult{}, err
	}
	d1 := procCPU(b.dockerdPID)
	got, err := h.records()
	if err != nil {
		return sideResult{}, err
	}
	if got != total {
		return sideResult{}, fmt.Errorf("host counted %d records, want %d\n%s", got, total, h.tail())
	}
	done, ok := h.stderr.mark("host: exiting")
	if !ok {
		return sideResult{}, fmt.Errorf("host did not print its exit\n%s", h.tail())
	}
	ps := h.cmd.ProcessState
	var csw int64
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		csw = ru.Nvcsw + ru.Nivcsw
	}
	h.stderr.mu.Lock()
	reads, rss := h.stderr.readsAtEnd, h.stderr.hwmAtEnd
	h.stderr.mu.Unlock()
	res := sideResult{wall: done.Sub(h.start), user: ps.UserTime(), sys: ps.SystemTime(),
		dockerdCPU: cpuDelta(d0, d1), rssKiB: rss, reads: reads, csw: csw}
	if running, ok := h.stderr.mark("host: instance 0 running"); ok {
		res.startup = running.Sub(h.start)
	}
	return res, nil
}

// idleB is the host's RSS with the plugin loaded and connected and no
// container matched: what the host holds before any drain.
func (b *bench) idleB(ctx context.Context) (int64, error) {
	h, err := b.startHost("-q", "-i", "-p", "include_names=bench-"+b.runID+"-none-*", "-p", "metrics_listen=off")
	if err != nil {
		return 0, err
	}
	defer h.stop(ctx)
	if err := h.waitMark(ctx, connectedMark, 30*time.Second); err != nil {
		return 0, err
	}
	return idleRSS(ctx, h.cmd.Process.Pid)
}

// idleRSS waits two collects and returns pid's peak RSS so far, in KiB.
func idleRSS(ctx context.Context, pid int) (int64, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	if kib := procHWM(pid); kib > 0 {
		return kib, nil
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var scrapeNames = []string{"go_goroutines", "process_open_fds", "process_resident_memory_bytes", "docker_logs_streams_active",
	"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"}

var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// scrape reads the metrics of scrapeNames from addr, summing samples.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", "http://"+addr+"/metrics", nil)
	// No keep-alive: an idle connection left open would count as one more
	// goroutine of the host's.
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := map[string]float64{}
	for _, name := range scrapeNames {
		f, ok := fams[name]
		if !ok {
			return nil, fmt.Errorf("metrics lack %s", name)
		}
		for _, m := range f.Metric {
			switch {
			case m.Gauge != nil:
				out[name] += m.Gauge.GetValue()
			case m.Counter != nil:
				out[name] += m.Counter.GetValue()
			case m.Untyped != nil:
				out[name] += m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}

// latency measures recv - time at Fluent Bit's real tick.
func (b *bench) latency(ctx context.Context) (*latencyResult, error) {
	o := b.o
	total := int(float64(o.latencyRate) * o.latencyDuration.Seconds())
	b.logf("phase 4: latency of %d lines at %d/s, -T %d", total, o.latencyRate, o.latencyTick.Milliseconds())
	dir, err := os.MkdirTemp("", "docker-logs-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "records.jsonl")
	name := fmt.Sprintf("bench-%s-latency", b.runID)
	h, err := b.startHost("-T", strconv.FormatInt(o.latencyTick.Milliseconds(), 10), "-o", out, "-m", strconv.Itoa(total),
		"-i", "-p", "include_names="+name, "-p", "metrics_listen=off")
	if err != nil {
		return nil, err
	}
	if err := h.waitMark(ctx, "host: instance 0 running", 30*time.Second); err != nil {
		h.cmd.Process.Kill()
		return nil, err
	}
	ids, err := b.startContainers(ctx, []string{name}, "-n", strconv.Itoa(total), "-rate", strconv.Itoa(o.latencyRate),
		"-size", strconv.Itoa(o.lineSize), "-after", "idle")
	if err != nil {
		h.cmd.Process.Kill()
		return nil, err
	}
	if err := h.wait(ctx, o.latencyDuration+2*time.Minute); err != nil {
		return nil, err
	}
	lats, err := readLatencies(out, total)
	if err != nil {
		return nil, err
	}
	sortDurations(lats)
	res := &latencyResult{lines: total, p50: percentile(lats, 50), p99: percentile(lats, 99), pmax: lats[len(lats)-1]}
	return res, b.removeContainers(ids)
}

// readLatencies reads the records the host printed, checks they are lines
// 1..total in order, and returns recv - time of each.
func readLatencies(path string, total int) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lats []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct {
			Time, Recv string
			Record     struct {
				Log string `json:"log"`
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("record %d: %w", len(lats)+1, err)
		}
		t, err1 := parseSecNsec(r.Time)
		recv, err2 := parseSecNsec(r.Recv)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("record %d: times %q %q", len(lats)+1, r.Time, r.Recv)
		}
		m := seqRe.FindStringSubmatch(r.Record.Log)
		if m == nil || m[1] != strconv.Itoa(len(lats)+1) {
			return nil, fmt.Errorf("record %d is not line seq=%d: %.60q", len(lats)+1, len(lats)+1, r.Record.Log)
		}
		lats = append(lats, time.Duration(recv-t))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lats) != total {
		return nil, fmt.Errorf("%d records, want %d", len(lats), total)
	}
	return lats, nil
}

// parseSecNsec parses the host's "SEC.NNNNNNNNN" into Unix nanoseconds.
func parseSecNsec(s string) (int64, error) {
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 9 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	si, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	ni, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return si*1e9 + ni, nil
}

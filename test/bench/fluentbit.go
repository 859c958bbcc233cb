package main

// The real Fluent Bit's sides of phase 2: the plugin in Fluent Bit (F, the
// headline) and Fluent Bit's own tail input on the same json-file logs (T).
// Each run is clocked at Fluent Bit's own count of the input's records (its
// HTTP server's /api/v1/metrics), never at a plugin counter; its CPU and
// peak RSS are the whole process's, read from /proc when the count is
// reached, before the exit.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fbParsers defines the docker parser of Fluent Bit's stock parsers.conf,
// which a bare fluent-bit binary does not load.
const fbParsers = `[PARSER]
    Name        docker
    Format      json
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L
    Time_Keep   On
`

// fbRun is one run of the real Fluent Bit.
type fbRun struct {
	cmd    *exec.Cmd
	stderr *stderrWatch
	addr   string
	start  time.Time
	done   chan struct{}
}

// startFluentBit runs fluent-bit with args after its HTTP server's flags.
// Its stdout goes to stdout, or with its log when stdout is nil.
func (b *bench) startFluentBit(stdout io.Writer, args ...string) (*fbRun, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(addr, ":")
	f := &fbRun{stderr: &stderrWatch{marks: map[string]time.Time{}, readsAtEnd: -1}, addr: addr, done: make(chan struct{})}
	f.cmd = exec.Command(b.o.fluentBit, append([]string{"-H", "-L", "127.0.0.1", "-P", port}, args...)...)
	f.cmd.Stdout, f.cmd.Stderr = f.stderr, f.stderr
	if stdout != nil {
		f.cmd.Stdout = stdout
	}
	f.start = time.Now()
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fluent-bit: %w", err)
	}
	go func() {
		f.cmd.Wait()
		close(f.done)
	}()
	return f, nil
}

func (f *fbRun) tail() string {
	lines := strings.Split(strings.TrimRight(f.stderr.String(), "\n"), "\n")
	return "fluent-bit log (last lines):\n  " + strings.Join(lines[max(0, len(lines)-20):], "\n  ")
}

// fbClient asks without keep-alive: an idle connection costs Fluent Bit
// nothing, but each run is a new process.
var fbClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

// records is Fluent Bit's count of the records the input appended.
func (f *fbRun) records(input string) (int64, error) {
	resp, err := fbClient.Get("http://" + f.addr + "/api/v1/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var m struct {
		Input map[string]struct {
			Records int64 `json:"records"`
		} `json:"input"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, err
	}
	return m.Input[input].Records, nil
}

// waitRecords polls Fluent Bit's count every 20 ms until it reaches total.
// It returns when it did, the process's CPU and peak RSS then.
func (f *fbRun) waitRecords(ctx context.Context, input string, total int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := f.records(input)
		if err == nil && n >= total {
			if n > total {
				return time.Time{}, fmt.Errorf("fluent-bit counted %d records, want %d", n, total)
			}
			return time.Now(), nil
		}
		select {
		case <-f.done:
			return time.Time{}, fmt.Errorf("fluent-bit exited before counting %d records\n%s", total, f.tail())
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("fluent-bit counted %d of %d records within %v\n%s", n, total, timeout, f.tail())
		}
	}
}

// stop ends Fluent Bit with SIGTERM, and kills it after 30 s.
func (f *fbRun) stop() {
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		f.cmd.Process.Kill()
		<-f.done
	}
}

// procHWM returns the peak RSS of pid (VmHWM), in KiB, or -1.
func procHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// measureFluentBit runs Fluent Bit with args until input has appended
// total records, and measures it.
func (b *bench) measureFluentBit(ctx context.Context, input string, total int64, args ...string) (sideResult, error) {
	d0 := procCPU(b.dockerdPID)
	f, err := b.startFluentBit(nil, args...)
	if err != nil {
		return sideResult{}, err
	}
	defer f.stop()
	done, err := f.waitRecords(ctx, input, total, b.o.timeout)
	if err != nil {
		return sideResult{}, err
	}
	pid := f.cmd.Process.Pid
	cpu, rss, reads := procCPUSplit(pid), procHWM(pid), procReads(pid)
	d1 := procCPU(b.dockerdPID)
	return sideResult{wall: done.Sub(f.start), user: cpu[0], sys: cpu[1], dockerdCPU: cpuDelta(d0, d1),
		rssKiB: rss, reads: reads, csw: procCSW(pid)}, nil
}

// runF reads every load container in the real Fluent Bit with the plugin's
// defaults, read_from_head on, to the null output.
func (b *bench) runF(ctx context.Context, extra ...string) (sideResult, error) {
	total := int64(b.o.containers * b.o.lines)
	args := []string{"-e", b.o.plugin, "-i", "docker_logs", "-p", "read_from_head=on",
		"-p", "include_names=bench-" + b.runID + "-load-*", "-p", "metrics_listen=off"}
	if b.o.bufferMax != "" {
		extra = append(extra, "buffer_max_size="+b.o.bufferMax)
	}
	for _, p := range extra {
		args = append(args, "-p", p)
	}
	args = append(args, "-o", "null", "-m", "*")
	return b.measureFluentBit(ctx, "docker_logs.0", total, args...)
}

// idleF is Fluent Bit's RSS with the plugin loaded and connected and no
// container matched: what the process holds before any drain.
func (b *bench) idleF(ctx context.Context) (int64, error) {
	f, err := b.startFluentBit(nil, "-e", b.o.plugin, "-i", "docker_logs", "-p", "include_names=bench-"+b.runID+"-none-*",
		"-p", "metrics_listen=off", "-o", "null", "-m", "*")
	if err != nil {
		return 0, err
	}
	defer f.stop()
	if err := f.stderr.waitMark(ctx, connectedMark, 30*time.Second, f.done); err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		return 0, fmt.Errorf("fluent-bit, the plugin's connection: %w\n%s", err, f.tail())
	}
	return idleRSS(ctx, f.cmd.Process.Pid)
}

// runT reads the load containers' json-file logs with Fluent Bit's tail
// input and its docker parser, from their head, to the null output.
func (b *bench) runT(ctx context.Context, ids []string) (sideResult, error) {
	total := int64(b.o.containers * b.o.lines)
	dir, err := os.MkdirTemp("", "docker-logs-bench-tail-")
	if err != nil {
		return sideResult{}, err
	}
	defer os.RemoveAll(dir)
	parsers := filepath.Join(dir, "parsers.conf")
	if err := os.WriteFile(parsers, []byte(fbParsers), 0o644); err != nil {
		return sideResult{}, err
	}
	var paths []string
	for _, id := range ids {
		info, err := b.cli.ContainerInspect(ctx, id)
		if err != nil {
			return sideResult{}, err
		}
		paths = append(paths, info.LogPath)
	}
	args := []string{"-R", parsers, "-i", "tail", "-p", "path=" + strings.Join(paths, ","), "-p", "parser=docker",
		"-p", "read_from_head=on", "-p", "db=" + filepath.Join(dir, "tail.db"), "-o", "null", "-m", "*"}
	return b.measureFluentBit(ctx, "tail.0", total, args...)
}

// procCPUSplit returns utime and stime of pid, or -1s.
func procCPUSplit(pid int) [2]time.Duration {
	f := procStatFields(pid)
	if len(f) < 13 {
		return [2]time.Duration{-1, -1}
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return [2]time.Duration{-1, -1}
	}
	return [2]time.Duration{time.Duration(ut) * time.Second / clkTck, time.Duration(st) * time.Second / clkTck}
}

// procCSW returns the context switches of every thread of pid.
func procCSW(pid int) int64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

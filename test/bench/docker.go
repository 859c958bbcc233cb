package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// benchLabel marks every container the bench creates, with the run's ID.
const benchLabel = "docker-logs-bench"

type bench struct {
	o             options
	runID         string
	cli           dockerClient
	serverVersion string
	dockerdPID    int    // 0: not found
	binDir        string // the private copies of the host and the plugin

	mu    sync.Mutex
	ids   map[string]bool   // containers created and not removed
	hosts map[*hostRun]bool // hosts running
}

// dockerClient is the moby client with a ContainerInspect that takes no
// options and returns the container's description, as the bench uses it.
type dockerClient struct{ *client.Client }

func (c dockerClient) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	res, err := c.Client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	return res.Container, err
}

func newBench(ctx context.Context, o options) (*bench, error) {
	for _, f := range []string{o.host, o.plugin} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s missing: run make build host first", f)
		}
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ver, err := cli.ServerVersion(pctx, client.ServerVersionOptions{})
	if err != nil {
		return nil, fmt.Errorf("no Docker engine answers (scripts/dockerd.sh start): %w", err)
	}
	if _, err := cli.ImageInspect(pctx, o.image); err != nil {
		return nil, fmt.Errorf("image %s: %w (make image-test)", o.image, err)
	}
	// Run private copies, so that a rebuild during the run (other people
	// work in this tree) cannot change what is measured between rounds.
	dir, err := os.MkdirTemp("", "docker-logs-bench-bin-")
	if err != nil {
		return nil, err
	}
	for _, p := range []*string{&o.host, &o.plugin} {
		dst := filepath.Join(dir, filepath.Base(*p))
		if err := copyFile(*p, dst); err != nil {
			return nil, err
		}
		*p = dst
	}
	return &bench{
		o: o, binDir: dir, runID: fmt.Sprintf("%06x", time.Now().UnixMilli()&0xffffff), cli: dockerClient{cli},
		serverVersion: ver.Version, dockerdPID: findDockerd(),
		ids: map[string]bool{}, hosts: map[*hostRun]bool{},
	}, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func absPath(p string) (string, error) { return filepath.Abs(p) }

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// startContainers creates and starts one logger container per name,
// o.scaleParallel at a time, and returns their IDs in the order of names.
func (b *bench) startContainers(ctx context.Context, names []string, loggerArgs ...string) ([]string, error) {
	ids := make([]string, len(names))
	err := parallel(len(names), b.o.scaleParallel, func(i int) error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		resp, err := b.cli.ContainerCreate(cctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: b.o.image, Cmd: loggerArgs, Labels: map[string]string{benchLabel: b.runID}},
			HostConfig: &container.HostConfig{NetworkMode: "none"}, Name: names[i]})
		if err != nil {
			return fmt.Errorf("create %s: %w", names[i], err)
		}
		b.mu.Lock()
		b.ids[resp.ID] = true
		b.mu.Unlock()
		ids[i] = resp.ID
		if _, err := b.cli.ContainerStart(cctx, resp.ID, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", names[i], err)
		}
		return nil
	})
	return ids, err
}

// removeContainers force-removes containers, o.scaleParallel at a time.
func (b *bench) removeContainers(ids []string) error {
	return parallel(len(ids), b.o.scaleParallel, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := b.cli.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true})
		if err != nil && !strings.Contains(err.Error(), "No such container") {
			return fmt.Errorf("remove %.12s: %w", ids[i], err)
		}
		b.mu.Lock()
		delete(b.ids, ids[i])
		b.mu.Unlock()
		return nil
	})
}

// cleanup kills the hosts still running and removes every container of
// this run, those it knows and any other with its label.
func (b *bench) cleanup() {
	b.mu.Lock()
	for h := range b.hosts {
		h.cmd.Process.Kill()
	}
	var ids []string
	for id := range b.ids {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := b.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", benchLabel+"="+b.runID)})
	if err == nil {
		for _, c := range list.Items {
			if !b.ids[c.ID] {
				ids = append(ids, c.ID)
			}
		}
	}
	os.RemoveAll(b.binDir)
	if len(ids) > 0 {
		b.logf("cleanup: removing %d containers", len(ids))
		if err := b.removeContainers(ids); err != nil {
			b.logf("cleanup: %v", err)
		}
	}
}

// parallel runs f(0..n-1), at most width at a time, and returns the first
// error; after an error no new call starts.
func parallel(n, width int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, width)
	for i := 0; i < n; i++ {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

var seqRe = regexp.MustCompile(`seq=(\d+) `)

// lastSeq returns the sequence number of a container's last log line
// (docker logs --tail 1), or 0 when it has none yet.
func (b *bench) lastSeq(ctx context.Context, id string) (int, error) {
	rc, err := b.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "1"})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return 0, err
	}
	// Multiplexed: 8-byte headers, then the payload.
	var text []byte
	for len(data) >= 8 {
		n := int(binary.BigEndian.Uint32(data[4:8]))
		if 8+n > len(data) {
			break
		}
		text = append(text, data[8:8+n]...)
		data = data[8+n:]
	}
	m := seqRe.FindSubmatch(text)
	if m == nil {
		return 0, nil
	}
	return strconv.Atoi(string(m[1]))
}

// waitWritten waits until every container's last line is seq=lines.
func (b *bench) waitWritten(ctx context.Context, ids []string, lines int) error {
	deadline := time.Now().Add(b.o.timeout)
	for _, id := range ids {
		for {
			seq, err := b.lastSeq(ctx, id)
			if err != nil {
				return fmt.Errorf("logs of %.12s: %w", id, err)
			}
			if seq == lines {
				break
			}
			if seq > lines {
				return fmt.Errorf("container %.12s wrote seq=%d, more than %d", id, seq, lines)
			}
			info, err := b.cli.ContainerInspect(ctx, id)
			if err != nil {
				return fmt.Errorf("inspect %.12s: %w", id, err)
			}
			if !info.State.Running {
				return fmt.Errorf("container %.12s stopped (exit code %d) after seq=%d of %d", id, info.State.ExitCode, seq, lines)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("container %.12s at seq=%d of %d after %v", id, seq, lines, b.o.timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// findDockerd returns the PID of the dockerd DOCKER_HOST names, or 0. Each
// daemon is found by its pidfile (two may run): the default engine's, or a
// docker.pid beside DOCKER_HOST's socket (test/scripts/modern-dockerd.sh).
func findDockerd() int {
	pidfile := "/var/run/docker.pid"
	if sock, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && sock != "/var/run/docker.sock" {
		pidfile = filepath.Join(filepath.Dir(sock), "docker.pid")
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && procComm(pid) == "dockerd" {
		return pid
	}
	return 0
}

func procComm(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// clkTck is sysconf(_SC_CLK_TCK), 100 on Linux.
const clkTck = 100

// procCPU returns utime+stime of pid from /proc/<pid>/stat, or -1.
func procCPU(pid int) time.Duration {
	c := procCPUSplit(pid)
	if c[0] < 0 {
		return -1
	}
	return c[0] + c[1]
}

// procStatFields returns the fields of /proc/<pid>/stat after the command
// name (which may hold spaces): field 3 on; nil when unknown.
func procStatFields(pid int) []string {
	if pid == 0 {
		return nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// usage is what getrusage says of this process.
type usage struct {
	user, sys time.Duration
	rssKiB    int64 // peak
	csw       int64 // context switches, voluntary or not, all threads
}

func selfUsage() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usage{tv(ru.Utime), tv(ru.Stime), ru.Maxrss, ru.Nvcsw + ru.Nivcsw}
}

// procReads returns the read syscalls pid made (syscr of /proc/<pid>/io:
// read, readv, pread), or -1.
func procReads(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// frameBytes is what the logs API sends per line with timestamps=1: the
// 8-byte frame header, RFC3339Nano with 9 fixed digits (30 bytes), a
// space, the line and its newline.
func frameBytes(lineSize int) int64 { return int64(8 + 30 + 1 + lineSize + 1) }

// runA reads every load container's log once, concurrently, and discards it.
func (b *bench) runA(ctx context.Context, ids []string) (sideResult, error) {
	want := int64(b.o.lines) * frameBytes(b.o.lineSize)
	d0 := procCPU(b.dockerdPID)
	u0, r0 := selfUsage(), procReads(os.Getpid())
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	err := parallel(len(ids), len(ids), func(i int) error {
		rc, err := b.cli.ContainerLogs(actx, ids[i], client.ContainerLogsOptions{
			ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: false})
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("container %.12s: read %d bytes, want %d (%d lines of %d bytes)", ids[i], n, want, b.o.lines, frameBytes(b.o.lineSize))
		}
		return nil
	})
	wall := time.Since(start)
	u1, r1 := selfUsage(), procReads(os.Getpid())
	d1 := procCPU(b.dockerdPID)
	if err != nil {
		return sideResult{}, err
	}
	reads := int64(-1)
	if r0 >= 0 && r1 >= 0 {
		reads = r1 - r0
	}
	return sideResult{wall: wall, user: u1.user - u0.user, sys: u1.sys - u0.sys, dockerdCPU: cpuDelta(d0, d1),
		rssKiB: u1.rssKiB, reads: reads, csw: u1.csw - u0.csw}, nil
}

func cpuDelta(d0, d1 time.Duration) time.Duration {
	if d0 < 0 || d1 < 0 {
		return -1
	}
	return d1 - d0
}

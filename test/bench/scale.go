package main

// Phase 3 (scale): many followed containers in the real Fluent Bit. What
// each container costs the plugin and dockerd, at 1 line/s and idle; the
// time from a container's start to its first record while containers
// start and exit at a steady rate; and every line once. Fluent Bit prints
// the records (stdout, json_lines) into a sink in this process, so nothing
// polls the plugin while a window is measured.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// scaleFlush is Fluent Bit's flush interval in this phase: the time to a
// first record is then the plugin's share (Fluent Bit's default of 1 s
// would add up to a second before the stdout output prints).
const scaleFlush = "0.2"

// recordSink parses the records Fluent Bit prints and keeps, per
// container name, how often each seq arrived and when the first did.
type recordSink struct {
	mu      sync.Mutex
	partial []byte
	seen    map[string]*arrivals
	bad     int // lines that are not a record with a seq
}

type arrivals struct {
	first   time.Time
	firstTS time.Time // the daemon's timestamp of the first record's line
	count   []int     // count[seq-1]: how many times line seq arrived
}

func newRecordSink() *recordSink { return &recordSink{seen: map[string]*arrivals{}} }

func (s *recordSink) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.add(s.partial[:i], now)
		s.partial = s.partial[i+1:]
	}
	s.partial = slices.Clip(s.partial)
	return len(p), nil
}

func (s *recordSink) add(line []byte, now time.Time) {
	var r struct {
		Name string  `json:"container_name"`
		Log  string  `json:"log"`
		Date float64 `json:"date"` // the line's timestamp, Unix seconds
	}
	if json.Unmarshal(line, &r) != nil {
		s.bad++
		return
	}
	m := seqRe.FindStringSubmatch(r.Log)
	if m == nil || r.Name == "" {
		s.bad++
		return
	}
	seq, _ := strconv.Atoi(m[1])
	a := s.seen[r.Name]
	if a == nil {
		a = &arrivals{first: now, firstTS: time.Unix(0, int64(r.Date*1e9))}
		s.seen[r.Name] = a
	}
	for len(a.count) < seq {
		a.count = append(a.count, 0)
	}
	a.count[seq-1]++
}

// firstArrival returns when the first record of name arrived, and the
// timestamp of its line.
func (s *recordSink) firstArrival(name string) (at, lineTS time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.seen[name]
	if a == nil {
		return time.Time{}, time.Time{}, false
	}
	return a.first, a.firstTS, true
}

// has reports whether line seq of name arrived.
func (s *recordSink) has(name string, seq int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.seen[name]
	return a != nil && len(a.count) >= seq && a.count[seq-1] > 0
}

// check counts, against lines 1..want[name] of each name, the lines that
// never arrived and the extra arrivals (a line twice, or past the last).
func (s *recordSink) check(want map[string]int) (lost, dup int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, n := range want {
		var count []int
		if a := s.seen[name]; a != nil {
			count = a.count
		}
		for seq := 1; seq <= max(n, len(count)); seq++ {
			c := 0
			if seq <= len(count) {
				c = count[seq-1]
			}
			switch {
			case seq > n:
				dup += c
			case c == 0:
				lost++
			default:
				dup += c - 1
			}
		}
	}
	return lost, dup
}

type scaleResult struct {
	n             int
	window        time.Duration
	startTime     time.Duration
	before, after map[string]float64 // the plugin's /metrics with no container, and with n idle
	perContainer  struct{ goroutines, fds, rssBytes float64 }

	// CPU per window, as a fraction of one core; -1: unknown.
	dockerdActive, dockerdIdle, dockerdRaw, dockerdFloor float64
	fbActive, fbIdle                                     float64
	fbCPU                                                time.Duration // the whole Fluent Bit run
	fbPeakKiB                                            int64

	churn          int // containers started during churn
	churnWall      time.Duration
	firstRecord    []time.Duration // sorted
	lineToRecord   []time.Duration // the first line's timestamp to its record, sorted
	lines          int             // lines checked
	lost, dup, bad int
}

func (b *bench) scale(ctx context.Context) (*scaleResult, error) {
	o := b.o
	n := o.scaleContainers
	res := &scaleResult{n: n, window: o.scaleDuration, dockerdActive: -1, dockerdIdle: -1, dockerdRaw: -1, dockerdFloor: -1, fbActive: -1, fbIdle: -1}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	prefix := "bench-" + b.runID + "-scale-"
	sink := newRecordSink()
	b.logf("phase 3: %d containers at 1 line/s in Fluent Bit, then idle, then %v of churn at %d/s", n, o.scaleChurn, o.scaleChurnRate)
	f, err := b.startFluentBit(sink, "-f", scaleFlush, "-e", b.o.plugin, "-i", "docker_logs",
		"-p", "include_names="+prefix+"*", "-p", "metrics_listen="+metricsAddr,
		"-o", "stdout", "-p", "format=json_lines", "-m", "*")
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if err := waitFor(ctx, 30*time.Second, func() bool { _, err := scrape(ctx, metricsAddr); return err == nil }); err != nil {
		return nil, fmt.Errorf("the plugin's metrics did not answer: %w\n%s", err, f.tail())
	}
	time.Sleep(2 * time.Second) // let the runtime and the first list settle before the baseline
	if res.before, err = scrape(ctx, metricsAddr); err != nil {
		return nil, err
	}

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	start := time.Now()
	ids, err := b.startContainers(ctx, names, "-n", "0", "-rate", "1", "-size", strconv.Itoa(o.lineSize), "-after", "idle")
	if err != nil {
		return res, err
	}
	res.startTime = time.Since(start)
	b.logf("phase 3: %d containers started in %.1fs; waiting for a record of each", n, res.startTime.Seconds())
	if err := waitFor(ctx, o.timeout, func() bool {
		for _, name := range names {
			if _, _, ok := sink.firstArrival(name); !ok {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("not every container's records arrived: %w\n%s", err, f.tail())
	}

	fbPID := f.cmd.Process.Pid
	b.logf("phase 3: every container has records; measuring %v at 1 line/s each", o.scaleDuration)
	if res.dockerdActive, res.fbActive, err = b.window(ctx, fbPID); err != nil {
		return res, err
	}

	b.logf("phase 3: stopping the writers (SIGUSR1)")
	err = parallel(len(ids), 16, func(i int) error {
		_, err := b.cli.ContainerKill(ctx, ids[i], client.ContainerKillOptions{Signal: "USR1"})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("signal the writers: %w", err)
	}
	want, err := b.settledLastSeqs(ctx, names, ids)
	if err != nil {
		return res, err
	}
	if err := waitFor(ctx, o.timeout, func() bool {
		for name, last := range want {
			if last > 0 && !sink.has(name, last) {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("the last lines did not all arrive: %w\n%s", err, f.tail())
	}

	b.logf("phase 3: measuring %v idle", o.scaleDuration)
	if res.dockerdIdle, res.fbIdle, err = b.window(ctx, fbPID); err != nil {
		return res, err
	}
	if res.after, err = scrape(ctx, metricsAddr); err != nil {
		return res, err
	}
	if got := int(res.after["docker_logs_streams_active"]); got != n {
		return res, fmt.Errorf("%d streams active with %d idle containers, want %d", got, n, n)
	}
	per := func(k string) float64 { return (res.after[k] - res.before[k]) / float64(n) }
	res.perContainer.goroutines = per("go_goroutines")
	res.perContainer.fds = per("process_open_fds")
	res.perContainer.rssBytes = per("process_resident_memory_bytes")

	churnIDs, err := b.churn(ctx, res, sink, prefix+"churn-", want)
	defer b.removeContainers(churnIDs)
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, f.tail())
	}
	if lost, _ := sink.check(want); lost > 0 {
		b.logf("phase 3: %d lines missing after churn\n%s", lost, f.tail())
	}
	res.fbCPU, res.fbPeakKiB = procCPU(fbPID), procHWM(fbPID)
	f.stop()
	for _, c := range want {
		res.lines += c
	}
	res.lost, res.dup = sink.check(want)
	sink.mu.Lock()
	res.bad = sink.bad
	sink.mu.Unlock()

	b.logf("phase 3: %d raw follows of the idle containers for %v", n, o.scaleDuration)
	if res.dockerdRaw, err = b.rawIdle(ctx, ids); err != nil {
		return res, err
	}
	b.logf("phase 3: nobody following for %v", o.scaleDuration)
	if res.dockerdFloor, _, err = b.window(ctx, 0); err != nil {
		return res, err
	}
	b.logf("phase 3: removing the %d containers", n)
	if err := b.removeContainers(ids); err != nil {
		return res, err
	}
	if res.lost > 0 || res.dup > 0 || res.bad > 0 {
		return res, fmt.Errorf("%d lines lost, %d duplicated, %d unreadable records of %d", res.lost, res.dup, res.bad, res.lines)
	}
	return res, nil
}

// window waits -scale-duration and returns the CPU dockerd and pid (0:
// none) spent meanwhile, each as a fraction of one core (-1: unknown).
func (b *bench) window(ctx context.Context, pid int) (dockerd, proc float64, err error) {
	d0, p0 := procCPU(b.dockerdPID), procCPU(pid)
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(b.o.scaleDuration):
	}
	wall := time.Since(start).Seconds()
	frac := func(d0, d1 time.Duration) float64 {
		if d := cpuDelta(d0, d1); d >= 0 {
			return d.Seconds() / wall
		}
		return -1
	}
	dockerd = frac(d0, procCPU(b.dockerdPID))
	proc = -1
	if pid > 0 {
		proc = frac(p0, procCPU(pid))
	}
	return dockerd, proc, nil
}

// settledLastSeqs returns each container's last seq once two reads 1.5 s
// apart agree (a writer still running at 1 line/s would have moved on).
func (b *bench) settledLastSeqs(ctx context.Context, names, ids []string) (map[string]int, error) {
	read := func() (map[string]int, error) {
		out := map[string]int{}
		var mu sync.Mutex
		err := parallel(len(ids), 8, func(i int) error {
			seq, err := b.lastSeq(ctx, ids[i])
			mu.Lock()
			out[names[i]] = seq
			mu.Unlock()
			return err
		})
		return out, err
	}
	prev, err := read()
	for tries := 0; err == nil && tries < 10; tries++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(1500 * time.Millisecond):
		}
		var cur map[string]int
		if cur, err = read(); err == nil && maps.Equal(prev, cur) {
			return cur, nil
		}
		prev = cur
	}
	if err != nil {
		return nil, fmt.Errorf("last lines: %w", err)
	}
	return nil, fmt.Errorf("the writers did not stop after SIGUSR1")
}

// churnLines is what each churn container writes before it exits.
const churnLines = 3

// churnWait bounds the wait for the churn containers' lines after the last
// start: well past the time to a first record.
const churnWait = 30 * time.Second

// churn starts -scale-churn-rate containers a second for -scale-churn,
// each writing churnLines lines and exiting, and records the time from
// each start (the start call's return) to its first record. It adds their
// lines to want, and returns their IDs.
func (b *bench) churn(ctx context.Context, res *scaleResult, sink *recordSink, prefix string, want map[string]int) ([]string, error) {
	o := b.o
	total := int(o.scaleChurn.Seconds() * float64(o.scaleChurnRate))
	if total == 0 {
		return nil, nil
	}
	b.logf("phase 3: churn: %d containers, %d a second, each writing %d lines and exiting", total, o.scaleChurnRate, churnLines)
	var (
		mu      sync.Mutex
		ids     []string
		started = map[string]time.Time{}
	)
	jobs := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("%s%d", prefix, i)
				got, err := b.startContainers(ctx, []string{name}, "-n", strconv.Itoa(churnLines), "-rate", "0",
					"-size", strconv.Itoa(o.lineSize), "-after", "exit")
				mu.Lock()
				if got[0] != "" {
					ids = append(ids, got[0])
				}
				if err == nil {
					started[name] = time.Now()
				}
				mu.Unlock()
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(o.scaleChurnRate))
	for i := 0; i < total && ctx.Err() == nil; i++ {
		jobs <- i
		if i < total-1 {
			<-tick.C
		}
	}
	res.churn, res.churnWall = total, time.Since(start) // handed to the workers: the rate they kept up with
	tick.Stop()
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return ids, err
	}
	for name := range started {
		want[name] = churnLines
	}
	// A line missing after churnWait counts as lost (the check reports it).
	err := waitFor(ctx, churnWait, func() bool {
		for name := range started {
			if !sink.has(name, churnLines) {
				return false
			}
		}
		return true
	})
	if err != nil && ctx.Err() != nil {
		return ids, err
	}
	for name, t := range started {
		if first, lineTS, ok := sink.firstArrival(name); ok {
			res.firstRecord = append(res.firstRecord, max(first.Sub(t), 0))
			res.lineToRecord = append(res.lineToRecord, max(first.Sub(lineTS), 0))
		}
	}
	sortDurations(res.firstRecord)
	sortDurations(res.lineToRecord)
	return ids, nil
}

// rawIdle holds one raw follow of the logs API (timestamps, tail 0, as
// the plugin asks) per container for -scale-duration and returns dockerd's
// CPU meanwhile, as a fraction of one core.
func (b *bench) rawIdle(ctx context.Context, ids []string) (float64, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	err := parallel(len(ids), 16, func(i int) error {
		rc, err := b.cli.ContainerLogs(fctx, ids[i], client.ContainerLogsOptions{
			ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: true, Tail: "0"})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rc.Close()
			io.Copy(io.Discard, rc)
		}()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("raw follow: %w", err)
	}
	d, _, err := b.window(ctx, 0)
	cancel()
	return d, err
}

// waitFor polls cond every 200 ms until it holds, for at most timeout.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func (r *report) printScale(w io.Writer) {
	s := r.scale
	if s == nil || s.after == nil {
		return
	}
	o := r.o
	pct := func(f float64) string {
		if f < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f%%", 100*f)
	}
	fmt.Fprintf(w, "scale: %d containers in the real Fluent Bit (the plugin's defaults, -o stdout json_lines into this process, Flush %ss), started %d at a time in %.1fs\n",
		s.n, scaleFlush, o.scaleParallel, s.startTime.Seconds())
	fmt.Fprintf(w, "  the plugin's /metrics with none and with %d idle (per container: the difference over %d)\n", s.n, s.n)
	fmt.Fprintf(w, "  %-22s %10s %9s %9s %15s %16s\n", "", "goroutines", "open_fds", "rss_KiB", "heap_inuse_KiB", "stack_inuse_KiB")
	row := func(name string, m map[string]float64, div float64) {
		fmt.Fprintf(w, "  %-22s %10.2f %9.2f %9.1f %15.1f %16.1f\n", name, m["go_goroutines"]/div, m["process_open_fds"]/div,
			m["process_resident_memory_bytes"]/1024/div, m["go_memstats_heap_inuse_bytes"]/1024/div, m["go_memstats_stack_inuse_bytes"]/1024/div)
	}
	row("no container", s.before, 1)
	row(fmt.Sprintf("%d idle", s.n), s.after, 1)
	diff := map[string]float64{}
	for k, v := range s.after {
		diff[k] = v - s.before[k]
	}
	row("per container", diff, float64(s.n))
	fmt.Fprintf(w, "  CPU in %.0fs windows, %% of one core:  %-24s %-10s %s\n", s.window.Seconds(), "", "dockerd", "fluent-bit")
	fmt.Fprintf(w, "    %-58s %-10s %s\n", fmt.Sprintf("%d containers at 1 line/s, the plugin following", s.n), pct(s.dockerdActive), pct(s.fbActive))
	fmt.Fprintf(w, "    %-58s %-10s %s\n", fmt.Sprintf("%d idle, the plugin following", s.n), pct(s.dockerdIdle), pct(s.fbIdle))
	fmt.Fprintf(w, "    %-58s %-10s\n", fmt.Sprintf("%d idle, %d raw follows (Go client, tail 0)", s.n, s.n), pct(s.dockerdRaw))
	fmt.Fprintf(w, "    %-58s %-10s\n", fmt.Sprintf("%d idle, nobody following", s.n), pct(s.dockerdFloor))
	if s.fbPeakKiB > 0 {
		fmt.Fprintf(w, "  fluent-bit in all: cpu %.1fs, peak rss %.1f MiB\n", s.fbCPU.Seconds(), float64(s.fbPeakKiB)/1024)
	}
	if len(s.firstRecord) > 0 {
		fmt.Fprintf(w, "  churn: %d containers started over %.1fs (%.1f/s) beside the %d, each %d lines then exit; start (the start call's return) to first record:\n",
			s.churn, s.churnWall.Seconds(), float64(s.churn)/s.churnWall.Seconds(), s.n, churnLines)
		fmt.Fprintf(w, "    p50 %.3fs  p99 %.3fs  max %.3fs (Fluent Bit collects a Go input once a second)\n",
			percentile(s.firstRecord, 50).Seconds(), percentile(s.firstRecord, 99).Seconds(), s.firstRecord[len(s.firstRecord)-1].Seconds())
		fmt.Fprintf(w, "    the first line's timestamp (written) to its record: p50 %.3fs  p99 %.3fs  max %.3fs\n",
			percentile(s.lineToRecord, 50).Seconds(), percentile(s.lineToRecord, 99).Seconds(), s.lineToRecord[len(s.lineToRecord)-1].Seconds())
	}
	fmt.Fprintf(w, "  lines: %d checked, %d lost, %d duplicated, %d unreadable records\n", s.lines, s.lost, s.dup, s.bad)
	r.target(w, "<= 3 goroutines per idle container", s.perContainer.goroutines <= 3, fmt.Sprintf("%.2f", s.perContainer.goroutines))
	r.target(w, "<= 64 KiB RSS per idle container", s.perContainer.rssBytes <= 64*1024, fmt.Sprintf("%.1f KiB", s.perContainer.rssBytes/1024))
	if len(s.firstRecord) > 0 {
		p99 := percentile(s.firstRecord, 99)
		r.target(w, "p99 start to first record < 2 s in churn", p99 < 2*time.Second, fmt.Sprintf("%.3fs", p99.Seconds()))
	}
	r.target(w, "0 lost, 0 duplicated", s.lost == 0 && s.dup == 0, fmt.Sprintf("%d lost, %d duplicated", s.lost, s.dup))
}

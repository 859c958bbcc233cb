// Command bench measures the docker_logs plugin against the real Docker
// engine and prints a table with ratios (make bench; make bench-smoke runs a
// tiny version that only proves it works).
//
// Phase 1 starts -containers containers of the test image
// (docker-logs-test:latest), each writing -lines numbered lines of
// -line-size bytes as fast as it can and then idling, and waits until every
// container's last line is in its log.
//
// Phase 2 alternates, over -rounds rounds, these ways of reading all those
// lines back:
//
//   - A, the baseline: one raw reader per container of the logs API
//     (follow=0, timestamps=1, stdout and stderr), in this process with the
//     Docker Go client, copying the body to io.Discard: the daemon's own
//     limit.
//   - F, the headline (fluentbit.go): the plugin in the real Fluent Bit
//     with its defaults (source auto: the json-file logs themselves),
//     clocked at Fluent Bit's own record count; Fapi: the same with source
//     api; T: Fluent Bit's tail input on the same json-file logs. The host's
//     CPU of each (Fluent Bit and dockerd) is printed per million lines.
//   - B, secondary: the plugin (build/in_docker_logs.so) in the
//     project's Fluent Bit host (build/fbhost) at Fluent Bit's cadence: a
//     collect every -tick (1s, Fluent Bit's fixed interval) and the
//     plugin's default settings (-buffer-max-size sets buffer_max_size),
//     with read_from_head on, include_names bench-<run>-*, -q and -m
//     containers*lines, so the host runs its exit sequence as soon as every
//     line was counted. Its wall time includes the host's start and, when
//     the last line is read after the collect that waits for a backlog's
//     end gave up (it waits at most 0.8 s), the wait for the next tick.
//   - B', a secondary line: the same with a collect every -fast-tick
//     (100ms; 0 skips it).
//
// For each side it reports the median wall time, lines/s and MB/s (of log
// line bytes, 1 MB = 10^6 bytes), the reading process's CPU-seconds, user
// and system, and per million lines (A: this process, from getrusage; B:
// the host process), its read syscalls per line (syscr of /proc/<pid>/io)
// and context switches per line (all threads), the CPU-seconds dockerd
// spent meanwhile (/proc/<dockerd>/stat), the peak RSS, and the ratios B/A
// of wall time and CPU, with the targets of issue 11.
//
// Phase 3 (scale, scale.go) runs the real Fluent Bit with the plugin's
// defaults and -o stdout (json_lines, parsed in this process), starts
// -scale-containers containers writing 1 line/s, and measures dockerd's and
// Fluent Bit's CPU for -scale-duration; stops the writers (SIGUSR1) and
// measures again idle; reads the goroutines, FDs and RSS per container from
// the plugin's /metrics (with none, and with all idle; never during a
// window); starts -scale-churn-rate containers a second for -scale-churn,
// each writing 3 lines and exiting, and reports p50/p99 of the time from
// each start to its first record; checks every line arrived once; then
// measures dockerd with one raw follow per container, and with none.
//
// Phase 4 (latency) starts the host at Fluent Bit's real tick (-latency-tick)
// printing records, then one container writing -latency-rate lines a second
// for -latency-duration, and reports p50, p99 and max of recv - time (when the
// collect returned minus Docker's timestamp of the line).
//
// Phase 5 (reopen, reopen.go) measures what reopening a follow stream costs
// as a container's history grows (-reopen-sizes, -reopen-rounds): dockerd's
// CPU and the time to the first line, for since alone and since+tail=1000.
//
// A phase whose size is 0 (or empty) is skipped. The program never fails on a time: it
// exits 1 only when something did not work (a container failed, the host
// exited badly or timed out, a count did not match). Every container it
// creates is named bench-<run>-..., labelled docker-logs-bench=<run>, and
// removed at the end, on error and on SIGINT/SIGTERM.
//
// Usage (from the repository root, after make build host image-test):
//
//	go run ./test/bench [-containers 4] [-lines 250000] [-rounds 3] ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	containers int
	lines      int
	lineSize   int
	rounds     int
	bufferMax  string
	tick       time.Duration
	fastTick   time.Duration

	scaleContainers int
	scaleDuration   time.Duration
	scaleParallel   int
	scaleChurn      time.Duration
	scaleChurnRate  int

	latencyDuration time.Duration
	latencyRate     int
	latencyTick     time.Duration

	reopenSizes  []int
	reopenRounds int

	host, plugin, image string
	fluentBit           string // "": not found, its sides are skipped
	bufferSweep         []string
	timeout             time.Duration
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.containers, "containers", 4, "phase 2: containers read concurrently")
	flag.IntVar(&o.lines, "lines", 250000, "phase 2: lines each container writes")
	flag.IntVar(&o.lineSize, "line-size", 100, "bytes per line, without the newline")
	flag.IntVar(&o.rounds, "rounds", 3, "phase 2: rounds of A then B (0 skips phases 1 and 2)")
	flag.StringVar(&o.bufferMax, "buffer-max-size", "", "phase 2 B: the plugin's buffer_max_size (empty: the plugin's default)")
	flag.DurationVar(&o.tick, "tick", time.Second, "phase 2 B, the headline: the host's collect tick (Fluent Bit's is 1s)")
	flag.DurationVar(&o.fastTick, "fast-tick", 100*time.Millisecond, "phase 2 B': the secondary line's collect tick (0 skips it)")
	flag.IntVar(&o.scaleContainers, "scale-containers", 300, "phase 3: containers followed in Fluent Bit (0 skips)")
	flag.DurationVar(&o.scaleDuration, "scale-duration", 30*time.Second, "phase 3: each CPU window (at 1 line/s, idle, raw follows, nobody)")
	flag.DurationVar(&o.scaleChurn, "scale-churn", 30*time.Second, "phase 3: how long containers start and exit beside them (0 skips)")
	flag.IntVar(&o.scaleChurnRate, "scale-churn-rate", 10, "phase 3: containers started a second during churn")
	flag.IntVar(&o.scaleParallel, "scale-parallel", 4, "containers created, started or removed at a time")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "phase 4: how long the container writes (0 skips)")
	flag.IntVar(&o.latencyRate, "latency-rate", 200, "phase 4: lines per second")
	flag.DurationVar(&o.latencyTick, "latency-tick", time.Second, "phase 4: the host's collect tick")
	reopen := flag.String("reopen-sizes", "10000,100000,1000000", "phase 5: lines in the container of each reopen measurement, comma-separated (empty skips)")
	flag.IntVar(&o.reopenRounds, "reopen-rounds", 3, "phase 5: opens of each kind per size (medians)")
	flag.StringVar(&o.host, "host", "build/fbhost", "the Fluent Bit host")
	flag.StringVar(&o.plugin, "plugin", "build/in_docker_logs.so", "the plugin")
	fb, _ := exec.LookPath("fluent-bit")
	flag.StringVar(&o.fluentBit, "fluent-bit", fb, "the real Fluent Bit, for the sides F and T (default: fluent-bit on PATH; empty skips them)")
	sweep := flag.String("buffer-sweep", "", "phase 2: also run F once a round with each of these buffer_max_size values, comma-separated (e.g. 16M,32M,96M)")
	flag.StringVar(&o.image, "image", envOr("TEST_IMAGE", "docker-logs-test:latest"), "the test logger image")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest wait for any one step before it counts as failed")
	flag.Parse()
	for _, f := range strings.Split(*reopen, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 20 {
			fail(fmt.Errorf("-reopen-sizes: %q is not a number of lines of at least 20", f))
		}
		o.reopenSizes = append(o.reopenSizes, n)
	}
	for _, v := range strings.Split(*sweep, ",") {
		if v = strings.TrimSpace(v); v != "" {
			o.bufferSweep = append(o.bufferSweep, v)
		}
	}
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	switch {
	case o.rounds > 0 && (o.containers < 1 || o.lines < 1):
		fail(errors.New("-containers and -lines must be at least 1"))
	case o.tick < time.Millisecond || o.latencyTick < time.Millisecond || (o.fastTick != 0 && o.fastTick < time.Millisecond):
		fail(errors.New("-tick, -fast-tick and -latency-tick must be at least 1ms"))
	case len(o.reopenSizes) > 0 && o.reopenRounds < 1:
		fail(errors.New("-reopen-rounds must be at least 1"))
	case o.scaleParallel < 1:
		fail(errors.New("-scale-parallel must be at least 1"))
	case o.scaleChurn > 0 && o.scaleChurnRate < 1:
		fail(errors.New("-scale-churn-rate must be at least 1"))
	case o.latencyDuration > 0 && o.latencyRate < 1:
		fail(errors.New("-latency-rate must be at least 1"))
	}
	for _, p := range []*string{&o.host, &o.plugin} {
		abs, err := absPath(*p)
		if err != nil {
			fail(err)
		}
		*p = abs
	}
	return o
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
	os.Exit(1)
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	b, err := newBench(ctx, o)
	if err != nil {
		fail(err)
	}
	rep, err := b.run(ctx)
	b.cleanup()
	if err == nil && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if rep != nil {
		rep.total = time.Since(start)
		rep.print(os.Stdout)
	}
	if err != nil {
		fail(err)
	}
}

// sideResult is one run of A or B.
type sideResult struct {
	wall       time.Duration
	user, sys  time.Duration // CPU of the reading process
	dockerdCPU time.Duration // -1: unknown
	rssKiB     int64
	reads      int64         // read syscalls of the reading process (/proc/<pid>/io syscr); -1: unknown
	csw        int64         // context switches of the reading process, all threads
	startup    time.Duration // B: until the host printed that the instance runs
}

func (s sideResult) cpu() time.Duration { return s.user + s.sys }

type report struct {
	o       options
	runID   string
	ncpu    int
	version string
	load    [2]string // load average at the start and the end
	total   time.Duration

	writeTime time.Duration
	a, b, bf  []sideResult // bf: B at -fast-tick
	f, tl     []sideResult // the plugin in the real Fluent Bit, and its tail input
	fapi      []sideResult // the plugin in the real Fluent Bit with source api
	sweep     map[string][]sideResult
	// idleF, idleB: Fluent Bit's and the host's RSS with the plugin
	// loaded and connected and no container, in KiB (0: not measured).
	idleF, idleB int64

	reopen []reopenResult

	scale *scaleResult
	lat   *latencyResult
}

type latencyResult struct {
	lines          int
	p50, p99, pmax time.Duration
}

func (b *bench) run(ctx context.Context) (*report, error) {
	o := b.o
	rep := &report{o: o, runID: b.runID, ncpu: runtime.NumCPU(), version: b.serverVersion}
	rep.load[0] = loadavg()
	defer func() { rep.load[1] = loadavg() }()
	b.logf("run %s: dockerd %s (pid %d), %d CPUs", b.runID, b.serverVersion, b.dockerdPID, rep.ncpu)
	if o.rounds > 0 {
		if err := b.throughput(ctx, rep); err != nil {
			return rep, err
		}
	}
	if o.scaleContainers > 0 && o.fluentBit == "" {
		b.logf("phase 3 skipped: it runs in the real Fluent Bit, and no fluent-bit is on PATH (-fluent-bit)")
	} else if o.scaleContainers > 0 {
		s, err := b.scale(ctx)
		rep.scale = s
		if err != nil {
			return rep, err
		}
	}
	if o.latencyDuration > 0 {
		l, err := b.latency(ctx)
		rep.lat = l
		if err != nil {
			return rep, err
		}
	}
	if len(o.reopenSizes) > 0 {
		if err := b.reopenCost(ctx, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// throughput runs phases 1 and 2.
func (b *bench) throughput(ctx context.Context, rep *report) error {
	o := b.o
	b.logf("phase 1: %d containers writing %d lines of %d bytes each", o.containers, o.lines, o.lineSize)
	names := make([]string, o.containers)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%s-load-%d", b.runID, i)
	}
	start := time.Now()
	ids, err := b.startContainers(ctx, names, "-n", strconv.Itoa(o.lines), "-size", strconv.Itoa(o.lineSize), "-rate", "0", "-after", "idle")
	if err != nil {
		return err
	}
	if err := b.waitWritten(ctx, ids, o.lines); err != nil {
		return err
	}
	rep.writeTime = time.Since(start)
	b.logf("phase 1: %d lines written in %.1fs", o.containers*o.lines, rep.writeTime.Seconds())

	b.logf("phase 2: %d rounds of A (raw logs API readers), B (the plugin in the host: -T %d, buffer_max_size %s) and B' (-T %d)",
		o.rounds, o.tick.Milliseconds(), o.bufferMaxText(), o.fastTick.Milliseconds())
	if o.fluentBit != "" {
		if rep.idleF, err = b.idleF(ctx); err != nil {
			return fmt.Errorf("Fluent Bit idle: %w", err)
		}
		if rep.idleB, err = b.idleB(ctx); err != nil {
			return fmt.Errorf("host idle: %w", err)
		}
		b.logf("idle, the plugin loaded and connected, no container: Fluent Bit %.1f MiB, the host %.1f MiB", float64(rep.idleF)/1024, float64(rep.idleB)/1024)
	}
	for r := 1; r <= o.rounds; r++ {
		runtime.GC()
		a, err := b.runA(ctx, ids)
		if err != nil {
			return fmt.Errorf("round %d A: %w", r, err)
		}
		rep.a = append(rep.a, a)
		b.logf("round %d A: %s", r, a.describe(o))
		pb, err := b.runB(ctx, o.tick)
		if err != nil {
			return fmt.Errorf("round %d B: %w", r, err)
		}
		rep.b = append(rep.b, pb)
		b.logf("round %d B: %s", r, pb.describe(o))
		if o.fastTick > 0 {
			pf, err := b.runB(ctx, o.fastTick)
			if err != nil {
				return fmt.Errorf("round %d B': %w", r, err)
			}
			rep.bf = append(rep.bf, pf)
			b.logf("round %d B': %s", r, pf.describe(o))
		}
		if o.fluentBit == "" {
			continue
		}
		pf, err := b.runF(ctx)
		if err != nil {
			return fmt.Errorf("round %d F: %w", r, err)
		}
		rep.f = append(rep.f, pf)
		b.logf("round %d F: %s", r, pf.describe(o))
		pa, err := b.runF(ctx, "source=api")
		if err != nil {
			return fmt.Errorf("round %d F with source api: %w", r, err)
		}
		rep.fapi = append(rep.fapi, pa)
		b.logf("round %d F, source api: %s", r, pa.describe(o))
		pt, err := b.runT(ctx, ids)
		if err != nil {
			return fmt.Errorf("round %d T: %w", r, err)
		}
		rep.tl = append(rep.tl, pt)
		b.logf("round %d T: %s", r, pt.describe(o))
		for _, size := range o.bufferSweep {
			ps, err := b.runF(ctx, "buffer_max_size="+size)
			if err != nil {
				return fmt.Errorf("round %d F with buffer_max_size %s: %w", r, size, err)
			}
			if rep.sweep == nil {
				rep.sweep = map[string][]sideResult{}
			}
			rep.sweep[size] = append(rep.sweep[size], ps)
			b.logf("round %d F, buffer_max_size %s: %s", r, size, ps.describe(o))
		}
	}
	b.logf("phase 2: removing the %d load containers", len(ids))
	return b.removeContainers(ids)
}

func (s sideResult) describe(o options) string {
	lines := float64(o.containers * o.lines)
	d := "n/a"
	if s.dockerdCPU >= 0 {
		d = fmt.Sprintf("%.2fs", s.dockerdCPU.Seconds())
	}
	startup := ""
	if s.startup > 0 {
		startup = fmt.Sprintf(" (host start and plugin init %.3fs)", s.startup.Seconds())
	}
	return fmt.Sprintf("wall %.3fs%s, %.0f lines/s, cpu %.2fs (user %.2fs sys %.2fs), %s read syscalls/line, %.3f context switches/line, dockerd cpu %s, peak rss %.1f MiB",
		s.wall.Seconds(), startup, lines/s.wall.Seconds(), s.cpu().Seconds(), s.user.Seconds(), s.sys.Seconds(),
		perLine(s.reads, lines), float64(s.csw)/lines, d, float64(s.rssKiB)/1024)
}

func perLine(n int64, lines float64) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", float64(n)/lines)
}

func (o options) bufferMaxText() string {
	if o.bufferMax == "" {
		return "default"
	}
	return o.bufferMax
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summary is a side's row: medians of wall, CPU, dockerd CPU, reads and
// context switches, max RSS.
type summary struct {
	wall, cpu, user, sys, dockerd time.Duration
	reads, csw                    int64 // -1: unknown
	rssKiB                        int64
}

func summarize(rs []sideResult) summary {
	var walls, cpus, users, syss, ds, reads, csws []time.Duration
	var s summary
	for _, r := range rs {
		walls, cpus = append(walls, r.wall), append(cpus, r.cpu())
		users, syss = append(users, r.user), append(syss, r.sys)
		csws = append(csws, time.Duration(r.csw))
		if r.dockerdCPU >= 0 {
			ds = append(ds, r.dockerdCPU)
		}
		if r.reads >= 0 {
			reads = append(reads, time.Duration(r.reads))
		}
		s.rssKiB = max(s.rssKiB, r.rssKiB)
	}
	s.wall, s.cpu, s.user, s.sys, s.dockerd = median(walls), median(cpus), median(users), median(syss), -1
	s.csw, s.reads = int64(median(csws)), -1
	if len(ds) > 0 {
		s.dockerd = median(ds)
	}
	if len(reads) > 0 {
		s.reads = int64(median(reads))
	}
	return s
}

func (r *report) print(w io.Writer) {
	o := r.o
	fmt.Fprintf(w, "\n==== docker_logs bench, run %s: Docker %s, %d CPUs, %.0fs in all ====\n", r.runID, r.version, r.ncpu, r.total.Seconds())
	fmt.Fprintf(w, "load average at start %s, at end %s (the machine is shared: other work adds noise)\n", r.load[0], r.load[1])
	if len(r.a) > 0 && len(r.a) == len(r.b) {
		lines := float64(o.containers * o.lines)
		mb := lines * float64(o.lineSize) / 1e6
		fmt.Fprintf(w, "throughput: %d containers x %d lines of %d bytes (%.0f MB of lines, written in %.1fs), %d rounds alternating, medians (peak RSS: max)\n",
			o.containers, o.lines, o.lineSize, mb, r.writeTime.Seconds(), len(r.a))
		fmt.Fprintf(w, "  A: %d concurrent raw readers of the logs API (follow=0, timestamps=1, stdout+stderr), Docker Go client, io.Copy to io.Discard, in this process\n", o.containers)
		fmt.Fprintf(w, "  B: the plugin in build/fbhost at Fluent Bit's cadence: collect tick -T %d ms, buffer_max_size %s, read_from_head on, -q, -m %d; wall = start to all lines counted\n",
			o.tick.Milliseconds(), o.bufferMaxText(), o.containers*o.lines)
		if len(r.bf) > 0 {
			fmt.Fprintf(w, "  B': the same at -T %d ms (secondary: Fluent Bit never collects a Go input faster than once a second)\n", o.fastTick.Milliseconds())
		}
		if len(r.f) > 0 {
			fmt.Fprintf(w, "  F: the headline: the plugin in the real Fluent Bit (%s), its defaults, read_from_head on, -o null; wall = start to Fluent Bit's own count\n", o.fluentBit)
			fmt.Fprintf(w, "     of the input's records (/api/v1/metrics) reaching %d; cpu, peak rss (VmHWM) and reads of the whole process then\n", o.containers*o.lines)
			fmt.Fprintf(w, "  Fapi: the same with source api (the logs API rather than the json-file logs themselves)\n")
			fmt.Fprintf(w, "  T: Fluent Bit's own tail input with the docker parser on the same json-file logs, read_from_head on, -o null, clocked the same way\n")
		}
		fmt.Fprintf(w, "  cpu: of the reading process (A: this process, B: the host), user and system, and per million lines; reads/line: its read syscalls\n")
		fmt.Fprintf(w, "  (/proc/<pid>/io syscr) per line; csw/line: its context switches (all threads) per line; dockerd_cpu_s: dockerd's CPU meanwhile\n")
		fmt.Fprintf(w, "%-5s %11s %9s %6s %7s %7s %10s %10s %8s %13s %12s\n", "side", "median_wall", "lines/s", "MB/s",
			"user_s", "sys_s", "cpu_s/Ml", "reads/line", "csw/line", "dockerd_cpu_s", "peak_rss_MiB")
		sa, sb := summarize(r.a), summarize(r.b)
		type row struct {
			name string
			s    summary
		}
		rows := []row{{"A", sa}}
		if len(r.f) > 0 {
			rows = append(rows, row{"F", summarize(r.f)}, row{"Fapi", summarize(r.fapi)}, row{"T", summarize(r.tl)})
		}
		rows = append(rows, row{"B", sb})
		if len(r.bf) > 0 {
			rows = append(rows, row{"B'", summarize(r.bf)})
		}
		for _, row := range rows {
			d := "n/a"
			if row.s.dockerd >= 0 {
				d = fmt.Sprintf("%.2f", row.s.dockerd.Seconds())
			}
			fmt.Fprintf(w, "%-5s %10.3fs %9.0f %6.1f %7.2f %7.2f %10.3f %10s %8.3f %13s %12.1f\n", row.name, row.s.wall.Seconds(),
				lines/row.s.wall.Seconds(), mb/row.s.wall.Seconds(), row.s.user.Seconds(), row.s.sys.Seconds(),
				row.s.cpu.Seconds()/(lines/1e6), perLine(row.s.reads, lines), float64(row.s.csw)/lines, d, float64(row.s.rssKiB)/1024)
		}
		wallRatio := sb.wall.Seconds() / sa.wall.Seconds()
		cpuRatio := sb.cpu.Seconds() / sa.cpu.Seconds()
		fmt.Fprintf(w, "ratio B/A: wall %.2f, cpu %.2f", wallRatio, cpuRatio)
		if len(r.bf) > 0 {
			sf := summarize(r.bf)
			fmt.Fprintf(w, "; B'/A: wall %.2f, cpu %.2f", sf.wall.Seconds()/sa.wall.Seconds(), sf.cpu.Seconds()/sa.cpu.Seconds())
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  rounds (wall s)  A: %s  B: %s", walls(r.a), walls(r.b))
		if len(r.bf) > 0 {
			fmt.Fprintf(w, "  B': %s", walls(r.bf))
		}
		fmt.Fprintln(w)
		var startups []time.Duration
		for _, x := range r.b {
			startups = append(startups, x.startup)
		}
		fmt.Fprintf(w, "  B's wall includes the host's start and the plugin's init (median %.3fs), and the collect's wait for the end of the backlog (at most 0.8 s; the next tick when the backlog ends after that)\n", median(startups).Seconds())
		if len(r.f) > 0 {
			sf, st := summarize(r.f), summarize(r.tl)
			fw, fc := sf.wall.Seconds()/sa.wall.Seconds(), sf.cpu.Seconds()/sa.cpu.Seconds()
			fmt.Fprintf(w, "ratio F/A (the headline): wall %.2f, cpu %.2f; F/T: cpu %.2f, peak rss %.2f; host B/F peak rss %.2f\n",
				fw, fc, sf.cpu.Seconds()/st.cpu.Seconds(), float64(sf.rssKiB)/float64(st.rssKiB), float64(sb.rssKiB)/float64(sf.rssKiB))
			fmt.Fprintf(w, "  rounds (wall s)  F: %s  T: %s\n", walls(r.f), walls(r.tl))
			sapi := summarize(r.fapi)
			perM := func(d time.Duration) float64 { return d.Seconds() / (lines / 1e6) }
			hostF, hostT := sf.cpu+max(sf.dockerd, 0), st.cpu+max(st.dockerd, 0)
			if sa.dockerd >= 0 && sf.dockerd >= 0 {
				fmt.Fprintf(w, "  host CPU per 1M lines (Fluent Bit + dockerd %s): file source %.2f + %.2f = %.2f s; API source %.2f + %.2f = %.2f s (dockerd %.0f%%); tail %.2f + %.2f = %.2f s; raw API readers' dockerd %.2f s\n",
					r.version, perM(sf.cpu), perM(sf.dockerd), perM(hostF), perM(sapi.cpu), perM(sapi.dockerd), perM(sapi.cpu+sapi.dockerd),
					100*sapi.dockerd.Seconds()/(sapi.cpu+sapi.dockerd).Seconds(), perM(st.cpu), perM(st.dockerd), perM(hostT), perM(sa.dockerd))
			}
			r.target(w, "host CPU of F (process + dockerd) <= T's", hostF <= hostT,
				fmt.Sprintf("%.2f s against %.2f", hostF.Seconds(), hostT.Seconds()))
			if len(o.bufferSweep) > 0 {
				fmt.Fprintf(w, "  F against buffer_max_size (medians; peak RSS: max):\n  %-16s %9s %7s %7s %8s %12s\n", "buffer_max_size", "wall_s", "F/A", "cpu_s", "cpu F/A", "peak_rss_MiB")
				for _, size := range o.bufferSweep {
					ss := summarize(r.sweep[size])
					fmt.Fprintf(w, "  %-16s %9.3f %7.2f %7.2f %8.2f %12.1f\n", size, ss.wall.Seconds(), ss.wall.Seconds()/sa.wall.Seconds(),
						ss.cpu.Seconds(), ss.cpu.Seconds()/sa.cpu.Seconds(), float64(ss.rssKiB)/1024)
				}
			}
			r.target(w, "F peak RSS <= T peak RSS", sf.rssKiB <= st.rssKiB,
				fmt.Sprintf("%.1f MiB against %.1f", float64(sf.rssKiB)/1024, float64(st.rssKiB)/1024))
			r.target(w, "process CPU F/A <= 1.25", fc <= 1.25, fmt.Sprintf("%.2f", fc))
			r.target(w, "wall F/A <= 1.25", fw <= 1.25, fmt.Sprintf("%.2f", fw))
			// The host has neither Fluent Bit's code nor its libraries
			// (libcrypto, libstdc++): it follows what a drain adds.
			drainF, drainB := sf.rssKiB-r.idleF, sb.rssKiB-r.idleB
			fmt.Fprintf(w, "  peak RSS over idle (the plugin loaded and connected, no container: F %.1f MiB, B %.1f MiB): F %.1f MiB, B %.1f MiB\n",
				float64(r.idleF)/1024, float64(r.idleB)/1024, float64(drainF)/1024, float64(drainB)/1024)
			r.target(w, "host's drain RSS within 10% of F's", math.Abs(float64(drainB)/float64(drainF)-1) <= 0.10,
				fmt.Sprintf("%.1f MiB against %.1f (peaks %.1f and %.1f)", float64(drainB)/1024, float64(drainF)/1024,
					float64(sb.rssKiB)/1024, float64(sf.rssKiB)/1024))
		} else {
			fmt.Fprintln(w, "  F and T skipped: no fluent-bit on PATH (-fluent-bit)")
		}
	}
	r.printScale(w)
	if l := r.lat; l != nil {
		fmt.Fprintf(w, "latency: 1 container, %d lines at %d lines/s, host at -T %d (records printed); latency = recv - time\n",
			l.lines, o.latencyRate, o.latencyTick.Milliseconds())
		fmt.Fprintf(w, "  p50 %.3fs  p99 %.3fs  max %.3fs\n", l.p50.Seconds(), l.p99.Seconds(), l.pmax.Seconds())
		r.target(w, fmt.Sprintf("p99 latency within the %v tick", o.latencyTick), l.p99 <= o.latencyTick, fmt.Sprintf("%.3fs", l.p99.Seconds()))
	}
	r.printReopen(w)
}

func walls(rs []sideResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%.3f", r.wall.Seconds()))
	}
	return strings.Join(parts, " ")
}

func (r *report) target(w io.Writer, what string, ok bool, got string) {
	mark := "met"
	if !ok {
		mark = "MISSED"
	}
	fmt.Fprintf(w, "  target %-44s %-7s (%s)\n", what+":", mark, got)
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func sortDurations(ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
}

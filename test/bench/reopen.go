package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"docker_logs/capture/logstream"
)

// Phase 5 (reopen) measures what reopening a stream costs the daemon as a
// container's history grows: for each of -reopen-sizes, one container
// writes that many lines; then -reopen-rounds times each, a follow stream is
// opened through the Docker Go client as the plugin opens it (follow=1,
// timestamps=1, stdout+stderr) with since = the timestamp of the entry 10
// lines from the end, once with since alone and once with since and
// tail=1000, and read until the container's last line.

// reopenTail is the window of the since+tail opens.
const reopenTail = "1000"

var reopenKinds = [2]string{"since alone", "since+tail=" + reopenTail}

type reopenResult struct {
	lines int
	kinds [2]reopenKind
}

type reopenKind struct {
	dockerd, first []time.Duration // per open; dockerd -1 when unknown
	entries        int             // entries the last open delivered up to the last line
	startsAtT      bool            // its first entry was the one at since
}

func (b *bench) reopenCost(ctx context.Context, rep *report) error {
	o := b.o
	for _, n := range o.reopenSizes {
		b.logf("phase 5: reopen cost with %d lines in the container", n)
		name := fmt.Sprintf("bench-%s-reopen-%d", b.runID, n)
		ids, err := b.startContainers(ctx, []string{name}, "-n", strconv.Itoa(n), "-size", strconv.Itoa(o.lineSize), "-rate", "0", "-after", "idle")
		if err != nil {
			return err
		}
		if err := b.waitWritten(ctx, ids, n); err != nil {
			return err
		}
		since, err := b.timestampFromEnd(ctx, ids[0], 10)
		if err != nil {
			return err
		}
		res := reopenResult{lines: n}
		for r := 0; r < o.reopenRounds; r++ {
			for k, tail := range []string{"", reopenTail} {
				if err := b.openOnce(ctx, ids[0], since, tail, n, &res.kinds[k]); err != nil {
					return fmt.Errorf("reopen %d lines, %s: %w", n, reopenKinds[k], err)
				}
			}
		}
		rep.reopen = append(rep.reopen, res)
		if err := b.removeContainers(ids); err != nil {
			return err
		}
	}
	return nil
}

// timestampFromEnd returns the RFC3339Nano timestamp of the entry back lines
// from the end of the container's log.
func (b *bench) timestampFromEnd(ctx context.Context, id string, back int) (string, error) {
	rc, err := b.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true,
		Timestamps: true, Tail: strconv.Itoa(back)})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return "", err
	}
	if len(data) < 8 {
		return "", errors.New("no entry in the log's tail")
	}
	payload := data[8:]
	for i, c := range payload {
		if c == ' ' {
			return string(payload[:i]), nil
		}
	}
	return "", fmt.Errorf("no timestamp in %.60q", payload)
}

// openOnce opens one follow stream from since (with tail when set), reads it
// up to the container's last line (seq=last) and records what it cost.
func (b *bench) openOnce(ctx context.Context, id, since, tail string, last int, k *reopenKind) error {
	want, err := time.Parse(time.RFC3339Nano, since)
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	d0 := procCPU(b.dockerdPID)
	start := time.Now()
	rc, err := b.cli.ContainerLogs(octx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true,
		Follow: true, Timestamps: true, Since: since, Tail: tail})
	if err != nil {
		return err
	}
	defer rc.Close()
	r := logstream.NewReader(rc, false, 1<<20)
	var first time.Duration
	entries := 0
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("after %d entries: %w", entries, err)
		}
		if entries == 0 {
			first = time.Since(start)
			k.startsAtT = e.TSValid && e.TS == want.UnixNano()
		}
		entries++
		if m := seqRe.FindSubmatch(e.Msg); m != nil && string(m[1]) == strconv.Itoa(last) {
			break
		}
	}
	k.dockerd = append(k.dockerd, cpuDelta(d0, procCPU(b.dockerdPID)))
	k.first = append(k.first, first)
	k.entries = entries
	return nil
}

func (r *report) printReopen(w io.Writer) {
	if len(r.reopen) == 0 {
		return
	}
	fmt.Fprintf(w, "reopen cost: one container per size (json-file), a follow stream opened through the Docker Go client (follow=1, timestamps=1,\n")
	fmt.Fprintf(w, "  stdout+stderr) with since = the entry 10 lines from the end and read to the last line; medians of %d opens each;\n", r.o.reopenRounds)
	fmt.Fprintf(w, "  dockerd_cpu_s: dockerd's CPU from the open to the last line (/proc/<pid>/stat, 10 ms steps, other users of the engine included);\n")
	fmt.Fprintf(w, "  first_s: open to the first entry; entries: delivered up to the last line; at_T: the first entry is the one at since\n")
	fmt.Fprintf(w, "  %9s | %-40s | %-40s\n", "", reopenKinds[0], reopenKinds[1])
	fmt.Fprintf(w, "  %9s |", "lines")
	for range reopenKinds {
		fmt.Fprintf(w, " %13s %9s %8s %6s |", "dockerd_cpu_s", "first_s", "entries", "at_T")
	}
	fmt.Fprintln(w)
	for _, res := range r.reopen {
		fmt.Fprintf(w, "  %9d |", res.lines)
		for _, k := range res.kinds {
			d := "n/a"
			if m := median(k.dockerd); len(k.dockerd) > 0 && m >= 0 {
				d = fmt.Sprintf("%.2f", m.Seconds())
			}
			fmt.Fprintf(w, " %13s %9.3f %8d %6v |", d, median(k.first).Seconds(), k.entries, k.startsAtT)
		}
		fmt.Fprintln(w)
	}
}

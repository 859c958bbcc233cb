package e2e

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// soakParams come from the environment; the defaults are the short run that
// make test does. make soak runs the long one: 55 containers, 30 minutes,
// rotate_interval 5m.
type soakParams struct {
	containers int
	duration   time.Duration
	rotate     time.Duration
	rate       string // lines per second per container
	row        time.Duration
}

func soakFromEnv(t *testing.T) soakParams {
	p := soakParams{containers: 20, duration: 2 * time.Minute, rotate: 5 * time.Second, rate: "3", row: time.Minute}
	if v := os.Getenv("SOAK_CONTAINERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SOAK_CONTAINERS=%q: %v", v, err)
		}
		p.containers = n
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"SOAK_DURATION", &p.duration}, {"SOAK_ROTATE", &p.rotate}, {"SOAK_ROW", &p.row}} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s=%q: %v", d.env, v, err)
			}
			*d.dst = x
		}
	}
	if v := os.Getenv("SOAK_RATE"); v != "" {
		p.rate = v
	}
	return p
}

// seqTracker follows the sequence numbers of each container as records
// arrive: a jump forward is a lost line, a step back a duplicate.
type seqTracker struct {
	last             map[string]int
	lost, duplicated int
	seen             int
}

func (s *seqTracker) add(recs []Record) {
	for _, r := range recs[s.seen:] {
		seq := seqOf(r.Body.Log)
		prev, ok := s.last[r.Body.ID]
		switch {
		case !ok:
			s.lost += seq - 1
		case seq <= prev:
			s.duplicated++
			continue
		default:
			s.lost += seq - prev - 1
		}
		s.last[r.Body.ID] = seq
	}
	s.seen = len(recs)
}

// TestSoak runs the plugin against many slow containers for a long time and
// prints a row per interval. It fails if goroutines grow more than 2 a
// minute, FDs more than 1 a minute, a container rotates less than expected,
// or any line is lost or duplicated.
func TestSoak(t *testing.T) {
	p := soakFromEnv(t)
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "rotate_interval=" + p.rotate.String(), "metrics_listen=" + addr})
	ids := startLoggers(t, names(prefix, p.containers), nil, "-n", "0", "-rate", p.rate)
	waitActive(t, addr, p.containers, 120*time.Second)

	tracker := &seqTracker{last: map[string]int{}}
	type row struct {
		at               time.Duration
		goroutines, fds  float64
		rss, rotations   float64
		records          int
		lost, duplicated int
	}
	sample := func(at time.Duration) row {
		fams := scrape(t, addr)
		g, _ := metricValue(fams, "go_goroutines", nil)
		f, _ := metricValue(fams, "process_open_fds", nil)
		rss, _ := metricValue(fams, "process_resident_memory_bytes", nil)
		rot, _ := metricValue(fams, "docker_logs_stream_rotations_total", nil)
		recs := h.Records()
		tracker.add(recs)
		return row{at, g, f, rss, rot, len(recs), tracker.lost, tracker.duplicated}
	}
	t.Logf("soak: %d containers at %s lines/s, rotate_interval %v, for %v", p.containers, p.rate, p.rotate, p.duration)
	t.Logf("%8s %10s %6s %8s %10s %10s %6s %6s", "minute", "goroutines", "fds", "rss_MiB", "rotations", "records", "lost", "dup")
	print := func(r row) {
		t.Logf("%8.1f %10.0f %6.0f %8.1f %10.0f %10d %6d %6d", r.at.Minutes(), r.goroutines, r.fds, r.rss/(1<<20), r.rotations, r.records, r.lost, r.duplicated)
	}
	start := time.Now()
	first := sample(0)
	print(first)
	last := first
	for next := p.row; next <= p.duration; next += p.row {
		time.Sleep(time.Until(start.Add(next)))
		last = sample(time.Since(start))
		print(last)
	}
	minutes := last.at.Minutes()
	if g := (last.goroutines - first.goroutines) / minutes; g > 2 {
		t.Errorf("goroutines grew %.1f a minute (%v -> %v), limit 2", g, first.goroutines, last.goroutines)
	}
	if f := (last.fds - first.fds) / minutes; f > 1 {
		t.Errorf("FDs grew %.1f a minute (%v -> %v), limit 1", f, first.fds, last.fds)
	}
	fams := scrape(t, addr)
	expected := int(p.duration/p.rotate) - 1
	for i := range ids {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if n, _ := metricValue(fams, "docker_logs_stream_rotations_total", map[string]string{"container_name": name}); int(n) < expected {
			t.Errorf("%s: %v rotations, want at least %d", name, n, expected)
		}
	}
	stopContainers(t, ids...)
	expectExactlyOnce(t, 120*time.Second, ids, h)
	tracker.add(h.Records())
	if tracker.lost != 0 || tracker.duplicated != 0 {
		t.Errorf("sequence gaps: %d lines lost, %d duplicated", tracker.lost, tracker.duplicated)
	}
}

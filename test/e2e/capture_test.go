package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Five containers print numbered lines on stdout and stderr: every line
// arrives once, in order per container and stream, with the right metadata
// and Docker's own timestamp.
func TestEveryLineOnceWithMetadata(t *testing.T) {
	prefix := uniqueName(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "metrics_listen=off"})
	const lines = 300
	ids := map[string]string{}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		ids[name] = runLogger(t, name, nil, "-n", fmt.Sprint(lines), "-rate", "300", "-streams", "both")
	}
	h.waitRecords(t, 60*time.Second, "all lines of 5 containers", func(r []Record) bool {
		return len(r) >= 5*2*lines
	})
	// Stopped, it has written all it ever will: late duplicates show.
	h.stop(t, syscall.SIGTERM)
	recs := h.Records()
	seqs := sequences(recs)
	for name, id := range ids {
		for _, stream := range []string{"stdout", "stderr"} {
			checkExactlyOnce(t, name+" "+stream, seqs[streamKey{name, stream}], 1, lines)
		}
		stamps := dockerTimestamps(t, id)
		// As the engine names it: Podman gives its full reference.
		image := docker(t, "inspect", "-f", "{{.Config.Image}}", id)
		for _, r := range recs {
			if r.Body.Name != name {
				continue
			}
			if r.Body.ID != id || !hexID.MatchString(r.Body.ID) {
				t.Fatalf("%s: container_id %q, want %q", name, r.Body.ID, id)
			}
			if r.Body.Image != image {
				t.Fatalf("%s: container_image %q, want %q", name, r.Body.Image, image)
			}
			if !strings.Contains(r.Body.Log, "stream="+r.Body.Stream+" ") {
				t.Fatalf("%s: stream field %q does not match line %q", name, r.Body.Stream, r.Body.Log)
			}
			want, ok := stamps[r.Body.Log]
			if !ok {
				t.Fatalf("%s: line %q not in docker logs", name, r.Body.Log)
			}
			if got := engineTime(t, r.Time); !got.Equal(want) {
				t.Fatalf("%s: record time %v, docker's %v", name, got.UTC(), want.UTC())
			}
		}
	}
	if len(recs) != 5*2*lines {
		t.Errorf("%d records, want %d", len(recs), 5*2*lines)
	}
}

// A container that runs before the plugin starts is read from now, or from
// its first line with read_from_head on; one started later is read from its
// first line.
func TestExistingAndNewContainers(t *testing.T) {
	prefix := uniqueName(t)
	existing := prefix + "-old"
	oldID := runLogger(t, existing, nil, "-n", "0", "-rate", "20")
	// Lines that predate the plugin.
	if !eventually(30*time.Second, func() bool { return lineCount(t, oldID) >= 10 }) {
		t.Fatalf("the existing container wrote %d lines in 30 s, want 10", lineCount(t, oldID))
	}

	for _, tc := range []struct {
		readFromHead string
		wantFirst    func(first, before int) bool
		what         string
	}{
		{"off", func(s, before int) bool { return s > before }, "a line written after start"},
		{"on", func(s, _ int) bool { return s == 1 }, "seq=1"},
	} {
		t.Run("read_from_head="+tc.readFromHead, func(t *testing.T) {
			// Every line docker holds now was written before the plugin started.
			before := lineCount(t, oldID)
			h := startHost(t, []string{"include_names=" + prefix + "-*", "read_from_head=" + tc.readFromHead, "metrics_listen=off"})
			started := time.Now()
			fresh := fmt.Sprintf("%s-new-%s", prefix, tc.readFromHead)
			runLogger(t, fresh, nil, "-n", "5", "-rate", "50")
			recs := h.waitRecords(t, 30*time.Second, "lines from both containers", func(r []Record) bool {
				s := sequences(r)
				return len(s[streamKey{existing, "stdout"}]) >= 5 && len(s[streamKey{fresh, "stdout"}]) >= 5
			})
			seqs := sequences(recs)
			old := seqs[streamKey{existing, "stdout"}]
			if !tc.wantFirst(old[0], before) {
				t.Errorf("existing container: first record seq=%d (%d lines before the start), want %s", old[0], before, tc.what)
			}
			checkExactlyOnce(t, "existing container", old, old[0], old[len(old)-1])
			if tc.readFromHead == "off" {
				for _, r := range recs {
					if r.Body.Name == existing && recordTime(t, r.Time).Before(started.Add(-2*time.Second)) {
						t.Fatalf("existing container: line %q from before the plugin started", r.Body.Log)
					}
				}
			}
			checkExactlyOnce(t, "new container", seqs[streamKey{fresh, "stdout"}], 1, 5)
		})
	}
}

// A TTY container's merged output is captured, lines without "\r".
func TestTTYContainer(t *testing.T) {
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix, "metrics_listen=off"})
	runLogger(t, prefix, []string{"-t"}, "-n", "50", "-rate", "100")
	recs := h.waitRecords(t, 30*time.Second, "50 tty lines", func(r []Record) bool { return len(r) >= 50 })
	var seqs []int
	for _, r := range recs {
		if r.Body.Stream != "tty" {
			t.Fatalf("stream %q, want tty", r.Body.Stream)
		}
		if strings.ContainsAny(r.Body.Log, "\r\n") {
			t.Fatalf("tty line keeps line endings: %q", r.Body.Log)
		}
		seqs = append(seqs, seqOf(r.Body.Log))
	}
	checkExactlyOnce(t, "tty", seqs, 1, 50)
}

// With rotate_interval 2s, an idle and a busy container over 20 s: each
// stream is reopened at least 8 times, and the busy one has no gap and no
// duplicate.
func TestRotationKeepsEveryLine(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "rotate_interval=2s", "metrics_listen=" + addr})
	busy, idle := prefix+"-busy", prefix+"-idle"
	runLogger(t, busy, nil, "-n", "0", "-rate", "200", "-streams", "both")
	runLogger(t, idle, nil, "-n", "1")
	start := time.Now()
	var rotations map[string]float64
	ok := eventually(40*time.Second, func() bool {
		fams := scrape(t, addr)
		rotations = map[string]float64{}
		for _, c := range []string{busy, idle} {
			rotations[c], _ = metricValue(fams, "docker_logs_stream_rotations_total", map[string]string{"container_name": c})
		}
		return time.Since(start) >= 20*time.Second && rotations[busy] >= 8 && rotations[idle] >= 8
	})
	if !ok {
		t.Fatalf("after %v: rotations %v, want at least 8 each", time.Since(start).Round(time.Second), rotations)
	}
	docker(t, "stop", "-t", "1", busy)
	// Everything the busy container wrote must arrive once.
	id := docker(t, "inspect", "-f", "{{.Id}}", busy)
	written := len(dockerTimestamps(t, id))
	recs := h.waitRecords(t, 30*time.Second, "every line of the busy container", func(r []Record) bool {
		n := 0
		for _, x := range r {
			if x.Body.Name == busy {
				n++
			}
		}
		return n >= written
	})
	seqs := sequences(recs)
	for _, stream := range []string{"stdout", "stderr"} {
		s := seqs[streamKey{busy, stream}]
		checkExactlyOnce(t, "busy "+stream, s, 1, s[len(s)-1])
	}
	if n := len(seqs[streamKey{busy, "stdout"}]) + len(seqs[streamKey{busy, "stderr"}]); n != written {
		t.Errorf("busy container: %d records, docker logs has %d lines", n, written)
	}
}

// SIGTERM with 20 idle streams open: the host exits within 2 s.
func TestShutdownWithIdleStreams(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "metrics_listen=" + addr})
	for i := 0; i < 20; i++ {
		runLogger(t, fmt.Sprintf("%s-%d", prefix, i), nil, "-n", "1")
	}
	if !eventually(60*time.Second, func() bool {
		v, _ := metricValue(scrape(t, addr), "docker_logs_streams_active", nil)
		return v == 20
	}) {
		t.Fatal("20 streams never became active")
	}
	h.waitRecords(t, 30*time.Second, "one line per container", func(r []Record) bool { return len(r) >= 20 })
	code, took := h.stop(t, syscall.SIGTERM)
	if code != 0 {
		t.Errorf("host exit code %d, want 0", code)
	}
	if took > 2*time.Second {
		t.Errorf("host took %v to exit, want at most 2s", took)
	}
	t.Logf("exit took %v", took)
}

// A container renamed while it logs: its records carry the new name from
// the rename on, and every line comes once.
func TestRenamedContainer(t *testing.T) {
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "metrics_listen=off"})
	before, after := prefix+"-before", prefix+"-after"
	id := runLogger(t, before, nil, "-n", "0", "-rate", "20")
	named := func(name string) func([]Record) bool {
		return func(recs []Record) bool {
			n := 0
			for _, r := range recs {
				if r.Body.ID == id && r.Body.Name == name {
					n++
				}
			}
			return n >= 10
		}
	}
	h.waitRecords(t, 30*time.Second, "lines under the first name", named(before))
	docker(t, "rename", before, after)
	h.waitRecords(t, 30*time.Second, "lines under the new name", named(after))
	stopContainers(t, id)
	expectExactlyOnce(t, 30*time.Second, []string{id}, h)
	renamed := false
	for _, r := range h.Records() {
		switch {
		case r.Body.ID != id:
		case r.Body.Name == after:
			renamed = true
		case renamed || r.Body.Name != before:
			t.Fatalf("line %q named %q after the rename", r.Body.Log, r.Body.Name)
		}
	}
}

// Podman's own API (podman --remote) starts containers the Docker API
// reports too: their lines come once, short-lived ones included.
func TestPodmanOwnAPI(t *testing.T) {
	if !podman {
		t.Skip("Podman's own API: the engine under test is not Podman")
	}
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix + "-*", "metrics_listen=off"})
	var ids []string
	for i, args := range [][]string{{"-n", "300", "-rate", "100", "-after", "exit"}, {"-n", "3", "-after", "exit"}} {
		name := fmt.Sprintf("%s-%d", prefix, i)
		out, err := exec.Command("podman", append([]string{"--remote", "--url", "unix://" + daemonSocket,
			"run", "-d", "--network", "none", "--name", name, testImage}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman --remote run: %v\n%s", err, out)
		}
		id := strings.TrimSpace(string(out))
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
		ids = append(ids, id)
	}
	docker(t, append([]string{"wait"}, ids...)...)
	expectExactlyOnce(t, 60*time.Second, ids, h)
}

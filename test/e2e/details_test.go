package e2e

import (
	"maps"
	"testing"
	"time"
)

// details on: the attributes the daemon attaches to each line (here from
// --log-opt labels= and env=) arrive as attrs, long lines included; a
// container with none gets an empty map, and details off adds nothing.
func TestDetailsAttrs(t *testing.T) {
	prefix := uniqueName(t)
	h := startHost(t,
		[]string{"include_names=" + prefix + "-*", "details=on", "metrics_listen=off"},
		[]string{"include_names=" + prefix + "-*", "metrics_listen=off"})
	tagged := runLogger(t, prefix+"-tagged", []string{"--label", "team=core", "--log-opt", "labels=team",
		"-e", "STAGE=a b,c=d", "--log-opt", "env=STAGE"}, "-n", "20", "-sizes", "100,40000")
	plain := runLogger(t, prefix+"-plain", nil, "-n", "5")
	recs := h.waitRecords(t, 30*time.Second, "every line in both instances", func(rs []Record) bool {
		return countFor(rs, tagged) == 40 && countFor(rs, plain) == 10
	})
	want := map[string]string{"team": "core", "STAGE": "a b,c=d"}
	for _, r := range recs {
		switch {
		case r.Instance == 1 && r.Body.Attrs != nil:
			t.Fatalf("details off, yet attrs %v", r.Body.Attrs)
		case r.Instance == 1:
		case r.Body.ID == tagged && !maps.Equal(r.Body.Attrs, want):
			t.Fatalf("attrs %v, want %v", r.Body.Attrs, want)
		case r.Body.ID == plain && (r.Body.Attrs == nil || len(r.Body.Attrs) != 0):
			t.Fatalf("a container without attributes: attrs %v, want an empty map", r.Body.Attrs)
		}
	}
	for _, inst := range []int{0, 1} {
		var seqs []int
		for _, r := range recs {
			if r.Instance == inst && r.Body.ID == tagged {
				if seqOf(r.Body.Log) < 0 || len(r.Body.Log) != lenOf(r.Body.Log) {
					t.Fatalf("instance %d: line of %d bytes is not whole: %.80q", inst, len(r.Body.Log), r.Body.Log)
				}
				seqs = append(seqs, seqOf(r.Body.Log))
			}
		}
		checkExactlyOnce(t, "tagged", seqs, 1, 20)
	}
}

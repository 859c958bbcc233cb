package e2e

import (
	"strings"
	"testing"
	"time"
)

// Containers started by Compose and by a Swarm stack carry their labels as
// fields, every record names the host, and containers that opt out by
// label (fluentbit.io/exclude, or one stream) deliver nothing of what they
// exclude, while the metrics count them.
func TestComposeSwarmHostAndOptOut(t *testing.T) {
	prefix := uniqueName(t)
	addr := freeAddr(t)
	h := startCapture(t, []string{"include_names=" + prefix + "-*", "metrics_listen=" + addr})
	compose := runLogger(t, prefix+"-web-1", []string{
		"--label", "com.docker.compose.project=shop", "--label", "com.docker.compose.service=web",
		"--label", "com.docker.compose.container-number=1", "--label", "com.docker.compose.oneoff=False",
	}, "-n", "10")
	swarm := runLogger(t, prefix+"-api", []string{
		"--label", "com.docker.swarm.service.name=shop_api", "--label", "com.docker.swarm.task.name=shop_api.1.x7b2",
		"--label", "com.docker.swarm.node.id=n0d3", "--label", "com.docker.stack.namespace=shop",
	}, "-n", "10")
	excluded := runLogger(t, prefix+"-noisy", []string{"--label", "fluentbit.io/exclude=true"}, "-n", "10")
	noStderr := runLogger(t, prefix+"-quiet-errors", []string{"--label", "fluentbit.io/exclude_stderr=true"},
		"-n", "10", "-streams", "both")
	plain := runLogger(t, prefix+"-plain", nil, "-n", "10")

	recs := h.waitRecords(t, 30*time.Second, "every line of the containers that did not opt out", func(rs []Record) bool {
		return countFor(rs, compose) == 10 && countFor(rs, swarm) == 10 && countFor(rs, noStderr) == 10 && countFor(rs, plain) == 10
	})
	// What the opted-out container wrote is in its log, and not delivered.
	if n := strings.Count(docker(t, "logs", excluded), "seq="); n != 10 {
		t.Fatalf("the excluded container's log holds %d lines, want 10", n)
	}
	want := map[string]Record{}
	var c, s Record
	c.Body.ComposeProject, c.Body.ComposeService, c.Body.ComposeNumber, c.Body.ComposeOneoff = "shop", "web", "1", "False"
	s.Body.SwarmService, s.Body.SwarmTask, s.Body.SwarmNodeID, s.Body.SwarmStack = "shop_api", "shop_api.1.x7b2", "n0d3", "shop"
	want[compose], want[swarm], want[noStderr], want[plain] = c, s, Record{}, Record{}
	hostName := strings.TrimSpace(docker(t, "info", "--format", "{{.Name}}"))
	for _, r := range recs {
		w, ok := want[r.Body.ID]
		if !ok {
			t.Fatalf("a record of %s (%s), which opted out", r.Body.Name, r.Body.ID[:12])
		}
		if r.Body.Host != hostName {
			t.Fatalf("host %q, want the daemon's name %q", r.Body.Host, hostName)
		}
		got := [8]string{r.Body.ComposeProject, r.Body.ComposeService, r.Body.ComposeNumber, r.Body.ComposeOneoff,
			r.Body.SwarmService, r.Body.SwarmTask, r.Body.SwarmNodeID, r.Body.SwarmStack}
		exp := [8]string{w.Body.ComposeProject, w.Body.ComposeService, w.Body.ComposeNumber, w.Body.ComposeOneoff,
			w.Body.SwarmService, w.Body.SwarmTask, w.Body.SwarmNodeID, w.Body.SwarmStack}
		if got != exp {
			t.Fatalf("%s: compose and swarm fields %q, want %q", r.Body.Name, got, exp)
		}
		if r.Body.ID == noStderr && r.Body.Stream != "stdout" {
			t.Fatalf("%s: a %s line, though it opted out of stderr", r.Body.Name, r.Body.Stream)
		}
	}
	if v, ok := metricValue(scrape(t, addr), "docker_logs_containers_excluded", nil); !ok || v != 1 {
		t.Errorf("docker_logs_containers_excluded = %v (present %v), want 1", v, ok)
	}
}

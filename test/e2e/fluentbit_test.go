package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The real Fluent Bit runs the plugin where a test needs Fluent Bit's own
// behaviour: its pause routing, its buffering, its exit; and the delivery
// tests (startCapture). It is looked for on PATH (CI puts ../shared/bin
// there); a run without it skips the first kind and says so, and runs the
// delivery tests in the host.

// startCapture runs the instances (property lists) where a user would, in
// the real Fluent Bit, when it is on PATH, and otherwise in the host, so a
// clone without Fluent Bit still tests delivery. It logs which. Fluent Bit
// collects every second (h.tick), the host every 200 ms.
func startCapture(t *testing.T, instances ...[]string) *Host {
	t.Helper()
	return startCaptureWith(t, nil, instances...)
}

// startCaptureWith is startCapture with Fluent Bit service keys, which the
// host, having none, ignores.
func startCaptureWith(t *testing.T, service map[string]string, instances ...[]string) *Host {
	t.Helper()
	if fb, err := exec.LookPath("fluent-bit"); err == nil {
		t.Logf("runner: the real Fluent Bit, %s", fb)
		return startFluentBit(t, fbRun{inputs: instances, service: service})
	}
	t.Logf("runner: the host, %s (fluent-bit is not on PATH)", hostBin)
	return startHost(t, instances...)
}

// fluentBitPath returns the fluent-bit on PATH, or skips the test.
func fluentBitPath(t *testing.T) string {
	t.Helper()
	fb, err := exec.LookPath("fluent-bit")
	if err != nil {
		t.Skip("fluent-bit is not on PATH: this test runs only in the real Fluent Bit")
	}
	return fb
}

// fbOutput is one output of a Fluent Bit run, in YAML's keys.
type fbOutput map[string]string

// fbRun describes a Fluent Bit run: its inputs (docker_logs property
// lists, tagged in.0, in.1, ... in order) and outputs. With no outputs,
// every input goes to one file the run's Records read.
type fbRun struct {
	inputs  [][]string
	outputs []fbOutput
	// service keys besides those the harness sets
	service map[string]string
}

// startFluentBit runs the real Fluent Bit with the plugin, and waits until
// every input has started. Records come from the file output the harness
// adds (match in.*), in Fluent Bit's out_file form: "tag: [time, {record}]".
// Fluent Bit's HTTP server listens on h.fbAddr.
func startFluentBit(t *testing.T, run fbRun) *Host {
	t.Helper()
	fb := fluentBitPath(t)
	dir := t.TempDir()
	h := &Host{t: t, outPath: filepath.Join(dir, "records"), stderr: &syncBuffer{}, done: make(chan struct{}),
		parse: parseOutFileLine, fbAddr: freeAddr(t), tick: time.Second}
	_, port, _ := strings.Cut(h.fbAddr, ":")
	var y strings.Builder
	fmt.Fprintf(&y, "service:\n  flush: 0.2\n  grace: 5\n  log_level: info\n  http_server: on\n  http_listen: 127.0.0.1\n  http_port: %s\n", port)
	for k, v := range run.service {
		fmt.Fprintf(&y, "  %s: %s\n", k, v)
	}
	fmt.Fprintf(&y, "plugins:\n  - %s\npipeline:\n  inputs:\n", pluginSO)
	for i, props := range run.inputs {
		fmt.Fprintf(&y, "    - name: docker_logs\n      tag: in.%d\n", i)
		for _, p := range props {
			k, v, _ := strings.Cut(p, "=")
			fmt.Fprintf(&y, "      %s: %s\n", k, strconv.Quote(v))
		}
	}
	outputs := run.outputs
	if len(outputs) == 0 {
		outputs = []fbOutput{{"name": "file", "match": "in.*", "path": dir, "file": "records"}}
	}
	y.WriteString("  outputs:\n")
	for _, o := range outputs {
		fmt.Fprintf(&y, "    - name: %s\n", o["name"])
		for k, v := range o {
			if k != "name" {
				fmt.Fprintf(&y, "      %s: %s\n", k, strconv.Quote(v))
			}
		}
	}
	conf := filepath.Join(dir, "fluent-bit.yaml")
	if err := os.WriteFile(conf, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(fb, "-c", conf)
	h.cmd.Stdout, h.cmd.Stderr = h.stderr, h.stderr
	h.start(t)
	started := func() bool { return strings.Count(h.stderr.String(), "] started docker_host=") >= len(run.inputs) }
	if !eventually(20*time.Second, func() bool { return started() || h.exited() }) || !started() {
		t.Fatalf("fluent-bit did not start %d docker_logs inputs within 20 s:\n%s", len(run.inputs), tail(h.stderr.String(), 40))
	}
	return h
}

// parseOutFileLine reads a line of Fluent Bit's file output:
// "in.N: [sec.nsec, {record}]".
func parseOutFileLine(line []byte) (Record, error) {
	var r Record
	tag, rest, ok := strings.Cut(string(line), ": [")
	if !ok {
		return r, fmt.Errorf("no tag")
	}
	if n, ok := strings.CutPrefix(tag, "in."); ok {
		r.Instance, _ = strconv.Atoi(n)
	}
	ts, body, ok := strings.Cut(rest, ", ")
	if !ok || !strings.HasSuffix(body, "]\n") {
		return r, fmt.Errorf("not [time, record]")
	}
	r.Time = ts
	return r, json.Unmarshal([]byte(strings.TrimSuffix(body, "]\n")), &r.Body)
}

// fbRecords reads Fluent Bit's own count of the records input i appended,
// from its HTTP server.
func fbRecords(t *testing.T, h *Host, i int) int {
	t.Helper()
	resp, err := http.Get("http://" + h.fbAddr + "/api/v1/metrics")
	if err != nil {
		t.Fatalf("Fluent Bit's metrics: %v", err)
	}
	defer resp.Body.Close()
	var m struct {
		Input map[string]struct {
			Records int `json:"records"`
		} `json:"input"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("Fluent Bit's metrics: %v", err)
	}
	return m.Input[fmt.Sprintf("docker_logs.%d", i)].Records
}

package e2e

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A wrong config value fails Init with one message naming the key and the
// value; the host (like Fluent Bit) then exits with an error.
func TestWrongConfigFailsInit(t *testing.T) {
	for _, tc := range []struct{ prop, key, value string }{
		{"rotate_interval=abc", "rotate_interval", "abc"},
		{"resync_interval=5ms", "resync_interval", "5ms"},
		{"streams=stdout,stdlog", "streams", "stdout,stdlog"},
		{"read_from_head=maybe", "read_from_head", "maybe"},
		{"max_line_size=12Q", "max_line_size", "12Q"},
		{"docker_tls_ca=/nonexistent/ca.pem", "docker_tls_ca", "/nonexistent/ca.pem"},
		{"include_names=[", "include_names", "["},
		{"docker_host=ftp://somewhere", "docker_host", "ftp://somewhere"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			h := launchHost(t, hostArgs(200*time.Millisecond, []string{tc.prop, "metrics_listen=off"})...)
			if code := h.waitExit(t, 20*time.Second); code != 1 {
				t.Errorf("host exit code %d, want 1 (init failed)", code)
			}
			var errLine string
			for _, l := range strings.Split(h.stderr.String(), "\n") {
				if strings.Contains(l, "[error]") {
					errLine = l
				}
			}
			if !strings.Contains(errLine, tc.key) || !strings.Contains(errLine, tc.value) {
				t.Errorf("error line %q does not name key %q and value %q", errLine, tc.key, tc.value)
			}
		})
	}
}

// A daemon that is down when the plugin starts does not fail Init: the
// plugin retries, and captures once the daemon answers. The daemon "comes
// up" as a socket that starts forwarding to the real one.
func TestDaemonDownAtStart(t *testing.T) {
	prefix := uniqueName(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	h := startHost(t, []string{"docker_host=unix://" + sock, "include_names=" + prefix, "metrics_listen=off"})
	h.waitStderr(t, "Docker daemon unreachable", 10*time.Second)

	stop := forwardSocket(t, sock, daemonSocket)
	defer stop()
	h.waitStderr(t, "Docker daemon reachable again", 30*time.Second)
	runLogger(t, prefix, nil, "-n", "10", "-rate", "100")
	recs := h.waitRecords(t, 30*time.Second, "10 lines", func(r []Record) bool { return len(r) >= 10 })
	checkExactlyOnce(t, prefix, sequences(recs)[streamKey{prefix, "stdout"}], 1, 10)
}

// forwardSocket serves a unix socket at path that forwards every connection
// to target. stop closes the socket and every connection through it, which
// to a client looks like the daemon going away.
func forwardSocket(t *testing.T, path, target string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			track(c, true)
			track(up, true)
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close(); track(c, false); track(up, false) }()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			for c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

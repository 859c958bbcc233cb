package metrics

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The endpoint lives while anything holds it: a hot reload registers the
// new plugin (Hold) before the old instance releases it.
func TestServerLivesAcrossReload(t *testing.T) {
	s := &Server{healths: map[string]Health{}}
	ok := func() (bool, string) { return true, "" }
	s.Hold() // FLBPluginRegister
	s.Serve("127.0.0.1:0", "a", ok, quiet)
	addr := s.Addr()
	if addr == "" {
		t.Fatal("not listening")
	}
	s.Hold() // the reload's FLBPluginRegister
	s.Forget("a")
	s.Release() // the old instance's exit
	s.Release() // the old FLBPluginUnregister
	if s.Addr() != addr {
		t.Fatalf("endpoint closed during the reload")
	}
	if code, _ := get(t, "http://"+addr+"/metrics"); code != 200 {
		t.Errorf("/metrics %d during the reload", code)
	}
	s.Serve("127.0.0.1:0", "a", ok, quiet) // the new instance
	if s.Addr() != addr {
		t.Errorf("new instance moved the endpoint to %s", s.Addr())
	}
	s.Release()
	s.Release()
	if s.Addr() != "" {
		t.Errorf("endpoint still open after the last release")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Errorf("%s still accepts connections", addr)
	}
}

func TestHealthz(t *testing.T) {
	s := &Server{healths: map[string]Health{}}
	up := true
	s.Serve("127.0.0.1:0", "one", func() (bool, string) { return true, "" }, quiet)
	s.Serve("127.0.0.1:0", "two", func() (bool, string) {
		if up {
			return true, ""
		}
		return false, "Docker daemon unreachable"
	}, quiet)
	defer func() { s.Release(); s.Release() }()
	url := "http://" + s.Addr() + "/healthz"
	if code, body := get(t, url); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("healthy: %d %s", code, body)
	}
	up = false
	code, body := get(t, url)
	if code != 503 || !strings.Contains(body, `"two":"Docker daemon unreachable"`) || !strings.Contains(body, `"one":"ok"`) {
		t.Errorf("unhealthy: %d %s", code, body)
	}
}

func TestPortTakenIsNotFatal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var logged strings.Builder
	s := &Server{healths: map[string]Health{}}
	s.Serve(ln.Addr().String(), "a", func() (bool, string) { return true, "" }, slog.New(slog.NewTextHandler(&logged, nil)))
	defer s.Release()
	if s.Addr() != "" {
		t.Errorf("listening on %s despite the taken port", s.Addr())
	}
	if !strings.Contains(logged.String(), "cannot listen") || !strings.Contains(logged.String(), ln.Addr().String()) {
		t.Errorf("log does not name the problem and the address: %s", logged.String())
	}
}

// Closing an instance removes its series and no other's.
func TestInputCloseRemovesOnlyItsSeries(t *testing.T) {
	a, b := NewInput("close-a", true), NewInput("close-b", true)
	a.Rotation("web")
	b.Rotation("web")
	a.Records[1].Add(3)
	a.Close()
	if n := testutil.CollectAndCount(rotations, "docker_logs_stream_rotations_total"); n != 1 {
		t.Errorf("%d rotation series after closing one of two inputs, want 1", n)
	}
	if v := testutil.ToFloat64(rotations.WithLabelValues("close-b", "web")); v != 1 {
		t.Errorf("other input's series changed: %v", v)
	}
	b.ForgetContainer("web")
	if n := testutil.CollectAndCount(rotations, "docker_logs_stream_rotations_total"); n != 0 {
		t.Errorf("%d rotation series after the container was forgotten", n)
	}
	b.Close()
}

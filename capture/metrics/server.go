package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health says whether one instance is healthy, and why not.
type Health func() (ok bool, reason string)

// Server is the /metrics and /healthz endpoint shared by every instance of
// the plugin in one process. It lives while anything holds it, so a hot
// reload, which registers the new plugin before the old instances exit,
// keeps it up.
type Server struct {
	mu      sync.Mutex
	holds   int
	addr    string
	srv     *http.Server
	done    chan struct{}
	healths map[string]Health
}

// Shared is the process's one server.
var Shared = &Server{healths: map[string]Health{}}

// Hold keeps the server alive until the matching Release.
func (s *Server) Hold() {
	s.mu.Lock()
	s.holds++
	s.mu.Unlock()
}

// Serve holds the server, registers an instance's health and starts
// listening on addr if nothing listens yet. A port that is taken is logged,
// and the instance runs on without an endpoint.
func (s *Server) Serve(addr, input string, health Health, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds++
	s.healths[input] = health
	if addr == "" {
		return
	}
	if s.srv != nil {
		if addr != s.addr {
			log.Warn("metrics endpoint already listens elsewhere; one endpoint serves all instances",
				"metrics_listen", addr, "serving", s.addr)
		}
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("metrics endpoint disabled: cannot listen", "metrics_listen", addr, "error", err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", s.serveHealth)
	s.addr, s.done = ln.Addr().String(), make(chan struct{})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// The goroutine must not log: the instance whose logger this is may be
	// gone (hot reload) while the endpoint lives on.
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		srv.Serve(ln)
	}(s.srv, s.done)
	log.Info("metrics endpoint listening", "address", s.addr)
}

// Forget removes an instance's health check.
func (s *Server) Forget(input string) {
	s.mu.Lock()
	delete(s.healths, input)
	s.mu.Unlock()
}

// Release drops one hold; the last one closes the endpoint.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds > 0 {
		s.holds--
	}
	if s.holds > 0 || s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
	s.srv, s.addr = nil, ""
}

// Addr is the address listened on, or "" when none.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	checks := make(map[string]Health, len(s.healths))
	for k, v := range s.healths {
		checks[k] = v
	}
	s.mu.Unlock()
	body := struct {
		Status string            `json:"status"`
		Inputs map[string]string `json:"inputs"`
	}{Status: "ok", Inputs: map[string]string{}}
	code := http.StatusOK
	for name, check := range checks {
		ok, reason := check()
		if ok {
			body.Inputs[name] = "ok"
			continue
		}
		body.Inputs[name] = reason
		body.Status, code = "unhealthy", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

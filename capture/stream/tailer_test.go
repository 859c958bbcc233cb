package stream

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestNeverStarted(t *testing.T) {
	const (
		zero = "0001-01-01T00:00:00Z"
		ran  = "2026-12-07T10:00:00.123456789Z"
	)
	for _, c := range []struct {
		name  string
		state container.State
		want  bool
	}{
		{"Docker, created", container.State{Status: container.StateCreated, StartedAt: zero}, true},
		{"Podman, configured", container.State{Status: "configured", StartedAt: zero}, true},
		{"Podman, initialized", container.State{Status: "initialized", StartedAt: zero}, true},
		{"no start time at all", container.State{Status: "configured"}, true},
		{"running", container.State{Status: container.StateRunning, Running: true, StartedAt: ran}, false},
		{"exited after a run", container.State{Status: container.StateExited, StartedAt: ran, FinishedAt: ran}, false},
		{"Podman, stopped after a run", container.State{Status: "stopped", StartedAt: ran}, false},
		{"running, start time not given", container.State{Status: container.StateRunning, Running: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := neverStarted(&c.state); got != c.want {
				t.Errorf("neverStarted(%+v) = %v, want %v", c.state, got, c.want)
			}
		})
	}
}

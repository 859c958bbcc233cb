package discovery

import (
	"testing"

	"github.com/moby/moby/api/types/container"

	"docker_logs/capture/stream"
)

// A listed state says whether a container is waited on (not started yet)
// and whether its run ended (a die event that may have been missed).
func TestListedStates(t *testing.T) {
	for _, c := range []struct {
		state                container.ContainerState
		notStarted, runEnded bool
	}{
		{container.StateCreated, true, false},
		{"configured", true, false}, // Podman
		{"initialized", true, false},
		{container.StateRunning, false, false},
		{container.StatePaused, false, false}, // its follow goes on
		{container.StateRestarting, false, false},
		{container.StateRemoving, false, false},
		{container.StateExited, false, true},
		{container.StateDead, false, true},
		{"stopped", false, true}, // Podman
	} {
		if got := stream.NotStarted(c.state); got != c.notStarted {
			t.Errorf("NotStarted(%q) = %v, want %v", c.state, got, c.notStarted)
		}
		if got := runEnded(c.state); got != c.runEnded {
			t.Errorf("runEnded(%q) = %v, want %v", c.state, got, c.runEnded)
		}
	}
}

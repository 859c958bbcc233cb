package dockerapi

import (
	"testing"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

func TestEngineOf(t *testing.T) {
	tests := []struct {
		name       string
		v          client.ServerVersionResult
		want       Engine
		wantPodman bool
	}{
		{"Docker 20.10", client.ServerVersionResult{Version: "20.10.24+dfsg1", APIVersion: "1.41",
			Components: []system.ComponentVersion{{Name: "Engine", Version: "20.10.24+dfsg1"}, {Name: "containerd", Version: "1.6.20"}}},
			Engine{"Docker Engine", "20.10.24+dfsg1", "1.41"}, false},
		{"Docker CE names its platform", client.ServerVersionResult{Platform: client.PlatformInfo{Name: "Docker Engine - Community"}, Version: "29.1.0", APIVersion: "1.52",
			Components: []system.ComponentVersion{{Name: "containerd", Version: "2.1"}, {Name: "Engine", Version: "29.1.0"}}},
			Engine{"Docker Engine", "29.1.0", "1.52"}, false},
		{"Podman 4.3", client.ServerVersionResult{Platform: client.PlatformInfo{Name: "linux/amd64/debian-12"}, Version: "4.3.1", APIVersion: "1.41",
			Components: []system.ComponentVersion{{Name: "Podman Engine", Version: "4.3.1"}, {Name: "Conmon", Version: "conmon version 2.1.6"}}},
			Engine{"Podman Engine", "4.3.1", "1.41"}, true},
		{"no components", client.ServerVersionResult{Version: "19.03.15", APIVersion: "1.40"},
			Engine{"Docker Engine", "19.03.15", "1.40"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := engineOf(tt.v)
			if got != tt.want || got.Podman() != tt.wantPodman {
				t.Errorf("engineOf = %+v (Podman %v), want %+v (Podman %v)", got, got.Podman(), tt.want, tt.wantPodman)
			}
		})
	}
}

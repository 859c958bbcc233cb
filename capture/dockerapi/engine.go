package dockerapi

import (
	"strings"

	"github.com/moby/moby/client"
)

// Engine is what serves the Docker API, from its /version.
type Engine struct {
	Name    string // "Docker Engine", "Podman Engine"
	Version string
	API     string
}

// podmanEngine is how Podman's service names itself in /version.
const podmanEngine = "Podman Engine"

// Podman reports Podman's service, whose logs API stamps lines with whole
// seconds and can skip a line where a follow stream's backlog meets its
// live lines; its k8s-file log files keep nanoseconds.
func (e Engine) Podman() bool { return e.Name == podmanEngine }

// engineOf names the engine: the component that is the server (Docker's
// is "Engine", Podman's "Podman Engine"), else the platform.
func engineOf(v client.ServerVersionResult) Engine {
	e := Engine{Name: v.Platform.Name, Version: v.Version, API: v.APIVersion}
	for _, c := range v.Components {
		switch {
		case c.Name == "Engine":
			e.Name, e.Version = "Docker Engine", c.Version
		case strings.HasSuffix(c.Name, " Engine"):
			e.Name, e.Version = c.Name, c.Version
		default:
			continue
		}
		break
	}
	if e.Name == "" {
		e.Name = "Docker Engine"
	}
	return e
}

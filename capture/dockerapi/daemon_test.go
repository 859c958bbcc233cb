package dockerapi

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// slowVersion is a daemon whose /version answers only at its deadline.
type slowVersion struct {
	Docker
}

func (slowVersion) ServerVersion(ctx context.Context, _ client.ServerVersionOptions) (client.ServerVersionResult, error) {
	<-ctx.Done()
	return client.ServerVersionResult{}, ctx.Err()
}

func (slowVersion) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	if err := ctx.Err(); err != nil {
		return client.SystemInfoResult{}, err
	}
	return client.SystemInfoResult{Info: system.Info{Name: "docker-host-1"}}, nil
}

// A /version that takes its whole deadline leaves /info its own: the
// daemon's name is still read.
func TestRefreshVersionTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits RequestTimeout")
	}
	var d Daemon
	d.Refresh(context.Background(), slowVersion{}, "unix:///var/run/docker.sock", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := d.Name(); got != "docker-host-1" {
		t.Errorf("name %q, want docker-host-1", got)
	}
	if e := d.Engine(); e != (Engine{}) {
		t.Errorf("engine %+v, want none", e)
	}
}

// A Docker engine's json-file log lies under its root; Podman's inspect
// gives its own path, and an unknown root gives none.
func TestJSONLogPath(t *testing.T) {
	id := "0123abcd"
	for _, c := range []struct {
		name, root string
		engine     Engine
		want       string
	}{
		{"Docker", "/var/lib/docker", Engine{Name: "Docker Engine - Community"}, "/var/lib/docker/containers/0123abcd/0123abcd-json.log"},
		{"engine not read yet", "/data/docker/", Engine{}, "/data/docker/containers/0123abcd/0123abcd-json.log"},
		{"Podman", "/var/lib/containers/storage", Engine{Name: podmanEngine}, ""},
		{"no root", "", Engine{}, ""},
		{"relative root", "docker", Engine{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d Daemon
			d.root.Store(&c.root)
			d.engine.Store(&c.engine)
			if got := d.JSONLogPath(id); got != c.want {
				t.Errorf("JSONLogPath = %q, want %q", got, c.want)
			}
		})
	}
	var unread Daemon
	if got := unread.JSONLogPath(id); got != "" {
		t.Errorf("before /info: %q, want none", got)
	}
}

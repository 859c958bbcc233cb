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

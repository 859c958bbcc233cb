package capture

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"

	"docker_logs/capture/config"
)

// Docker is the part of the Docker Engine API the engine uses. The real
// client satisfies it; tests may point that client at a fake server.
type Docker interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// NewDockerClient connects to cfg.DockerHost, negotiating the API version
// with the daemon on the first request.
func NewDockerClient(cfg config.Config) (*client.Client, error) {
	// Requests are a few hundred bytes: a small write buffer saves 3 KiB on
	// each of the many long-lived stream connections.
	transport := &http.Transport{WriteBufferSize: 1024}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tlsc, err := tlsconfig.Client(tlsconfig.Options{
			CAFile: cfg.TLSCA, CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey,
			InsecureSkipVerify: !cfg.TLSVerify,
		})
		if err != nil {
			return nil, fmt.Errorf("invalid TLS files (docker_tls_ca, docker_tls_cert, docker_tls_key): %w", err)
		}
		transport.TLSClientConfig = tlsc
	}
	// WithHost, after WithHTTPClient, sets up the transport's dialer.
	c, err := client.NewClientWithOpts(client.WithHTTPClient(&http.Client{Transport: transport}),
		client.WithHost(cfg.DockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("invalid value %q for docker_host: %w", cfg.DockerHost, err)
	}
	return c, nil
}

// Package dockerapi is the Docker Engine API as the input uses it: the
// client, the daemon's clock, and retrying with backoff.
package dockerapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/moby/moby/client"

	"docker_logs/capture/config"
)

// Docker is the part of the Docker Engine API the engine uses. The real
// client satisfies it; tests may point that client at a fake server.
type Docker interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

// NewClient connects to cfg.DockerHost. The client negotiates the API
// version with the daemon on the first request (down to its MinAPIVersion,
// 1.40: Docker 19.03).
func NewClient(cfg config.Config) (*client.Client, error) {
	// Requests are a few hundred bytes: a small write buffer saves 3 KiB on
	// each of the many long-lived stream connections. HTTP/1.1 only, as the
	// daemon speaks: otherwise the Clone in WithHTTPClient sets up HTTP/2,
	// whose TLS config makes the client use https on a plain tcp:// daemon.
	var h1 http.Protocols
	h1.SetHTTP1(true)
	// Idle connections close after IdleConnTimeout, not when the daemon
	// chooses (Podman keeps them a minute, Docker for ever).
	transport := &http.Transport{WriteBufferSize: 1024, Protocols: &h1, IdleConnTimeout: IdleConnTimeout}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		// Not client.WithTLSClientConfig: it cannot turn verification off
		// (docker_tls_verify off) and trusts only the CA, not the system's.
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
	c, err := client.New(client.WithHTTPClient(&http.Client{Transport: transport}), client.WithHost(cfg.DockerHost))
	if err != nil {
		return nil, fmt.Errorf("invalid value %q for docker_host: %w", cfg.DockerHost, err)
	}
	return c, nil
}

// IdleConnTimeout is how long a connection to the daemon is kept for
// the next request once its stream or request is done.
const IdleConnTimeout = 30 * time.Second

// RequestTimeout bounds the one-off requests (ping, list, inspect, a
// probe) that are not a log stream.
const RequestTimeout = 10 * time.Second

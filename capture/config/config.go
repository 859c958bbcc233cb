// Package config reads and checks the plugin's properties. It is pure: the
// caller passes a getter, so Fluent Bit's property API and tests look alike.
package config

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Getter returns a property's value, or "" when it is unset.
type Getter func(key string) string

// LabelFilter matches a label by key, and by value when HasValue.
type LabelFilter struct {
	Key, Value string
	HasValue   bool
}

// Config is the checked configuration of one plugin instance.
type Config struct {
	DockerHost   string
	TLSCA        string
	TLSCert      string
	TLSKey       string
	TLSVerify    bool
	InstanceName string

	ResyncInterval time.Duration
	RotateInterval time.Duration

	IncludeNames, ExcludeNames   []string
	IncludeImages, ExcludeImages []string
	IncludeLabels, ExcludeLabels []LabelFilter
	Stdout, Stderr               bool
	ExcludeSelf                  bool
	ReadFromHead                 bool
	LabelKeys                    []string
	Details                      bool
	ComposeSwarmFields           bool
	HostName                     string // "" for the daemon's name
	// Source is auto, api or file; auto reads the API where a file never
	// can be (a remote daemon, details on).
	Source string

	MaxLineSize   int
	BufferMaxSize int

	DB              string
	DBFlushInterval time.Duration

	MetricsListen          string // "" when disabled
	MetricsContainerLabels bool
}

const defaultDockerHost = "unix:///var/run/docker.sock"

// Parse reads every property through get and checks it. The error names the
// key and the value at fault.
func Parse(get Getter, defaultInstanceName string) (Config, error) {
	p := parser{get: get}
	c := Config{
		DockerHost:   cmp.Or(p.str("docker_host"), os.Getenv("DOCKER_HOST"), defaultDockerHost),
		TLSCA:        p.file("docker_tls_ca"),
		TLSCert:      p.file("docker_tls_cert"),
		TLSKey:       p.file("docker_tls_key"),
		InstanceName: cmp.Or(p.str("instance_name"), defaultInstanceName),

		ResyncInterval: p.duration("resync_interval"),
		RotateInterval: p.duration("rotate_interval"),

		IncludeNames:  p.globs("include_names"),
		ExcludeNames:  p.globs("exclude_names"),
		IncludeImages: p.globs("include_images"),
		ExcludeImages: p.globs("exclude_images"),
		IncludeLabels: p.labels("include_labels"),
		ExcludeLabels: p.labels("exclude_labels"),
		ExcludeSelf:   p.bool("exclude_self", false),
		ReadFromHead:  p.bool("read_from_head", false),
		Details:       p.bool("details", false),
		LabelKeys:     p.list("label_keys"),

		ComposeSwarmFields: p.bool("compose_swarm_fields", false),
		HostName:           p.str("host_name"),
		Source:             strings.ToLower(p.str("source")),

		MaxLineSize:   p.size("max_line_size", 1024),
		BufferMaxSize: p.size("buffer_max_size", 64<<10),

		DB:              p.db("db"),
		DBFlushInterval: p.duration("db.flush_interval"),

		MetricsListen:          p.str("metrics_listen"),
		MetricsContainerLabels: p.bool("metrics_container_labels", false),
	}
	if scheme, addr, ok := strings.Cut(c.DockerHost, "://"); !ok || addr == "" ||
		(scheme != "unix" && scheme != "tcp" && scheme != "http" && scheme != "https") {
		p.fail("docker_host", c.DockerHost, "want unix:///path/to/docker.sock or tcp://host:port")
	}
	verifyDefault := c.TLSCA != ""
	if c.TLSCA == "" && c.TLSCert == "" && c.TLSKey == "" && p.err == nil {
		verifyDefault = p.tlsFromEnv(&c)
	}
	c.TLSVerify = p.bool("docker_tls_verify", verifyDefault)
	if c.TLSVerify && c.TLSCA == "" && p.err == nil {
		if p.get("docker_tls_verify") == "" {
			p.fail("DOCKER_TLS_VERIFY", os.Getenv("DOCKER_TLS_VERIFY"), "needs a CA: ca.pem in DOCKER_CERT_PATH, or docker_tls_ca")
		} else {
			p.fail("docker_tls_verify", p.str("docker_tls_verify"), "needs docker_tls_ca")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") && p.err == nil {
		if c.TLSCert == "" {
			p.fail("docker_tls_key", c.TLSKey, "docker_tls_cert and docker_tls_key go together")
		} else {
			p.fail("docker_tls_cert", c.TLSCert, "docker_tls_cert and docker_tls_key go together")
		}
	}
	if strings.EqualFold(c.MetricsListen, "off") {
		c.MetricsListen = ""
	}
	c.Stdout, c.Stderr = p.streams()
	p.source(&c)
	if p.err != nil {
		return Config{}, p.err
	}
	return c, nil
}

type parser struct {
	get Getter
	err error
}

func (p *parser) fail(key, value, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("invalid value %q for %s: %s", value, key, why)
	}
}

// str is the key's value, or its listed default (keys.go) when unset: the
// one place each default is written.
func (p *parser) str(key string) string {
	if v := strings.TrimSpace(p.get(key)); v != "" {
		return v
	}
	return listedDefault(key)
}

// bool reads an on/off key; def is for a key whose default is not listed
// because it depends on other keys.
func (p *parser) bool(key string, def bool) bool {
	v := p.str(key)
	switch strings.ToLower(v) {
	case "":
		return def
	case "on", "true", "yes", "1":
		return true
	case "off", "false", "no", "0":
		return false
	}
	p.fail(key, v, "want on or off")
	return def
}

// duration takes a Go duration ("5m", "1.5s"), whole seconds ("30"), or
// Fluent Bit's time form, whole units with S, M, H or D in either case
// ("5M", "1d"), as the config map's time type announces.
func (p *parser) duration(key string) time.Duration {
	v := p.str(key)
	d, err := time.ParseDuration(v)
	if err != nil {
		var ok bool
		if d, ok = fluentBitTime(v); !ok {
			p.fail(key, v, "want a duration such as 30s, 5m or 1d")
			return 0
		}
	}
	if d < 100*time.Millisecond {
		p.fail(key, v, "must be at least 100ms")
		return 0
	}
	return d
}

// fluentBitTime parses whole seconds, or whole units with a suffix of S, M,
// H or D in either case (Fluent Bit's flb_utils_time_to_seconds).
func fluentBitTime(v string) (time.Duration, bool) {
	unit := time.Second
	switch v[len(v)-1] {
	case 's', 'S':
		v = v[:len(v)-1]
	case 'm', 'M':
		unit, v = time.Minute, v[:len(v)-1]
	case 'h', 'H':
		unit, v = time.Hour, v[:len(v)-1]
	case 'd', 'D':
		unit, v = 24*time.Hour, v[:len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(math.MaxInt64/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// size takes bytes with an optional K, M or G suffix (powers of 1024), as
// Fluent Bit's own size properties do.
func (p *parser) size(key string, minimum int) int {
	v := p.str(key)
	s := strings.ToUpper(v)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || int(n)*mult > 1<<31 {
		p.fail(key, v, "want a size such as 512K or 16M, at most 2G")
		return 0
	}
	if int(n)*mult < minimum {
		p.fail(key, v, fmt.Sprintf("must be at least %d bytes", minimum))
		return 0
	}
	return int(n) * mult
}

func (p *parser) list(key string) []string {
	var out []string
	for _, f := range strings.Split(p.str(key), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (p *parser) globs(key string) []string {
	globs := p.list(key)
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			p.fail(key, g, "not a valid glob pattern")
		}
	}
	return globs
}

func (p *parser) labels(key string) []LabelFilter {
	var out []LabelFilter
	for _, f := range p.list(key) {
		k, v, has := strings.Cut(f, "=")
		if k = strings.TrimSpace(k); k == "" {
			p.fail(key, f, "want key or key=value")
			continue
		}
		out = append(out, LabelFilter{Key: k, Value: strings.TrimSpace(v), HasValue: has})
	}
	return out
}

func (p *parser) streams() (stdout, stderr bool) {
	v := p.str("streams")
	for _, s := range p.list("streams") {
		switch strings.ToLower(s) {
		case "stdout":
			stdout = true
		case "stderr":
			stderr = true
		default:
			p.fail("streams", v, fmt.Sprintf("unknown stream %q, want stdout and/or stderr", s))
		}
	}
	if !stdout && !stderr && p.err == nil {
		p.fail("streams", v, "names no stream")
	}
	return stdout, stderr
}

// source checks the source key against the daemon and details: log files
// are read only on the daemon's host, and hold no details the plugin reads.
func (p *parser) source(c *Config) {
	local := strings.HasPrefix(c.DockerHost, "unix://")
	switch {
	case c.Source != "auto" && c.Source != "api" && c.Source != "file":
		p.fail("source", c.Source, "want auto, api or file")
	case c.Source == "file" && !local:
		p.fail("source", c.Source, "log files are read on the daemon's host only: docker_host must be unix://")
	case c.Source == "file" && c.Details:
		p.fail("source", c.Source, "details come through the API only: source api or auto")
	case c.Source == "auto" && (!local || c.Details):
		c.Source = "api"
	}
}

// tlsFromEnv fills the TLS files of a tcp:// daemon from the environment,
// as the docker CLI does when no docker_tls_* file is given: ca.pem,
// cert.pem and key.pem, each if present, in $DOCKER_CERT_PATH, or with only
// $DOCKER_TLS_VERIFY set, in the CLI's config directory. It returns whether
// verification is on by default: $DOCKER_TLS_VERIFY is not empty.
func (p *parser) tlsFromEnv(c *Config) bool {
	scheme, _, _ := strings.Cut(c.DockerHost, "://")
	if scheme != "tcp" && scheme != "https" {
		return false
	}
	verify := os.Getenv("DOCKER_TLS_VERIFY") != ""
	dir := os.Getenv("DOCKER_CERT_PATH")
	if dir == "" && verify {
		dir = os.Getenv("DOCKER_CONFIG")
		if home, err := os.UserHomeDir(); dir == "" && err == nil {
			dir = filepath.Join(home, ".docker")
		}
	}
	if dir == "" {
		return false
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ca.pem", &c.TLSCA}, {"cert.pem", &c.TLSCert}, {"key.pem", &c.TLSKey}} {
		if fi, err := os.Stat(filepath.Join(dir, f.name)); err == nil && !fi.IsDir() {
			*f.dst = filepath.Join(dir, f.name)
		}
	}
	return verify
}

// db checks that the checkpoint named by key can be written.
func (p *parser) db(key string) string {
	v := p.str(key)
	if v == "" {
		return ""
	}
	f, err := os.CreateTemp(filepath.Dir(v), filepath.Base(v)+".probe-*")
	if err != nil {
		p.fail(key, v, fmt.Errorf("cannot write in its directory: %w", err).Error())
		return ""
	}
	f.Close()
	os.Remove(f.Name())
	return v
}

// file checks that a TLS file named by key can be read.
func (p *parser) file(key string) string {
	v := p.str(key)
	if v == "" {
		return ""
	}
	f, err := os.Open(v)
	if err != nil {
		p.fail(key, v, err.Error())
		return ""
	}
	f.Close()
	return v
}

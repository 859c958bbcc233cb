package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func getter(props map[string]string) Getter {
	return func(key string) string { return props[key] }
}

// tlsFiles makes readable CA, certificate and key files.
func tlsFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("-----BEGIN TEST-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

func TestParseDefaults(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	c, err := Parse(getter(nil), "docker_logs.0")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DockerHost:             "unix:///var/run/docker.sock",
		InstanceName:           "docker_logs.0",
		ResyncInterval:         30 * time.Second,
		RotateInterval:         5 * time.Minute,
		Stdout:                 true,
		Stderr:                 true,
		ExcludeSelf:            true,
		ReadFromHead:           false,
		ComposeSwarmFields:     true,
		Source:                 "auto",
		MaxLineSize:            1 << 20,
		BufferMaxSize:          12 << 20,
		DBFlushInterval:        5 * time.Second,
		MetricsListen:          "127.0.0.1:2021",
		MetricsContainerLabels: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestParseDockerHostFromEnvironment(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://10.1.2.3:2376")
	c, err := Parse(getter(nil), "x")
	if err != nil || c.DockerHost != "tcp://10.1.2.3:2376" {
		t.Fatalf("DockerHost = %q, %v; want DOCKER_HOST's value", c.DockerHost, err)
	}
	t.Setenv("DOCKER_HOST", "docker.example:2375")
	if _, err := Parse(getter(nil), "x"); err == nil || !strings.Contains(err.Error(), "docker.example:2375") {
		t.Fatalf("DOCKER_HOST without a scheme: error %v, want one naming the value", err)
	}
	// The property wins over the environment.
	c, err = Parse(getter(map[string]string{"docker_host": "unix:///run/other.sock"}), "x")
	if err != nil || c.DockerHost != "unix:///run/other.sock" {
		t.Fatalf("DockerHost = %q, %v; want the property's value", c.DockerHost, err)
	}
}

func TestParseValues(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	ca, cert, key := tlsFiles(t)
	db := filepath.Join(t.TempDir(), "docker.db")
	tests := []struct {
		name  string
		props map[string]string
		check func(c Config) bool
	}{
		{"docker_host", map[string]string{"docker_host": " tcp://host:2375 "}, func(c Config) bool { return c.DockerHost == "tcp://host:2375" }},
		{"TLS with CA: verify by default", map[string]string{"docker_tls_ca": ca, "docker_tls_cert": cert, "docker_tls_key": key},
			func(c Config) bool { return c.TLSCA == ca && c.TLSCert == cert && c.TLSKey == key && c.TLSVerify }},
		{"TLS verify off", map[string]string{"docker_tls_ca": ca, "docker_tls_verify": "off"}, func(c Config) bool { return c.TLSCA == ca && !c.TLSVerify }},
		{"client certificate without CA", map[string]string{"docker_tls_cert": cert, "docker_tls_key": key},
			func(c Config) bool { return c.TLSCert == cert && c.TLSKey == key && !c.TLSVerify }},
		{"instance_name", map[string]string{"instance_name": "edge"}, func(c Config) bool { return c.InstanceName == "edge" }},
		{"duration 5m", map[string]string{"rotate_interval": "5m"}, func(c Config) bool { return c.RotateInterval == 5*time.Minute }},
		{"duration in bare seconds", map[string]string{"rotate_interval": "30"}, func(c Config) bool { return c.RotateInterval == 30*time.Second }},
		{"duration 1.5s", map[string]string{"resync_interval": "1.5s"}, func(c Config) bool { return c.ResyncInterval == 1500*time.Millisecond }},
		{"duration at the 100ms minimum", map[string]string{"resync_interval": "100ms"}, func(c Config) bool { return c.ResyncInterval == 100*time.Millisecond }},
		{"duration 1h30m", map[string]string{"db.flush_interval": "1h30m"}, func(c Config) bool { return c.DBFlushInterval == 90*time.Minute }},
		{"Fluent Bit's time 5M", map[string]string{"rotate_interval": "5M"}, func(c Config) bool { return c.RotateInterval == 5*time.Minute }},
		{"Fluent Bit's time 2H", map[string]string{"rotate_interval": "2H"}, func(c Config) bool { return c.RotateInterval == 2*time.Hour }},
		{"Fluent Bit's time 1d", map[string]string{"rotate_interval": "1d"}, func(c Config) bool { return c.RotateInterval == 24*time.Hour }},
		{"Fluent Bit's time 1D", map[string]string{"db.flush_interval": "1D"}, func(c Config) bool { return c.DBFlushInterval == 24*time.Hour }},
		{"Fluent Bit's time 45S", map[string]string{"resync_interval": "45S"}, func(c Config) bool { return c.ResyncInterval == 45*time.Second }},
		{"size 1M", map[string]string{"max_line_size": "1M"}, func(c Config) bool { return c.MaxLineSize == 1<<20 }},
		{"size 512K", map[string]string{"max_line_size": "512K"}, func(c Config) bool { return c.MaxLineSize == 512<<10 }},
		{"size 16MiB", map[string]string{"buffer_max_size": "16MiB"}, func(c Config) bool { return c.BufferMaxSize == 16<<20 }},
		{"size 64KB", map[string]string{"buffer_max_size": "64KB"}, func(c Config) bool { return c.BufferMaxSize == 64<<10 }},
		{"size lower case 2m", map[string]string{"buffer_max_size": "2m"}, func(c Config) bool { return c.BufferMaxSize == 2<<20 }},
		{"size in bytes", map[string]string{"max_line_size": "2048"}, func(c Config) bool { return c.MaxLineSize == 2048 }},
		{"size at the 1024 minimum", map[string]string{"max_line_size": "1024"}, func(c Config) bool { return c.MaxLineSize == 1024 }},
		{"size 2G (the maximum)", map[string]string{"buffer_max_size": "2G"}, func(c Config) bool { return c.BufferMaxSize == 2<<30 }},
		{"streams stdout", map[string]string{"streams": "stdout"}, func(c Config) bool { return c.Stdout && !c.Stderr }},
		{"streams stderr", map[string]string{"streams": "stderr"}, func(c Config) bool { return !c.Stdout && c.Stderr }},
		{"streams both, spaced, upper case", map[string]string{"streams": " STDERR , stdout "}, func(c Config) bool { return c.Stdout && c.Stderr }},
		{"bool off", map[string]string{"exclude_self": "off"}, func(c Config) bool { return !c.ExcludeSelf }},
		{"bool false", map[string]string{"exclude_self": "false"}, func(c Config) bool { return !c.ExcludeSelf }},
		{"source file", map[string]string{"source": "File"}, func(c Config) bool { return c.Source == "file" }},
		{"source api", map[string]string{"source": "api"}, func(c Config) bool { return c.Source == "api" }},
		{"source auto on a remote daemon reads the API", map[string]string{"docker_host": "tcp://host:2375"}, func(c Config) bool { return c.Source == "api" }},
		{"source auto with details reads the API", map[string]string{"details": "on"}, func(c Config) bool { return c.Source == "api" }},
		{"bool on", map[string]string{"read_from_head": "on"}, func(c Config) bool { return c.ReadFromHead }},
		{"bool true", map[string]string{"read_from_head": "true"}, func(c Config) bool { return c.ReadFromHead }},
		{"bool upper case", map[string]string{"read_from_head": "On"}, func(c Config) bool { return c.ReadFromHead }},
		{"metrics_container_labels off", map[string]string{"metrics_container_labels": "off"}, func(c Config) bool { return !c.MetricsContainerLabels }},
		{"metrics_listen", map[string]string{"metrics_listen": "0.0.0.0:9100"}, func(c Config) bool { return c.MetricsListen == "0.0.0.0:9100" }},
		{"metrics_listen off", map[string]string{"metrics_listen": "off"}, func(c Config) bool { return c.MetricsListen == "" }},
		{"metrics_listen OFF", map[string]string{"metrics_listen": "OFF"}, func(c Config) bool { return c.MetricsListen == "" }},
		{"db in a writable directory", map[string]string{"db": db}, func(c Config) bool { return c.DB == db }},
		{"docker_host tcp", map[string]string{"docker_host": "tcp://10.0.0.1:2376"}, func(c Config) bool { return c.DockerHost == "tcp://10.0.0.1:2376" }},
		{"label_keys", map[string]string{"label_keys": "app, com.example.tier ,"}, func(c Config) bool { return slices.Equal(c.LabelKeys, []string{"app", "com.example.tier"}) }},
		{"label_keys all", map[string]string{"label_keys": "*"}, func(c Config) bool { return slices.Equal(c.LabelKeys, []string{"*"}) }},
		{"name and image globs", map[string]string{"include_names": "web-*, api", "exclude_names": "*-debug", "include_images": "nginx:*", "exclude_images": "busybox*"},
			func(c Config) bool {
				return slices.Equal(c.IncludeNames, []string{"web-*", "api"}) && slices.Equal(c.ExcludeNames, []string{"*-debug"}) &&
					slices.Equal(c.IncludeImages, []string{"nginx:*"}) && slices.Equal(c.ExcludeImages, []string{"busybox*"})
			}},
		{"label filters", map[string]string{"include_labels": "app=web, tier , empty=", "exclude_labels": "logging = off"},
			func(c Config) bool {
				return reflect.DeepEqual(c.IncludeLabels, []LabelFilter{{"app", "web", true}, {"tier", "", false}, {"empty", "", true}}) &&
					reflect.DeepEqual(c.ExcludeLabels, []LabelFilter{{"logging", "off", true}})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(getter(tt.props), "x")
			if err != nil {
				t.Fatalf("Parse(%v): %v", tt.props, err)
			}
			if !tt.check(c) {
				t.Fatalf("Parse(%v) = %+v", tt.props, c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	_, cert, key := tlsFiles(t)
	tests := []struct {
		key, value string
		more       map[string]string // other properties set with it
	}{
		{key: "rotate_interval", value: "abc"},
		{key: "rotate_interval", value: "10ms"},
		{key: "rotate_interval", value: "0"},
		{key: "rotate_interval", value: "-5m"},
		{key: "resync_interval", value: "5 minutes"},
		{key: "rotate_interval", value: "1.5D"}, // Fluent Bit's time takes whole units
		{key: "rotate_interval", value: "5W"},
		{key: "rotate_interval", value: "D"},
		{key: "rotate_interval", value: "-1d"},
		{key: "rotate_interval", value: "0M"},
		{key: "rotate_interval", value: "213504d"},  // past Go's durations: wrapped to 25m26s before
		{key: "rotate_interval", value: "5124096H"}, // the same
		{key: "rotate_interval", value: "200000D"},  // wrapped below zero before
		{key: "db.flush_interval", value: "never"},
		{key: "streams", value: "stdout,foo"},
		{key: "streams", value: ","},
		{key: "streams", value: "stdin"},
		{key: "source", value: "files"},
		{key: "source", value: "file", more: map[string]string{"docker_host": "tcp://host:2375"}},
		{key: "source", value: "file", more: map[string]string{"details": "on"}},
		{key: "max_line_size", value: "12Q"},
		{key: "max_line_size", value: "1.5M"},
		{key: "max_line_size", value: "-1"},
		{key: "max_line_size", value: "K"},
		{key: "max_line_size", value: "512"},  // below the 1024 minimum
		{key: "max_line_size", value: "3G"},   // above 2G
		{key: "buffer_max_size", value: "1K"}, // below the 64K minimum
		{key: "buffer_max_size", value: "99999999999"},
		{key: "docker_tls_ca", value: "/nonexistent/ca.pem"},
		{key: "docker_tls_cert", value: "/nonexistent/cert.pem", more: map[string]string{"docker_tls_key": key}},
		{key: "docker_tls_key", value: "/nonexistent/key.pem", more: map[string]string{"docker_tls_cert": cert}},
		{key: "docker_tls_cert", value: cert}, // without its key
		{key: "docker_tls_key", value: key},   // without its certificate
		{key: "docker_tls_verify", value: "maybe"},
		{key: "docker_tls_verify", value: "on"},   // without a CA
		{key: "docker_tls_verify", value: "true"}, // without a CA
		{key: "exclude_self", value: "maybe"},
		{key: "read_from_head", value: "2"},
		{key: "metrics_container_labels", value: "yes please"},
		{key: "include_names", value: "["},
		{key: "exclude_names", value: "web-[a"},
		{key: "include_images", value: "nginx\\"},
		{key: "exclude_images", value: "[z-a"},
		{key: "docker_host", value: "localhost:2375"},
		{key: "docker_host", value: "ssh://user@host"},
		{key: "docker_host", value: "tcp://"},
		{key: "db", value: "/nonexistent/dir/docker.db"},
		{key: "include_labels", value: "=web"},
		{key: "exclude_labels", value: " = off"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			props := map[string]string{tt.key: tt.value}
			for k, v := range tt.more {
				props[k] = v
			}
			c, err := Parse(getter(props), "x")
			if err == nil {
				t.Fatalf("Parse(%v) = %+v, want an error", props, c)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.key) || !strings.Contains(msg, strings.TrimSpace(tt.value)) {
				t.Fatalf("error %q does not name the key %q and the value %q", msg, tt.key, tt.value)
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("Parse returned %+v with its error, want the zero Config", c)
			}
		})
	}
}

// The TLS files and verification of a tcp:// daemon come from the
// environment as the docker CLI takes them, unless docker_tls_* says
// otherwise.
func TestTLSFromEnvironment(t *testing.T) {
	certs := t.TempDir() // all three files
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(certs, name), []byte("-----BEGIN TEST-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caOnly := t.TempDir()
	os.WriteFile(filepath.Join(caOnly, "ca.pem"), []byte("x"), 0o600)
	home := t.TempDir() // $HOME/.docker, the CLI's default
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		os.WriteFile(filepath.Join(home, ".docker", name), []byte("x"), 0o600)
	}
	ca, cert, key := tlsFiles(t) // explicit files elsewhere
	in := func(dir, name string) string { return filepath.Join(dir, name) }
	type tls struct {
		ca, cert, key string
		verify        bool
	}
	tests := []struct {
		name                  string
		host, certPath, verif string
		props                 map[string]string
		want                  tls
		wantErr               string // a part of the error, when one is expected
	}{
		{name: "no environment: no TLS", host: "tcp://d:2376"},
		{name: "DOCKER_CERT_PATH: its files, not verified", host: "tcp://d:2376", certPath: certs,
			want: tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), false}},
		{name: "DOCKER_TLS_VERIFY=1 verifies", host: "tcp://d:2376", certPath: certs, verif: "1",
			want: tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), true}},
		{name: "any non-empty DOCKER_TLS_VERIFY verifies, as in the CLI", host: "tcp://d:2376", certPath: certs, verif: "0",
			want: tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), true}},
		{name: "missing files are left out", host: "tcp://d:2376", certPath: caOnly, verif: "1",
			want: tls{ca: in(caOnly, "ca.pem"), verify: true}},
		{name: "DOCKER_TLS_VERIFY alone: ~/.docker", host: "tcp://d:2376", verif: "1",
			want: tls{in(home, ".docker/ca.pem"), in(home, ".docker/cert.pem"), in(home, ".docker/key.pem"), true}},
		{name: "https:// too", host: "https://d:2376", certPath: certs, verif: "1",
			want: tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), true}},
		{name: "a unix socket takes no TLS", host: "unix:///var/run/docker.sock", certPath: certs, verif: "1"},
		{name: "docker_tls_verify off wins", host: "tcp://d:2376", certPath: certs, verif: "1",
			props: map[string]string{"docker_tls_verify": "off"},
			want:  tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), false}},
		{name: "docker_tls_verify on wins", host: "tcp://d:2376", certPath: certs,
			props: map[string]string{"docker_tls_verify": "on"},
			want:  tls{in(certs, "ca.pem"), in(certs, "cert.pem"), in(certs, "key.pem"), true}},
		{name: "explicit files win over DOCKER_CERT_PATH", host: "tcp://d:2376", certPath: certs, verif: "1",
			props: map[string]string{"docker_tls_ca": ca, "docker_tls_cert": cert, "docker_tls_key": key},
			want:  tls{ca, cert, key, true}},
		{name: "an explicit file alone: nothing from the environment", host: "tcp://d:2376", certPath: certs,
			props: map[string]string{"docker_tls_ca": ca}, want: tls{ca: ca, verify: true}},
		{name: "verification without a CA is an error naming the variable", host: "tcp://d:2376", certPath: t.TempDir(), verif: "1",
			wantErr: "DOCKER_TLS_VERIFY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tt.host)
			t.Setenv("DOCKER_CERT_PATH", tt.certPath)
			t.Setenv("DOCKER_TLS_VERIFY", tt.verif)
			t.Setenv("DOCKER_CONFIG", "")
			t.Setenv("HOME", home)
			c, err := Parse(getter(tt.props), "x")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %+v, %v; want an error naming %s", c, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := (tls{c.TLSCA, c.TLSCert, c.TLSKey, c.TLSVerify}); got != tt.want {
				t.Errorf("TLS %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Image globs treat images as paths whose "*" crosses "/"; name globs keep
// path.Match's rules.
func TestImageAndNameGlobs(t *testing.T) {
	tests := []struct {
		glob, image string
		want        bool
	}{
		{"registry/*", "registry/team/app", true},
		{"registry/*", "registry/app:1.2", true},
		{"registry/*", "registry", false},
		{"registry/*", "other/team/app", false},
		{"registry.local:5000/team/*", "registry.local:5000/team/app:v1", true},
		{"registry.local:5000/team/*", "registry.local:5000/other/app:v1", false},
		{"*", "nginx:1.25", true},
		{"*", "registry.local/api:2", true},
		{"*/app:*", "registry/team/app:1", true},
		{"*/app:*", "registry/team/app2:1", false},
		{"nginx:1.2?", "nginx:1.25", true},
		{"nginx:1.2?", "nginx:1.3", false},
		{"[a-c]*", "busybox", true},
		{"[a-c]*", "nginx", false},
		{"nginx", "nginx:latest", false},
		{"nginx*", "nginx:latest", true},
		{`nginx\*`, "nginx*", true},
		{`nginx\*`, "nginxa", false},
	}
	for _, tt := range tests {
		c, err := Parse(getter(map[string]string{"include_images": tt.glob}), "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match("c", tt.image, nil); got != tt.want {
			t.Errorf("include_images %q, image %q: match %v, want %v", tt.glob, tt.image, got, tt.want)
		}
		c, _ = Parse(getter(map[string]string{"exclude_images": tt.glob}), "x")
		if got := !c.Match("c", tt.image, nil); got != tt.want {
			t.Errorf("exclude_images %q, image %q: excluded %v, want %v", tt.glob, tt.image, got, tt.want)
		}
	}
	names := []struct {
		glob, name string
		want       bool
	}{
		{"web-*", "web-1", true},
		{"web-?", "web-12", false},
		{"*", "a/b", false}, // path.Match: * stops at /
		{"[^w]*", "api", true},
	}
	for _, tt := range names {
		c, err := Parse(getter(map[string]string{"include_names": tt.glob}), "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match(tt.name, "img", nil); got != tt.want {
			t.Errorf("include_names %q, name %q: match %v, want %v", tt.glob, tt.name, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	type container struct {
		name, image string
		labels      map[string]string
	}
	web := container{"web-1", "nginx:1.25", map[string]string{"app": "web", "tier": "frontend"}}
	webDebug := container{"web-debug", "nginx:1.25", map[string]string{"app": "web", "logging": "off"}}
	api := container{"api", "registry.local/api:2", map[string]string{"app": "api", "tier": ""}}
	db := container{"db", "postgres:16", nil}
	all := []container{web, webDebug, api, db}
	tests := []struct {
		name  string
		props map[string]string
		match []container
	}{
		{"no filters: everything", nil, all},
		{"include names", map[string]string{"include_names": "web-*"}, []container{web, webDebug}},
		{"include several names", map[string]string{"include_names": "web-1,db"}, []container{web, db}},
		{"exclude names", map[string]string{"exclude_names": "*-debug"}, []container{web, api, db}},
		{"exclude wins over include", map[string]string{"include_names": "web-*", "exclude_names": "web-debug"}, []container{web}},
		{"include images", map[string]string{"include_images": "nginx:*"}, []container{web, webDebug}},
		{"include image with registry path", map[string]string{"include_images": "registry.local/*"}, []container{api}},
		{"image glob * crosses /", map[string]string{"include_images": "*"}, all},
		{"image glob after the registry", map[string]string{"exclude_images": "registry.local/*"}, []container{web, webDebug, db}},
		{"exclude images", map[string]string{"exclude_images": "postgres:*,nginx:*"}, []container{api}},
		{"include label by key", map[string]string{"include_labels": "tier"}, []container{web, api}},
		{"include label by value", map[string]string{"include_labels": "app=web"}, []container{web, webDebug}},
		{"include labels: any of them", map[string]string{"include_labels": "app=api,tier=frontend"}, []container{web, api}},
		{"include label with empty value", map[string]string{"include_labels": "tier="}, []container{api}},
		{"exclude label by value", map[string]string{"exclude_labels": "logging=off"}, []container{web, api, db}},
		{"exclude label by key", map[string]string{"exclude_labels": "app"}, []container{db}},
		{"names and labels both apply", map[string]string{"include_names": "web-*", "include_labels": "tier"}, []container{web}},
		{"images and exclude labels", map[string]string{"include_images": "nginx:*", "exclude_labels": "logging=off"}, []container{web}},
		{"every kind at once", map[string]string{
			"include_names": "*", "exclude_names": "db", "include_images": "*,*/*", "exclude_images": "postgres*",
			"include_labels": "app", "exclude_labels": "logging",
		}, []container{web, api}},
		{"nothing matches", map[string]string{"include_names": "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(getter(tt.props), "x")
			if err != nil {
				t.Fatal(err)
			}
			for _, ct := range all {
				want := slices.ContainsFunc(tt.match, func(m container) bool { return m.name == ct.name })
				if got := c.Match(ct.name, ct.image, ct.labels); got != want {
					t.Errorf("Match(%q, %q, %v) = %v, want %v", ct.name, ct.image, ct.labels, got, want)
				}
			}
		})
	}
}

func TestOptOutOf(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   OptOut
	}{
		{"no labels", nil, OptOut{}},
		{"excluded", map[string]string{"fluentbit.io/exclude": "true"}, OptOut{All: true}},
		{"any case, on, yes, 1", map[string]string{"fluentbit.io/exclude": " On "}, OptOut{All: true}},
		{"false keeps it", map[string]string{"fluentbit.io/exclude": "false"}, OptOut{}},
		{"not a boolean keeps it", map[string]string{"fluentbit.io/exclude": "maybe"}, OptOut{}},
		{"stdout only", map[string]string{"fluentbit.io/exclude_stdout": "yes"}, OptOut{Stdout: true}},
		{"stderr only", map[string]string{"fluentbit.io/exclude_stderr": "1"}, OptOut{Stderr: true}},
		{"both streams: the container", map[string]string{"fluentbit.io/exclude_stdout": "true", "fluentbit.io/exclude_stderr": "true"},
			OptOut{All: true, Stdout: true, Stderr: true}},
		{"another prefix is no opt-out", map[string]string{"fluentbit.io/exclude-app": "true"}, OptOut{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OptOutOf(tt.labels); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

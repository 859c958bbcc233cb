// Package test checks the example configurations in conf/ and the commands
// in the README as a user would run them: from the repository's root, after
// `make build`.
package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"docker_logs/capture/config"
)

// root is where the README says to run every example.
var root, _ = filepath.Abs("..")

// builtPlugin is what `make build` writes.
var builtPlugin = filepath.Join(root, "build", "in_docker_logs.so")

// Keys Fluent Bit keeps for any input instance (src/flb_input.c); they
// never reach the plugin.
var instanceKeys = []string{"name", "tag", "alias", "mem_buf_limit", "log_level", "log_suppress_interval",
	"routable", "threaded", "storage.type", "storage.pause_on_chunks_overlimit", "processors"}

// example is one Fluent Bit configuration, reduced to what is checked.
type example struct {
	file      string   // path from root
	plugins   []string // .so paths as written
	service   map[string]string
	inputs    []map[string]string // docker_logs inputs only
	outputs   []map[string]string
	commented string // the file's comments, which give the command
}

// Every example Fluent Bit configuration in conf/.
func examples(t *testing.T) []example {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "conf", "*"))
	var out []example
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		base := filepath.Base(f)
		switch {
		case strings.HasPrefix(base, "prometheus-"), base == "docker-compose.yml", base == "plugins.conf":
			continue
		case strings.HasSuffix(base, ".yaml"):
			out = append(out, parseYAML(t, rel))
		case strings.HasSuffix(base, ".conf"):
			out = append(out, parseClassic(t, rel))
		}
	}
	if len(out) < 6 {
		t.Fatalf("found %d example configurations in conf/, want at least 6", len(out))
	}
	return out
}

func comments(data []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(data), "\n") {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "#") {
			b.WriteString(s + "\n")
		}
	}
	return b.String()
}

func stringify(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[strings.ToLower(k)] = fmt.Sprint(v)
	}
	return out
}

func parseYAML(t *testing.T, rel string) example {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Service  map[string]any `yaml:"service"`
		Plugins  []string       `yaml:"plugins"`
		Pipeline struct {
			Inputs  []map[string]any `yaml:"inputs"`
			Filters []map[string]any `yaml:"filters"`
			Outputs []map[string]any `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: not valid YAML: %v", rel, err)
	}
	ex := example{file: rel, plugins: doc.Plugins, service: stringify(doc.Service), commented: comments(data)}
	for _, in := range doc.Pipeline.Inputs {
		if s := stringify(in); s["name"] == "docker_logs" {
			ex.inputs = append(ex.inputs, s)
		}
	}
	for _, o := range doc.Pipeline.Outputs {
		ex.outputs = append(ex.outputs, stringify(o))
	}
	return ex
}

// parseClassic reads Fluent Bit's classic format: [SECTION] then "key value".
func parseClassic(t *testing.T, rel string) example {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	ex := example{file: rel, service: map[string]string{}, commented: comments(data)}
	var cur map[string]string
	var section string
	flush := func() {
		switch {
		case section == "INPUT" && strings.EqualFold(cur["name"], "docker_logs"):
			ex.inputs = append(ex.inputs, cur)
		case section == "OUTPUT":
			ex.outputs = append(ex.outputs, cur)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			flush()
			section, cur = strings.ToUpper(strings.Trim(line, "[]")), map[string]string{}
			if section == "SERVICE" {
				cur = ex.service
			}
			continue
		}
		k, v, ok := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
		if !ok || cur == nil {
			t.Fatalf("%s: line %q is not `key value` inside a section", rel, line)
		}
		cur[strings.ToLower(k)] = v
	}
	flush()
	if pf := ex.service["plugins_file"]; pf != "" {
		// Fluent Bit tries the working directory, then the config's.
		p := filepath.Join(root, pf)
		if _, err := os.Stat(p); err != nil {
			p = filepath.Join(root, filepath.Dir(rel), pf)
		}
		pdata, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: Plugins_File %s: %v", rel, pf, err)
		}
		for _, l := range strings.Split(string(pdata), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "path") {
				ex.plugins = append(ex.plugins, f[1])
			}
		}
	}
	return ex
}

// Every example loads the .so that `make build` writes, from the root;
// gives the plugin only keys it knows, with values it accepts; names
// directories that exist (or that Fluent Bit creates); and says in its
// comments and in the README how to run it.
func TestExamplesRunFromTheRoot(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Name] = true
	}
	for _, ex := range examples(t) {
		t.Run(ex.file, func(t *testing.T) {
			if ex.file == "conf/docker.yaml" {
				t.Skip("the image's paths: TestDockerImageExample")
			}
			cmd := "fluent-bit -c " + ex.file
			if !strings.Contains(ex.commented, cmd) {
				t.Errorf("the comments do not give the command %q", cmd)
			}
			if !bytes.Contains(readme, []byte(cmd)) {
				t.Errorf("README.md does not give the command %q", cmd)
			}
			if len(ex.plugins) != 1 || filepath.Join(root, ex.plugins[0]) != builtPlugin {
				t.Errorf("plugins %q: want the one .so make build writes, from the root (build/in_docker_logs.so)", ex.plugins)
			}
			checkInputs(t, ex, known)
			if sp := ex.service["storage.path"]; sp != "" {
				// Fluent Bit creates the directory itself, not its parent.
				if _, err := os.Stat(filepath.Dir(filepath.Clean(sp))); err != nil {
					t.Errorf("storage.path %s: %v", sp, err)
				}
			}
			for _, in := range ex.inputs {
				if in["storage.type"] == "filesystem" && ex.service["storage.path"] == "" {
					t.Errorf("storage.type filesystem without storage.path in the service")
				}
			}
			for _, o := range ex.outputs {
				if o["name"] == "file" && o["mkdir"] != "true" {
					if _, err := os.Stat(o["path"]); err != nil {
						t.Errorf("file output path %s: %v (and mkdir is off)", o["path"], err)
					}
				}
			}
		})
	}
}

// checkInputs: every key given to docker_logs is one Fluent Bit keeps for
// itself or one the plugin knows, and config.Parse accepts the values.
func checkInputs(t *testing.T, ex example, known map[string]bool) {
	t.Helper()
	if len(ex.inputs) == 0 {
		t.Errorf("no docker_logs input")
	}
	for _, in := range ex.inputs {
		for k := range in {
			if !known[k] && !slices.Contains(instanceKeys, k) {
				t.Errorf("docker_logs has no key %q", k)
			}
		}
		if _, err := config.Parse(func(k string) string { return in[k] }, "x"); err != nil {
			t.Errorf("the plugin would refuse to start: %v", err)
		}
	}
}

// The image's configuration names the .so where the Dockerfile puts it, and
// keeps its state in the image's volume.
func TestDockerImageExample(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ex := parseYAML(t, "conf/docker.yaml")
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Name] = true
	}
	for k, v := range ex.inputs[0] {
		if !known[k] && !slices.Contains(instanceKeys, k) {
			t.Errorf("docker_logs has no key %q (= %s)", k, v)
		}
	}
	dockerfile := string(df)
	if len(ex.plugins) != 1 || !regexp.MustCompile(`(?m)^COPY --from=build \S+ `+regexp.QuoteMeta(ex.plugins[0])+`$`).MatchString(dockerfile) {
		t.Errorf("plugins %q: the Dockerfile copies no .so there", ex.plugins)
	}
	if !regexp.MustCompile(`(?m)^COPY conf/docker.yaml (\S+)$`).MatchString(dockerfile) ||
		!strings.Contains(dockerfile, `"-c", "/fluent-bit/etc/fluent-bit.yaml"`) {
		t.Errorf("the Dockerfile does not copy conf/docker.yaml to the file its CMD runs")
	}
	volume := regexp.MustCompile(`(?m)^VOLUME (\S+)$`).FindStringSubmatch(dockerfile)
	if volume == nil {
		t.Fatal("the Dockerfile declares no VOLUME")
	}
	for what, p := range map[string]string{"db": ex.inputs[0]["db"], "storage.path": ex.service["storage.path"]} {
		if !strings.HasPrefix(p, volume[1]+"/") {
			t.Errorf("%s %q is not in the image's volume %s", what, p, volume[1])
		}
	}
}

// The compose file builds the project's Dockerfile and mounts the socket
// read-only.
func TestComposeExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "conf", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build struct {
				Context string `yaml:"context"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not valid YAML: %v", err)
	}
	fb, ok := doc.Services["fluent-bit"]
	if !ok {
		t.Fatal("no fluent-bit service")
	}
	// Compose takes the context from the compose file's directory.
	if _, err := os.Stat(filepath.Join(root, "conf", fb.Build.Context, "Dockerfile")); err != nil || fb.Build.Context == "" {
		t.Errorf("build context %q holds no Dockerfile: %v", fb.Build.Context, err)
	}
	if !slices.Contains(fb.Volumes, "/var/run/docker.sock:/var/run/docker.sock:ro") {
		t.Errorf("volumes %q: want the socket mounted read-only", fb.Volumes)
	}
	if len(doc.Services) < 2 {
		t.Errorf("no application beside the fluent-bit service")
	}
	if !strings.Contains(string(data), "docker compose -f conf/docker-compose.yml up") {
		t.Errorf("the comments do not say how to run it from the root")
	}
}

// Every fluent-bit command in the README names files that exist from the
// root (or the .so make build writes).
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := regexp.MustCompile("fluent-bit((?: -[a-zA-Z] [^\\s`|]+)+)").FindAllStringSubmatch(string(readme), -1)
	n := len(cmds)
	for _, m := range cmds {
		f := strings.Fields(m[1])
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "-e":
				if filepath.Join(root, f[i+1]) != builtPlugin {
					t.Errorf("%q: -e %s is not the .so make build writes", m[0], f[i+1])
				}
			case "-c":
				if _, err := os.Stat(filepath.Join(root, f[i+1])); err != nil {
					t.Errorf("%q: %v", m[0], err)
				}
			}
		}
	}
	if n < 6 {
		t.Errorf("the README gives %d fluent-bit commands, want one per example at least", n)
	}
}

// When Fluent Bit and the built .so are there, every example passes its
// --dry-run from the root (the image's with its paths mapped to the build).
func TestExamplesDryRunInFluentBit(t *testing.T) {
	fb, err := exec.LookPath("fluent-bit")
	if err != nil {
		t.Skip("fluent-bit is not installed")
	}
	if _, err := os.Stat(builtPlugin); err != nil {
		t.Skip("run make build first")
	}
	for _, ex := range examples(t) {
		t.Run(ex.file, func(t *testing.T) {
			file := ex.file
			if file == "conf/docker.yaml" {
				data, _ := os.ReadFile(filepath.Join(root, file))
				state := t.TempDir()
				s := strings.ReplaceAll(string(data), "/fluent-bit/plugins/in_docker_logs.so", builtPlugin)
				s = strings.ReplaceAll(s, "/var/lib/fluent-bit", state)
				file = filepath.Join(state, "docker.yaml")
				os.WriteFile(file, []byte(s), 0o644)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, fb, "-c", file, "--dry-run")
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("configuration test is successful")) {
				t.Errorf("fluent-bit -c %s --dry-run: %v\n%s", file, err, out)
			}
		})
	}
}

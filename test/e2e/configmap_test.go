package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"docker_logs/capture/config"
)

// allowedList is the end of Fluent Bit's unknown-key message: every key of
// the config map, in order.
func allowedList() string {
	var names []string
	for _, k := range config.Keys() {
		names = append(names, k.Name)
	}
	return "The following properties are allowed: " +
		strings.Join(names[:len(names)-1], ", ") + ", and " + names[len(names)-1] + "."
}

// A key the plugin does not have fails the instance before its Init, with
// Fluent Bit's own message naming the key and listing the allowed ones; a
// key given twice fails the same way.
func TestUnknownKeyFailsInit(t *testing.T) {
	for _, tc := range []struct{ name, prop, want string }{
		{"bogus", "bogus_key=1", "unknown configuration property 'bogus_key'. " + allowedList()},
		{"typo", "include_name=x", "unknown configuration property 'include_name'. " + allowedList()},
		{"not Fluent Bit's", "storage.bogus=1", "unknown configuration property 'storage.bogus'"},
		{"twice", "streams=stdout", "configuration property 'streams' is set 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := launchHost(t, hostArgs(200*time.Millisecond, []string{"streams=stderr", tc.prop, "metrics_listen=off"})...)
			if code := h.waitExit(t, 10*time.Second); code != 1 {
				t.Errorf("host exit code %d, want 1 (init failed)", code)
			}
			stderr := h.stderr.String()
			if !strings.Contains(stderr, "[error] [config] docker_logs: "+tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "] started") {
				t.Errorf("the plugin's Init ran; the config map check must come first:\n%s", stderr)
			}
		})
	}
}

// Fluent Bit's own keys never reach the check, and the plugin's keys pass
// whatever their case, dotted ones included.
func TestKnownKeysPassTheCheck(t *testing.T) {
	h := startHost(t, []string{
		"tag=docker.x", "mem_buf_limit=8M", "storage.type=memory", "log_level=info", "alias=a",
		"Rotate_Interval=10s", "db.flush_interval=2s", "include_names=" + uniqueName(t), "metrics_listen=off",
	})
	h.waitStderr(t, "started", 10*time.Second)
	if code, _ := h.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("host exit code %d, want 0", code)
	}
}

type helpEntry struct{ name, def, typ string }

var helpTail = regexp.MustCompile(`^\s+> default: (.*), type: (.*)$`)

// parseHelp reads the OPTIONS section of `-i docker_logs -h`.
func parseHelp(t *testing.T, out string) []helpEntry {
	t.Helper()
	_, opts, ok := strings.Cut(out, "\nOPTIONS\n")
	if !ok {
		t.Fatalf("no OPTIONS section in:\n%s", out)
	}
	var entries []helpEntry
	for _, block := range strings.Split(strings.TrimSpace(opts), "\n\n") {
		lines := strings.Split(block, "\n")
		m := helpTail.FindStringSubmatch(lines[len(lines)-1])
		if m == nil || len(lines) < 2 {
			t.Fatalf("entry without its default and type line:\n%s", block)
		}
		entries = append(entries, helpEntry{strings.Fields(lines[0])[0], m[1], m[2]})
	}
	return entries
}

// `-i docker_logs -h` documents every key with its default and type, in
// the plugin's order, as Fluent Bit prints them.
func TestPluginHelpListsEveryKey(t *testing.T) {
	out, err := exec.Command(hostBin, "-e", pluginSO, "-i", "docker_logs", "-h").Output()
	if err != nil {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "HELP\ndocker_logs input plugin\n") {
		t.Errorf("help does not start as Fluent Bit's does:\n%s", out)
	}
	typeNames := map[string]string{
		config.TypeStr: "string", config.TypeInt: "integer", config.TypeBool: "boolean",
		config.TypeSize: "size", config.TypeTime: "time", config.TypeCList: "multiple comma delimited strings",
	}
	var want []helpEntry
	for _, k := range config.Keys() {
		def := k.Default
		if def == "" {
			def = "default" // what Fluent Bit 5.1 prints for an entry without one
		}
		want = append(want, helpEntry{k.Name, def, typeNames[k.Type]})
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), k.Description) {
			t.Errorf("help lacks the description of %s: %q", k.Name, k.Description)
		}
	}
	got := parseHelp(t, string(out))
	if fmtEntries(got) != fmtEntries(want) {
		t.Errorf("help entries:\n%s\nwant:\n%s", fmtEntries(got), fmtEntries(want))
	}
}

func fmtEntries(es []helpEntry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.name + " default=" + e.def + " type=" + e.typ + "\n")
	}
	return b.String()
}

// Where a real Fluent Bit is installed, the host's help and unknown-key
// message are Fluent Bit's, byte for byte (bar colours and timestamps).
func TestConfigMapMatchesFluentBit(t *testing.T) {
	fb, err := exec.LookPath("fluent-bit")
	if err != nil {
		t.Skip("fluent-bit is not installed")
	}
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	options := func(out []byte) string {
		_, opts, _ := strings.Cut(ansi.ReplaceAllString(string(out), ""), "\nOPTIONS\n")
		return opts
	}
	fbOut, err := exec.Command(fb, "-e", pluginSO, "-i", "docker_logs", "-h").Output()
	if err != nil {
		t.Fatalf("fluent-bit -h: %v", err)
	}
	hostOut, err := exec.Command(hostBin, "-e", pluginSO, "-i", "docker_logs", "-h").Output()
	if err != nil {
		t.Fatalf("fbhost -h: %v", err)
	}
	if options(fbOut) == "" || options(fbOut) != options(hostOut) {
		t.Errorf("OPTIONS differ.\nfluent-bit:\n%s\nhost:\n%s", options(fbOut), options(hostOut))
	}

	errLine := func(out []byte) string {
		for _, l := range strings.Split(string(out), "\n") {
			if _, msg, ok := strings.Cut(l, "[error] [config] "); ok {
				return msg
			}
		}
		return ""
	}
	// Both exit at once on the unknown key; the deadline bounds a run that
	// wrongly starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fbOut, _ = exec.CommandContext(ctx, fb, "-e", pluginSO, "-i", "docker_logs",
		"-p", "bogus_key=1", "-p", "metrics_listen=off", "-o", "null").CombinedOutput()
	hostOut, _ = exec.CommandContext(ctx, hostBin, "-e", pluginSO, "-d", "5", "-i",
		"-p", "bogus_key=1", "-p", "metrics_listen=off").CombinedOutput()
	if errLine(fbOut) == "" || errLine(fbOut) != errLine(hostOut) {
		t.Errorf("unknown-key messages differ:\nfluent-bit: %s\nhost:       %s", errLine(fbOut), errLine(hostOut))
	}
}

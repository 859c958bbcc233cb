package logfile

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"docker_logs/capture/logstream"
)

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func TestParse(t *testing.T) {
	const when = "2026-12-06T03:45:11.123456789Z"
	tests := []struct {
		name    string
		in      string
		stream  logstream.Stream
		msg     string
		partial bool
		ts      int64 // 0: TSValid false
		bad     bool
	}{
		{name: "stdout line", in: `{"log":"hello\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "hello", ts: ts(when)},
		{name: "stderr line", in: `{"log":"oops\n","stream":"stderr","time":"2026-12-06T03:45:11.1Z"}`,
			stream: logstream.Stderr, msg: "oops", ts: ts("2026-12-06T03:45:11.1Z")},
		{name: "whole second", in: `{"log":"x\n","stream":"stdout","time":"2026-12-06T03:45:11Z"}`,
			stream: logstream.Stdout, msg: "x", ts: ts("2026-12-06T03:45:11Z")},
		{name: "piece of a long line", in: `{"log":"` + strings.Repeat("a", 100) + `","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: strings.Repeat("a", 100), partial: true, ts: ts(when)},
		{name: "a TTY's line loses its carriage return, as through the API", in: `{"log":"tty\r\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "tty", ts: ts(when)},
		{name: "empty line", in: `{"log":"\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "", ts: ts(when)},
		{name: "escapes", in: `{"log":"a\"b\\c\/d\te\r\u003chtml\u003e \u0026\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "a\"b\\c/d\te\r<html> &", ts: ts(when)},
		{name: "multibyte and surrogate pair", in: `{"log":"é ✓ \ud83d\ude00\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "é ✓ 😀", ts: ts(when)},
		{name: "unpaired surrogate", in: `{"log":"\ud83d!\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "\uFFFD!", ts: ts(when)},
		{name: "replacement the daemon wrote for invalid UTF-8", in: `{"log":"\ufffd\n","stream":"stdout","time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "\uFFFD", ts: ts(when)},
		{name: "attrs", in: `{"log":"hi\n","stream":"stdout","attrs":{"app":"web","tier":"a,\"}b"},"time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "hi", ts: ts(when)},
		{name: "empty attrs", in: `{"log":"hi\n","stream":"stdout","attrs":{},"time":"` + when + `"}`,
			stream: logstream.Stdout, msg: "hi", ts: ts(when)},
		{name: "other field order", in: `{"time":"` + when + `","stream":"stderr","log":"late\n"}`,
			stream: logstream.Stderr, msg: "late", ts: ts(when)},
		{name: "spaces", in: `{ "log" : "s\n", "stream" : "stdout", "time" : "` + when + `" }`,
			stream: logstream.Stdout, msg: "s", ts: ts(when)},
		{name: "bad time keeps the text", in: `{"log":"t\n","stream":"stdout","time":"yesterday"}`,
			stream: logstream.Stdout, msg: "t"},
		{name: "no time keeps the text", in: `{"log":"t\n","stream":"stdout"}`,
			stream: logstream.Stdout, msg: "t"},
		{name: "empty", in: ``, bad: true},
		{name: "not json", in: `hello`, bad: true},
		{name: "cut mid-string", in: `{"log":"hel`, bad: true},
		{name: "cut after log", in: `{"log":"hello\n","stream":"std`, bad: true},
		{name: "no log", in: `{"stream":"stdout","time":"` + when + `"}`, bad: true},
		{name: "unknown stream", in: `{"log":"x\n","stream":"stdin","time":"` + when + `"}`, bad: true},
		{name: "bad escape", in: `{"log":"\x\n","stream":"stdout","time":"` + when + `"}`, bad: true},
		{name: "short unicode escape", in: `{"log":"\u12","stream":"stdout","time":"` + when + `"}`, bad: true},
		{name: "k8s-file line", in: "2026-12-06T03:45:11.123456789+00:00 stdout F hello world",
			stream: logstream.Stdout, msg: "hello world", ts: ts(when)},
		{name: "k8s-file stderr in a zone east of UTC", in: "2026-12-06T04:45:11.123456789+01:00 stderr F oops",
			stream: logstream.Stderr, msg: "oops", ts: ts(when)},
		{name: "k8s-file piece of a long line", in: "2026-12-06T03:45:11.123456789+00:00 stdout P " + strings.Repeat("a", 100),
			stream: logstream.Stdout, msg: strings.Repeat("a", 100), partial: true, ts: ts(when)},
		{name: "k8s-file empty line", in: "2026-12-06T03:45:11.123456789+00:00 stdout F ",
			stream: logstream.Stdout, msg: "", ts: ts(when)},
		{name: "k8s-file empty line, no space", in: "2026-12-06T03:45:11.123456789+00:00 stdout F",
			stream: logstream.Stdout, msg: "", ts: ts(when)},
		{name: "k8s-file TTY line loses its carriage return", in: "2026-12-06T03:45:11.123456789+00:00 stdout F tty\r",
			stream: logstream.Stdout, msg: "tty", ts: ts(when)},
		{name: "k8s-file message keeps its spaces", in: "2026-12-06T03:45:11.123456789+00:00 stdout F  a  b ",
			stream: logstream.Stdout, msg: " a  b ", ts: ts(when)},
		{name: "k8s-file bad time keeps the text", in: "yesterday stdout F t",
			stream: logstream.Stdout, msg: "t"},
		{name: "k8s-file unknown tag", in: "2026-12-06T03:45:11.123456789+00:00 stdout X t", bad: true},
		{name: "k8s-file unknown stream", in: "2026-12-06T03:45:11.123456789+00:00 stdin F t", bad: true},
		{name: "k8s-file cut after the time", in: "2026-12-06T03:45:11.123456789+00:00", bad: true},
		{name: "trailing garbage", in: `{"log":"x\n","stream":"stdout","time":"` + when + `"}x`, bad: true},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := p.Parse([]byte(tt.in))
			if tt.bad {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error", tt.in, e)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if e.Stream != tt.stream || string(e.Msg) != tt.msg || e.Partial != tt.partial {
				t.Errorf("Parse(%q) = %v %q partial=%v; want %v %q partial=%v", tt.in, e.Stream, e.Msg, e.Partial, tt.stream, tt.msg, tt.partial)
			}
			if e.TSValid != (tt.ts != 0) || e.TS != tt.ts && tt.ts != 0 {
				t.Errorf("Parse(%q) time %d valid=%v; want %d", tt.in, e.TS, e.TSValid, tt.ts)
			}
		})
	}
}

func TestParseDaemonFormDoesNotAllocate(t *testing.T) {
	line := []byte(`{"log":"GET /index.html 200 \u003cok\u003e\n","stream":"stdout","attrs":{"app":"web"},"time":"2026-12-06T03:45:11.12345Z"}`)
	var p Parser
	p.Parse(line)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := p.Parse(line); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse allocates %.1f times per line, want 0", allocs)
	}
}

// FuzzParse checks the parser against encoding/json: every line that is a
// valid entry decodes to the same text and stream, and nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"log":"hello\n","stream":"stdout","time":"2026-12-06T03:45:11.123Z"}`,
		`{"log":"a\"\\\u00e9\ud83d\ude00","stream":"stderr","attrs":{"k":"v"},"time":"2026-12-06T03:45:11Z"}`,
		`{"time":"2026-12-06T03:45:11Z","log":"x","stream":"stdout"}`,
		`{"log":"\ud800\udc00\udfff","stream":"stdout","time":"bad"}`,
		"2026-12-06T03:45:11.123456789+00:00 stdout F hello",
		"2026-12-06T03:45:11.1+01:00 stderr P part",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 512 {
			return
		}
		var p Parser
		e, err := p.Parse(line)
		if len(line) > 0 && line[0] != '{' {
			// k8s-file: the message is the line's end, a whole line's
			// carriage return aside.
			if err == nil && !bytes.HasSuffix(bytes.TrimSuffix(line, []byte{'\r'}), e.Msg) && !bytes.HasSuffix(line, e.Msg) {
				t.Fatalf("Parse(%q) = %q, not the line's end", line, e.Msg)
			}
			return
		}
		var v struct {
			Log    *string `json:"log"`
			Stream string  `json:"stream"`
		}
		jerr := json.Unmarshal(line, &v)
		valid := jerr == nil && v.Log != nil && (v.Stream == "stdout" || v.Stream == "stderr") && utf8.Valid(line)
		if !valid {
			return // the fast path may take what encoding/json refuses (raw control bytes)
		}
		if err != nil {
			t.Fatalf("Parse(%q): %v; encoding/json decodes it", line, err)
		}
		got := string(e.Msg)
		if !e.Partial {
			got += "\n"
		}
		if got != *v.Log || e.Stream.String() != v.Stream {
			t.Fatalf("Parse(%q) = %s %q; encoding/json: %s %q", line, e.Stream, got, v.Stream, *v.Log)
		}
	})
}

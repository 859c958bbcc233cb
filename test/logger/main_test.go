package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// parsed is one line taken apart the way a checker would.
type parsed struct {
	seq    int
	stream string
	id     string
	length int
	filler string
}

// parseLine parses and verifies a line written by the logger.
func parseLine(line string) (parsed, error) {
	var p parsed
	f := strings.SplitN(line, " ", 5)
	if len(f) < 4 {
		return p, fmt.Errorf("want at least 4 fields, got %d", len(f))
	}
	val := func(i int, key string) (string, error) {
		v, ok := strings.CutPrefix(f[i], key+"=")
		if !ok {
			return "", fmt.Errorf("field %d: want %s=..., got %q", i, key, f[i])
		}
		return v, nil
	}
	var err error
	var s string
	if s, err = val(0, "seq"); err != nil {
		return p, err
	}
	if p.seq, err = strconv.Atoi(s); err != nil || p.seq < 1 {
		return p, fmt.Errorf("bad seq %q", s)
	}
	if p.stream, err = val(1, "stream"); err != nil {
		return p, err
	}
	if p.stream != "stdout" && p.stream != "stderr" {
		return p, fmt.Errorf("bad stream %q", p.stream)
	}
	if p.id, err = val(2, "id"); err != nil {
		return p, err
	}
	if s, err = val(3, "len"); err != nil {
		return p, err
	}
	if p.length, err = strconv.Atoi(s); err != nil {
		return p, fmt.Errorf("bad len %q", s)
	}
	if p.length != len(line) {
		return p, fmt.Errorf("len=%d but line is %d bytes", p.length, len(line))
	}
	if len(f) == 5 {
		p.filler = f[4]
		if p.filler == "" {
			return p, fmt.Errorf("empty filler after a separator")
		}
		for i := 0; i < len(p.filler); i++ {
			if p.filler[i] != fillerPattern[i%len(fillerPattern)] {
				return p, fmt.Errorf("filler byte %d is %q", i, p.filler[i])
			}
		}
	}
	return p, nil
}

func TestFormatLine(t *testing.T) {
	tests := []struct {
		name    string
		seq     int
		stream  string
		id      string
		size    int
		want    string // exact line, when given
		wantLen int    // exact length; 0: the size
	}{
		{name: "exact", seq: 1, stream: "stdout", id: "abc", size: 40,
			want: "seq=1 stream=stdout id=abc len=40 abcdef"},
		{name: "stderr", seq: 12, stream: "stderr", id: "x", size: 36,
			want: "seq=12 stream=stderr id=x len=36 abc"},
		{name: "one filler byte", seq: 1, stream: "stdout", id: "abc", size: 35,
			want: "seq=1 stream=stdout id=abc len=35 a"},
		{name: "size zero is the minimum", seq: 1, stream: "stdout", id: "abc", size: 0,
			want: "seq=1 stream=stdout id=abc len=33"},
		{name: "size equal to the prefix", seq: 1, stream: "stdout", id: "abc", size: 34,
			want: "seq=1 stream=stdout id=abc len=33"},
		{name: "too small", seq: 7, stream: "stdout", id: "abc", size: 10,
			want: "seq=7 stream=stdout id=abc len=33"},
		{name: "minimum is the header", seq: 1234567, stream: "stdout", id: "0123456789ab", size: 1,
			want: "seq=1234567 stream=stdout id=0123456789ab len=48"},
		{name: "minimum crosses a digit", seq: 1, stream: "stdout", id: strings.Repeat("i", 70), size: 0,
			wantLen: 101},
		{name: "filler wraps", seq: 3, stream: "stdout", id: "abc", size: 100},
		{name: "hundred", seq: 99999, stream: "stderr", id: "0123456789ab", size: 100},
		{name: "one chunk", seq: 1, stream: "stdout", id: "c1", size: 16384},
		{name: "chunked 40000", seq: 2, stream: "stdout", id: "c1", size: 40000},
		{name: "chunked 200000", seq: 5, stream: "stderr", id: "c1", size: 200000},
		{name: "len digits grow", seq: 1, stream: "stdout", id: "abc", size: 1000000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := formatLine(tc.seq, tc.stream, tc.id, tc.size)
			if tc.want != "" && line != tc.want {
				t.Fatalf("got  %q\nwant %q", line, tc.want)
			}
			wantLen := tc.wantLen
			if wantLen == 0 && tc.want != "" {
				wantLen = len(tc.want)
			}
			if wantLen == 0 {
				wantLen = tc.size
			}
			if len(line) != wantLen {
				t.Fatalf("length %d, want %d: %.80q", len(line), wantLen, line)
			}
			if n := lineLen(tc.seq, tc.stream, tc.id, tc.size); n != len(line) {
				t.Fatalf("lineLen = %d, line is %d bytes", n, len(line))
			}
			if strings.ContainsAny(line, "\n\r\t") || strings.HasSuffix(line, " ") {
				t.Fatalf("line holds a newline or ends with a space: %.80q", line)
			}
			p, err := parseLine(line)
			if err != nil {
				t.Fatalf("parse %.80q: %v", line, err)
			}
			if p.seq != tc.seq || p.stream != tc.stream || p.id != tc.id || p.length != len(line) {
				t.Fatalf("parsed %+v from %.80q", p, line)
			}
			// Deterministic: the same arguments give the same line.
			if again := formatLine(tc.seq, tc.stream, tc.id, tc.size); again != line {
				t.Fatal("formatLine is not deterministic")
			}
		})
	}
}

// Every size from 0 up gives len(line) == max(size, minimum) except the one
// size equal to the prefix, which yields the header alone.
func TestFormatLineAllSizes(t *testing.T) {
	for _, seq := range []int{1, 9, 10, 99, 100, 123456} {
		minimum := len(formatLine(seq, "stdout", "id", 0))
		for size := 0; size < 20000; size++ {
			line := formatLine(seq, "stdout", "id", size)
			p, err := parseLine(line)
			if err != nil {
				t.Fatalf("seq %d size %d: %v", seq, size, err)
			}
			if p.seq != seq {
				t.Fatalf("seq %d size %d: parsed seq %d", seq, size, p.seq)
			}
			if size > minimum+1 {
				if len(line) != size || p.filler == "" {
					t.Fatalf("seq %d size %d: length %d, filler %d bytes", seq, size, len(line), len(p.filler))
				}
			} else if p.filler != "" || (len(line) != minimum && len(line) != size-1) {
				t.Fatalf("seq %d size %d: length %d, minimum %d, filler %d bytes", seq, size, len(line), minimum, len(p.filler))
			}
		}
	}
}

func TestParseLineRejects(t *testing.T) {
	good := formatLine(3, "stdout", "abc", 60)
	bad := []string{
		"",
		"hello world",
		strings.Replace(good, "len=60", "len=61", 1),
		strings.Replace(good, "seq=3", "seq=x", 1),
		strings.Replace(good, "stream=stdout", "stream=other", 1),
		good[:len(good)-1] + "!",
		good[:len(good)-1],
	}
	for _, line := range bad {
		if _, err := parseLine(line); err == nil {
			t.Errorf("parseLine(%q) accepted a bad line", line)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		check   func(*config) bool
	}{
		{args: nil, check: func(c *config) bool {
			return c.n == 0 && c.rate == 0 && len(c.sizes) == 1 && c.sizes[0] == 100 &&
				len(c.streams) == 1 && c.streams[0] == "stdout" && !c.exit && c.id != ""
		}},
		{args: []string{"-streams", "both", "-after", "exit", "-id", "t1"}, check: func(c *config) bool {
			return len(c.streams) == 2 && c.streams[0] == "stdout" && c.streams[1] == "stderr" && c.exit && c.id == "t1"
		}},
		{args: []string{"-sizes", "40000, 200000", "-size", "5"}, check: func(c *config) bool {
			return len(c.sizes) == 2 && c.sizes[0] == 40000 && c.sizes[1] == 200000
		}},
		{args: []string{"-n", "5", "-nonl", "-delay", "10ms", "-rate", "0.5"}, check: func(c *config) bool {
			return c.n == 5 && c.nonl && c.rate == 0.5 && c.delay.Milliseconds() == 10
		}},
		{args: []string{"-nonl"}, wantErr: true},
		{args: []string{"-n", "-1"}, wantErr: true},
		{args: []string{"-rate", "-1"}, wantErr: true},
		{args: []string{"-streams", "all"}, wantErr: true},
		{args: []string{"-after", "never"}, wantErr: true},
		{args: []string{"-sizes", "1,x"}, wantErr: true},
		{args: []string{"-id", "a b"}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error, config %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestRun writes through pipes and checks every line of every stream: order,
// sequence, sizes cycling, and the unterminated last line with -nonl.
func TestRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "stdout", args: []string{"-n", "3000", "-size", "100"}},
		{name: "both", args: []string{"-n", "2000", "-streams", "both", "-size", "60"}},
		{name: "stderr nonl", args: []string{"-n", "10", "-streams", "stderr", "-nonl"}},
		{name: "sizes", args: []string{"-n", "6", "-sizes", "40000,200000,10", "-streams", "both", "-nonl"}},
		{name: "paced", args: []string{"-n", "50", "-rate", "1000", "-streams", "both"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(append(tc.args, "-id", "tid"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var out []*stream
			got := map[string]*bytes.Buffer{}
			done := make(chan struct{})
			for _, name := range c.streams {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				b := &bytes.Buffer{}
				got[name] = b
				go func() {
					io.Copy(b, r)
					r.Close()
					done <- struct{}{}
				}()
				out = append(out, &stream{name: name, f: w})
			}
			if err := run(c, out, nil); err != nil {
				t.Fatal(err)
			}
			for _, s := range out {
				s.f.Close()
			}
			for range out {
				<-done
			}
			for name, b := range got {
				text := b.String()
				if c.nonl == strings.HasSuffix(text, "\n") {
					t.Fatalf("%s: nonl=%v but output ends with %q", name, c.nonl, text[len(text)-1:])
				}
				lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
				if len(lines) != c.n {
					t.Fatalf("%s: %d lines, want %d", name, len(lines), c.n)
				}
				for i, line := range lines {
					p, err := parseLine(line)
					if err != nil {
						t.Fatalf("%s line %d: %v", name, i+1, err)
					}
					if p.seq != i+1 || p.stream != name || p.id != "tid" {
						t.Fatalf("%s line %d: %+v", name, i+1, p)
					}
					want := lineLen(i+1, name, "tid", c.sizes[i%len(c.sizes)])
					if p.length != want {
						t.Fatalf("%s line %d: len %d, want %d", name, i+1, p.length, want)
					}
				}
			}
		})
	}
}

// TestRunStop checks that closing stop ends an endless paced run after
// whole lines, numbered from 1 without a gap.
func TestRunStop(t *testing.T) {
	for _, args := range [][]string{{"-rate", "200"}, {"-rate", "0"}, {"-delay", "1h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c, err := parseFlags(append(args, "-id", "tid"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got bytes.Buffer
			copied := make(chan struct{})
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := r.Read(buf)
					mu.Lock()
					got.Write(buf[:n])
					mu.Unlock()
					if err != nil {
						close(copied)
						return
					}
				}
			}()
			stop := make(chan struct{})
			ran := make(chan error, 1)
			go func() { ran <- run(c, []*stream{{name: "stdout", f: w}}, stop) }()
			if c.delay == 0 {
				deadline := time.Now().Add(10 * time.Second)
				for {
					mu.Lock()
					n := bytes.Count(got.Bytes(), []byte("\n"))
					mu.Unlock()
					if n >= 5 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d lines after 10s", n)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			close(stop)
			select {
			case err := <-ran:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("run did not return within 10s of stop")
			}
			w.Close()
			<-copied
			text := got.String()
			if c.delay > 0 {
				if text != "" {
					t.Fatalf("wrote %q before its delay", text)
				}
				return
			}
			if !strings.HasSuffix(text, "\n") {
				t.Fatalf("output ends inside a line: %q", text[max(0, len(text)-40):])
			}
			for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				if p, err := parseLine(line); err != nil || p.seq != i+1 {
					t.Fatalf("line %d: %+v, %v", i+1, p, err)
				}
			}
		})
	}
}

func BenchmarkAppendLine(b *testing.B) {
	buf := make([]byte, 0, 256)
	ensureFiller(100)
	for i := 0; i < b.N; i++ {
		buf = appendLine(buf[:0], i+1, "stdout", "0123456789ab", 100)
	}
}

package logfile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spacedLine is entry n stamped n*10ms after a fixed time.
func spacedLine(n int) string { return stampedLine(n, time.Unix(0, stampOf(n))) }

func spacedLines(from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(spacedLine(n))
	}
	return b.String()
}

func stampOf(n int) int64 {
	return time.Unix(1765000000, 0).Add(time.Duration(n) * 10 * time.Millisecond).UnixNano()
}

// A read from a time or of a tail starts where the API's since and tail
// would, across rotated files, compressed ones included; a since in a long
// file seeks rather than reading it from its start.
func TestOpenAt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	writeFile(t, path+".2.gz", spacedLines(1, 1000))
	writeFile(t, path+".1", spacedLines(1001, 2000))
	writeFile(t, path, spacedLines(2001, 100000)+`{"log":"partial`)
	const last = 100000
	cases := []struct {
		name      string
		start     Start
		first, n  int // the first entry read and how many
		maxOffset int // for a since in the live file: how far before the entry the read may start
	}{
		{"head", Start{Tail: -1}, 1, last, 0},
		{"since in live file", Start{Since: stampOf(70000)}, 70000, last - 70000 + 1, 100 + 2000},
		{"since between entries", Start{Since: stampOf(70000) - 1}, 70000, last - 70000 + 1, 100 + 2000},
		{"since in rotated file", Start{Since: stampOf(1500)}, 1500, last - 1500 + 1, 0},
		{"since in compressed file", Start{Since: stampOf(500)}, 500, last - 500 + 1, 0},
		{"since before the log", Start{Since: stampOf(-5000)}, 1, last, 0},
		{"since after the log", Start{Since: stampOf(last + 1)}, 0, 0, 0},
		{"tail 1", Start{Tail: 1}, last, 1, 0},
		{"tail 0", Start{Tail: 0}, 0, 0, 0},
		{"tail into rotated file", Start{Tail: last - 1500 + 1}, 1500, last - 1500 + 1, 0},
		{"tail into compressed file", Start{Tail: last - 500 + 1}, 500, last - 500 + 1, 0},
		{"tail longer than the log", Start{Tail: 2 * last}, 1, last, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fl, err := Open(path, 1<<20, c.start, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Close()
			if c.maxOffset > 0 {
				lineLen := len(spacedLine(c.first))
				behind := (len(spacedLines(2001, c.first-1)) - int(mustOffset(t, fl))) / lineLen
				if behind < 0 || behind > c.maxOffset {
					t.Errorf("the read starts %d entries before the first wanted; want 0 to %d", behind, c.maxOffset)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got []string
			for {
				e, err := fl.Next(ctx, false, nil)
				if err != nil {
					break
				}
				got = append(got, string(e.Msg))
			}
			if len(got) != c.n {
				t.Fatalf("read %d entries, want %d", len(got), c.n)
			}
			if c.n > 0 && (got[0] != fmt.Sprintf("seq=%d", c.first) || got[len(got)-1] != fmt.Sprintf("seq=%d", last)) {
				t.Fatalf("read %q to %q, want seq=%d to seq=%d", got[0], got[len(got)-1], c.first, last)
			}
		})
	}
}

// mustOffset is where the follower's file was opened: its offset less what
// its line reader holds.
func mustOffset(t *testing.T, fl *Follower) int64 {
	t.Helper()
	off, err := fl.f.Seek(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return off - int64(fl.lr.end-fl.lr.start)
}

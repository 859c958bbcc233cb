package logfile

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// entryLine is one line as the driver writes it, its text "seq=N".
func entryLine(n int) string { return stampedLine(n, time.Unix(1765000000, int64(n)*1000)) }

// stampedLine is the json-file line of entry n, "seq=n", stamped ts.
func stampedLine(n int, ts time.Time) string {
	return fmt.Sprintf(`{"log":"seq=%d\n","stream":"stdout","time":"%s"}`+"\n", n, ts.UTC().Format(time.RFC3339Nano))
}

func lines(from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(entryLine(n))
	}
	return b.String()
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if strings.HasSuffix(name, ".gz") {
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w := gzip.NewWriter(f)
		io.WriteString(w, text)
		w.Close()
		f.Close()
		return
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, name, text string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	io.WriteString(f, text)
}

// openLog writes text as the live file of a new log, with rotated files
// before it (name suffix to text), and opens it.
func openLog(t *testing.T, maxLine int, text string, rotated map[string]string) (*Follower, string) {
	t.Helper()
	return openLogWatched(t, maxLine, text, rotated, nil)
}

// openLogWatched is openLog with a watcher (nil polls).
func openLogWatched(t *testing.T, maxLine int, text string, rotated map[string]string, w *Watcher) (*Follower, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c-json.log")
	for suffix, r := range rotated {
		writeFile(t, path+suffix, r)
	}
	writeFile(t, path, text)
	fl, err := Open(path, maxLine, Start{Tail: -1}, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	return fl, path
}

// openLogWakeOnly is openLogWatched with a watcher of its own and no look
// of the follower's own (the poll set to an hour): only a wake-up moves it.
// It skips the test where inotify is not available.
func openLogWakeOnly(t *testing.T, text string) (*Follower, string, *Watcher) {
	t.Helper()
	w, err := NewWatcher()
	if err != nil {
		t.Skipf("no inotify here: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	poll := watchedPoll
	t.Cleanup(func() { watchedPoll = poll })
	watchedPoll = time.Hour
	fl, path := openLogWatched(t, 1<<20, text, nil, w)
	return fl, path, w
}

// readSeqs reads until n entries came or Next fails, and returns their texts.
func readSeqs(t *testing.T, fl *Follower, ctx context.Context, follow bool, stopped func() bool, n int) ([]string, error) {
	t.Helper()
	var got []string
	for len(got) < n {
		e, err := fl.Next(ctx, follow, stopped)
		if err != nil {
			return got, err
		}
		got = append(got, string(e.Msg))
	}
	return got, nil
}

func seqs(from, to int) []string {
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, fmt.Sprintf("seq=%d", n))
	}
	return out
}

func TestRotatedOldestFirst(t *testing.T) {
	names := []string{"c-json.log", "c-json.log.1", "c-json.log.3.gz", "c-json.log.2.gz", "c-json.log.10.gz",
		"c-json.log.x", "c-json.log.0", "c-json.log.01", "other-json.log.1", "config.v2.json"}
	got := rotatedOldestFirst("c-json.log", names)
	want := []string{"c-json.log.10.gz", "c-json.log.3.gz", "c-json.log.2.gz", "c-json.log.1"}
	if !slices.Equal(got, want) {
		t.Fatalf("rotatedOldestFirst = %q, want %q", got, want)
	}
}

// The rotated files, compressed or not, then the live one, each line once.
func TestFollowerReadsRotatedThenLive(t *testing.T) {
	fl, _ := openLog(t, 1<<20, lines(301, 350), map[string]string{
		".3.gz": lines(1, 100), ".2.gz": lines(101, 200), ".1": lines(201, 300)})
	got, err := readSeqs(t, fl, context.Background(), false, nil, 1000)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("after %d entries: %v, want io.EOF", len(got), err)
	}
	if !slices.Equal(got, seqs(1, 350)) {
		t.Fatalf("read %d entries, first %q last %q; want seq=1..350", len(got), got[0], got[len(got)-1])
	}
}

// Following across the driver's rotations: lines written to the old file
// after the reader reached its end, and before the rename, come first; a
// half-written line waits for its end; the stream ends once the container
// stopped and the file is read.
func TestFollowerAcrossRotation(t *testing.T) {
	t.Run("poll", func(t *testing.T) { followAcrossRotation(t, nil) })
	t.Run("inotify", func(t *testing.T) {
		w, err := NewWatcher()
		if err != nil {
			t.Skipf("no inotify here: %v", err)
		}
		defer w.Close()
		followAcrossRotation(t, w)
	})
}

func followAcrossRotation(t *testing.T, w *Watcher) {
	fl, path := openLogWatched(t, 1<<20, lines(1, 10), nil, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stopped atomic.Bool
	got, err := readSeqs(t, fl, ctx, true, stopped.Load, 10)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []string)
	go func() {
		rest, err := readSeqs(t, fl, ctx, true, stopped.Load, 1<<30)
		if !errors.Is(err, io.EOF) {
			t.Errorf("follow ended with %v, want io.EOF", err)
		}
		done <- rest
	}()
	appendFile(t, path, lines(11, 20))
	half := entryLine(21)
	appendFile(t, path, half[:20])
	// The sleeps only interleave the writer with the reader's polls; the
	// result does not depend on them.
	time.Sleep(2 * PollInterval) // let the reader reach the half line
	appendFile(t, path, half[20:]+lines(22, 30))
	// Rotate: rename, then a new live file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, lines(31, 40))
	// And again, before the reader may have caught up.
	if err := os.Rename(path+".1", path+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, lines(41, 50))
	time.Sleep(3 * PollInterval)
	stopped.Store(true)
	got = append(got, <-done...)
	if !slices.Equal(dedupe(got), seqs(1, 50)) {
		t.Fatalf("read %q; want seq=1..50", got)
	}
}

// dedupe drops entries read again: after a reader fell two rotations
// behind it rereads rotated files, and the stream's position skips them.
func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// A line longer than the reader holds is reported and skipped; the next
// one reads.
func TestFollowerSkipsLineTooLong(t *testing.T) {
	long := `{"log":"` + strings.Repeat("x", 300<<10) + `\n","stream":"stdout","time":"2026-12-06T03:45:11Z"}` + "\n"
	fl, _ := openLog(t, 64<<10, entryLine(1)+long+entryLine(2), nil)
	var got []string
	var malformed int
	for {
		e, err := fl.Next(context.Background(), false, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrMalformed) {
			malformed++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(e.Msg))
	}
	if !slices.Equal(got, seqs(1, 2)) || malformed != 1 {
		t.Fatalf("read %q with %d malformed; want seq=1, seq=2 and 1", got, malformed)
	}
}

// A log whose files are removed with the container ends once it stopped.
func TestFollowerFilesRemoved(t *testing.T) {
	fl, path := openLog(t, 1<<20, lines(1, 5), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stopped atomic.Bool
	if _, err := readSeqs(t, fl, ctx, true, stopped.Load, 5); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Dir(path))
	stopped.Store(true)
	if _, err := fl.Next(ctx, true, stopped.Load); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after removal: %v, want io.EOF", err)
	}
}

// A live file created and rotated away while the reader found none is
// still read: the files after the last one read are.
func TestFollowerLiveFileRotatedWhileMissing(t *testing.T) {
	fl, path := openLog(t, 1<<20, lines(1, 10), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stopped atomic.Bool
	if _, err := readSeqs(t, fl, ctx, true, stopped.Load, 10); err != nil {
		t.Fatal(err)
	}
	// Renamed, and the next live file not yet created: the reader finishes
	// the old one and finds none.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 3*PollInterval)
	if _, err := fl.Next(short, true, stopped.Load); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with no live file: %v, want the deadline", err)
	}
	cancelShort()
	writeFile(t, path, lines(11, 20))
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	writeFile(t, path, lines(21, 30))
	got, err := readSeqs(t, fl, ctx, true, stopped.Load, 20)
	if err != nil || !slices.Equal(dedupe(got), seqs(11, 30)) {
		t.Fatalf("read %q (%v); want seq=11..30", got, err)
	}
}

// With inotify a follower at the end of its file wakes for a write, with
// no look of its own; the watch ends with the follower.
func TestFollowerWokenByWrite(t *testing.T) {
	fl, path, w := openLogWakeOnly(t, lines(1, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := readSeqs(t, fl, ctx, true, nil, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readSeqs(t, fl, ctx, true, nil, 2)
		done <- err
	}()
	appendFile(t, path, lines(2, 2))
	appendFile(t, path, lines(3, 3))
	if err := <-done; err != nil {
		t.Fatalf("follow with no look of its own: %v; want the writes read when they came", err)
	}
	fl.Close()
	w.mu.Lock()
	n := len(w.dirs)
	w.mu.Unlock()
	if n != 0 {
		t.Errorf("%d directories still watched after the follower closed, want 0", n)
	}
}

// With inotify a follower at the end of its file ends when told its
// container stopped, with no look of its own: a stop changes no file.
func TestFollowerWokenByStop(t *testing.T) {
	fl, _, _ := openLogWakeOnly(t, lines(1, 1))
	stop := make(chan struct{}, 1)
	fl.WakeOnStop(stop)
	var stopped atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := readSeqs(t, fl, ctx, true, stopped.Load, 1); err != nil {
		t.Fatal(err)
	}
	// Told of the stop once it found no stop at the file's end (the wake
	// is buffered: it counts however soon the follower waits).
	asked := make(chan struct{})
	var once sync.Once
	isStopped := func() bool {
		once.Do(func() { close(asked) })
		return stopped.Load()
	}
	done := make(chan error, 1)
	go func() {
		_, err := fl.Next(ctx, true, isStopped)
		done <- err
	}()
	<-asked
	stopped.Store(true)
	stop <- struct{}{}
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("Next after the stop = %v, want io.EOF before the context's end", err)
	}
}

// k8sLine is entry n of a Podman k8s-file log, stamped n ms after a base
// time, in the zone offset form conmon writes.
func k8sLine(n int, tag, text string) string {
	ts := time.Unix(1765000000, int64(n)*int64(time.Millisecond)).UTC()
	return ts.Format("2006-01-02T15:04:05.000000000-07:00") + " stdout " + tag + " " + text + "\n"
}

// A k8s-file log is read like a json-file one: from a time found in the
// file, then followed, a line the driver split coming in pieces.
func TestFollowerReadsK8sFile(t *testing.T) {
	var b strings.Builder
	for n := 1; n <= 100; n++ {
		b.WriteString(k8sLine(n, "F", fmt.Sprintf("seq=%d", n)))
	}
	path := filepath.Join(t.TempDir(), "ctr.log")
	writeFile(t, path, b.String())
	since := time.Unix(1765000000, 51*int64(time.Millisecond)).UnixNano()
	fl, err := Open(path, 1<<20, Start{Since: since, Tail: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := readSeqs(t, fl, ctx, true, nil, 50)
	if err != nil || !slices.Equal(got, seqs(51, 100)) {
		t.Fatalf("read %q, %v; want seq=51..100", got, err)
	}
	appendFile(t, path, k8sLine(101, "P", "first half,")+k8sLine(101, "F", " second half"))
	for _, want := range []struct {
		msg     string
		partial bool
	}{{"first half,", true}, {" second half", false}} {
		e, err := fl.Next(ctx, true, nil)
		if err != nil || string(e.Msg) != want.msg || e.Partial != want.partial || e.TS != time.Unix(1765000000, 101*int64(time.Millisecond)).UnixNano() {
			t.Fatalf("Next = %q partial=%v ts=%d, %v; want %q partial=%v", e.Msg, e.Partial, e.TS, err, want.msg, want.partial)
		}
	}
}

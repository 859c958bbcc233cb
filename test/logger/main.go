// Command logger is a static test program run inside test containers. It
// writes sequence-numbered log lines so that the end-to-end tests and
// benchmarks can check that every line arrives exactly once and in order.
//
// Every line has the form
//
//	seq=<n> stream=<stdout|stderr> id=<id> len=<total length> <filler>
//
// where n starts at 1 for each stream, len is the length of the whole line in
// bytes without its "\n", and filler is the repeating pattern
// "abcdefghijklmnopqrstuvwxyz" cut to fill the line to -size bytes. When -size
// is not larger than the prefix ("seq=... len=L "), the line is the prefix
// without its trailing space and no filler; len= is still its exact length.
//
// Usage:
//
//	logger [-n N] [-rate R] [-size B | -sizes B1,B2,...] [-streams stdout|stderr|both]
//	       [-id STR] [-after idle|exit] [-delay D] [-nonl]
//
// It handles SIGTERM and SIGINT itself (it runs as PID 1) and exits 0.
// SIGUSR1 ends the writing early, after whole lines: the logger then idles
// or exits as -after says (the benchmark stops containers writing this way).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fillerPattern is repeated to pad lines to their target size.
const fillerPattern = "abcdefghijklmnopqrstuvwxyz"

// batchCap is the size of the per-stream write buffer. Lines are never split
// across writes: a line that does not fit flushes the buffer first, and a line
// larger than the buffer is written on its own.
const batchCap = 64 << 10

// maxTick is the pacing interval for rates of 100 lines/s and more.
const maxTick = 10 * time.Millisecond

var filler = fillerPattern

// ensureFiller makes the filler string at least n bytes long.
func ensureFiller(n int) {
	if len(filler) >= n {
		return
	}
	filler = strings.Repeat(fillerPattern, n/len(fillerPattern)+1)
}

// fillerOf returns the first n bytes of the repeating filler pattern.
func fillerOf(n int) string {
	ensureFiller(n)
	return filler[:n]
}

// appendHeader appends "seq=<seq> stream=<stream> id=<id> len=<l>".
func appendHeader(b []byte, seq int, stream, id string, l int) []byte {
	b = append(b, "seq="...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, " stream="...)
	b = append(b, stream...)
	b = append(b, " id="...)
	b = append(b, id...)
	b = append(b, " len="...)
	return strconv.AppendInt(b, int64(l), 10)
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// lineLen returns the total length of the line for the given arguments.
func lineLen(seq int, stream, id string, size int) int {
	// Length of the header without the digits of len=.
	fixed := len("seq=") + digits(seq) + len(" stream=") + len(stream) +
		len(" id=") + len(id) + len(" len=")
	// With filler: the prefix is header + " " and must be shorter than size.
	if size > 0 && fixed+digits(size)+1 < size {
		return size
	}
	// Without filler: len= holds the header's own length (a fixed point).
	l := fixed + 1
	for fixed+digits(l) != l {
		l = fixed + digits(l)
	}
	return l
}

// appendLine appends one log line (without "\n") of size bytes, or of the
// prefix's length when size is not larger than the prefix.
func appendLine(b []byte, seq int, stream, id string, size int) []byte {
	l := lineLen(seq, stream, id, size)
	start := len(b)
	b = appendHeader(b, seq, stream, id, l)
	if n := l - (len(b) - start) - 1; n >= 0 {
		b = append(b, ' ')
		b = append(b, fillerOf(n)...)
	}
	return b
}

// formatLine returns one log line without its "\n".
func formatLine(seq int, stream, id string, size int) string {
	return string(appendLine(nil, seq, stream, id, size))
}

// config holds the parsed flags.
type config struct {
	n       int
	rate    float64
	sizes   []int
	streams []string
	id      string
	exit    bool
	delay   time.Duration
	nonl    bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("logger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 0, "lines to write per stream (0 = forever)")
	rate := fs.Float64("rate", 0, "lines per second per stream (0 = as fast as possible)")
	size := fs.Int("size", 100, "line length in bytes without the newline, prefix included (minimum: the prefix length)")
	sizes := fs.String("sizes", "", "comma-separated line sizes to cycle through instead of -size, e.g. 40000,200000")
	streams := fs.String("streams", "stdout", "stdout, stderr or both (both: lines alternate, each stream has its own sequence)")
	id := fs.String("id", "", "tag written as id= (default: the hostname)")
	after := fs.String("after", "idle", "after -n lines: idle (sleep until signalled) or exit (exit 0)")
	delay := fs.Duration("delay", 0, "wait before the first line (Go duration)")
	nonl := fs.Bool("nonl", false, "write the last line of each stream without a trailing newline (needs -n > 0)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c := &config{n: *n, rate: *rate, delay: *delay, nonl: *nonl}
	if c.n < 0 {
		return nil, errors.New("-n must be >= 0")
	}
	if c.rate < 0 || math.IsNaN(c.rate) || math.IsInf(c.rate, 0) {
		return nil, errors.New("-rate must be a finite number >= 0")
	}
	if c.delay < 0 {
		return nil, errors.New("-delay must be >= 0")
	}
	if c.nonl && c.n == 0 {
		return nil, errors.New("-nonl needs -n > 0")
	}
	if *sizes != "" {
		for _, f := range strings.Split(*sizes, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 0 {
				return nil, fmt.Errorf("-sizes: bad size %q", f)
			}
			c.sizes = append(c.sizes, v)
		}
	} else {
		if *size < 0 {
			return nil, errors.New("-size must be >= 0")
		}
		c.sizes = []int{*size}
	}
	switch *streams {
	case "stdout", "stderr":
		c.streams = []string{*streams}
	case "both":
		c.streams = []string{"stdout", "stderr"}
	default:
		return nil, fmt.Errorf("-streams must be stdout, stderr or both, not %q", *streams)
	}
	switch *after {
	case "idle":
	case "exit":
		c.exit = true
	default:
		return nil, fmt.Errorf("-after must be idle or exit, not %q", *after)
	}
	c.id = *id
	if c.id == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "unknown"
		}
		c.id = h
	}
	if strings.ContainsAny(c.id, " \t\r\n") {
		return nil, fmt.Errorf("-id must not contain white space: %q", c.id)
	}
	return c, nil
}

// writeMu is held for every write, so that a signal never ends the process in
// the middle of a line's write (unless that write blocks for long).
var writeMu sync.Mutex

// stream batches the lines of one output stream.
type stream struct {
	name string
	f    *os.File
	buf  []byte
}

func (s *stream) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	writeMu.Lock()
	_, err := s.f.Write(s.buf)
	writeMu.Unlock()
	s.buf = s.buf[:0]
	if err != nil {
		return fmt.Errorf("write %s: %w", s.name, err)
	}
	return nil
}

// add appends line seq to the batch, flushing first when it would not fit.
func (s *stream) add(c *config, seq int) error {
	size := c.sizes[(seq-1)%len(c.sizes)]
	l := lineLen(seq, s.name, c.id, size) + 1
	if len(s.buf) > 0 && len(s.buf)+l > batchCap {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.buf = appendLine(s.buf, seq, s.name, c.id, size)
	if !(c.nonl && seq == c.n) {
		s.buf = append(s.buf, '\n')
	}
	if len(s.buf) >= batchCap {
		return s.flush()
	}
	return nil
}

// writeLines writes lines from+1 .. to of every stream, alternating between
// the streams, and flushes them.
func writeLines(c *config, out []*stream, from, to int) error {
	for seq := from + 1; seq <= to; seq++ {
		for _, s := range out {
			if err := s.add(c, seq); err != nil {
				return err
			}
		}
	}
	for _, s := range out {
		if err := s.flush(); err != nil {
			return err
		}
	}
	return nil
}

// run writes the lines; it returns when -n lines per stream are written, or
// when stop is closed.
func run(c *config, out []*stream, stop <-chan struct{}) error {
	maxSize := 0
	for _, s := range c.sizes {
		maxSize = max(maxSize, s)
	}
	ensureFiller(maxSize)
	for _, s := range out {
		s.buf = make([]byte, 0, batchCap)
	}
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-stop:
			return nil
		}
	}
	if c.rate == 0 {
		const chunk = 1024
		for done := 0; c.n == 0 || done < c.n; done += chunk {
			select {
			case <-stop:
				return nil
			default:
			}
			to := done + chunk
			if c.n > 0 {
				to = min(to, c.n)
			}
			if err := writeLines(c, out, done, to); err != nil {
				return err
			}
		}
		return nil
	}
	// Paced: on every tick write the lines that are due by now. The first
	// line is due at once; line k+1 is due k/rate seconds after the start.
	tick := maxTick
	if perLine := time.Duration(float64(time.Second) / c.rate); perLine > tick {
		tick = perLine
	}
	// After a stall (a blocked pipe, a stopped container) write at most one
	// second's worth of lines at once, then carry on at the rate.
	burst := max(1, int(math.Ceil(c.rate)))
	start := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	written := 0
	for {
		due := int(time.Since(start).Seconds()*c.rate) + 1
		if due-written > burst {
			start = start.Add(time.Duration(float64(due-written-burst) / c.rate * float64(time.Second)))
			due = written + burst
		}
		if c.n > 0 {
			due = min(due, c.n)
		}
		if due > written {
			if err := writeLines(c, out, written, due); err != nil {
				return err
			}
			written = due
		}
		if c.n > 0 && written >= c.n {
			return nil
		}
		select {
		case <-ticker.C:
		case <-stop:
			return nil
		}
	}
}

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "logger:", err)
		os.Exit(2)
	}

	// As PID 1 in a container no default signal action applies: install
	// the handlers ourselves and exit 0 promptly, after a write in flight
	// (if it completes within a second).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		deadline := time.Now().Add(time.Second)
		for !writeMu.TryLock() && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		os.Exit(0)
	}()

	stop := make(chan struct{})
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		close(stop)
	}()

	var out []*stream
	for _, name := range c.streams {
		f := os.Stdout
		if name == "stderr" {
			f = os.Stderr
		}
		out = append(out, &stream{name: name, f: f})
	}
	if err := run(c, out, stop); err != nil {
		fmt.Fprintln(os.Stderr, "logger:", err)
		os.Exit(1)
	}
	if c.exit {
		os.Exit(0)
	}
	for {
		time.Sleep(time.Hour)
	}
}

package logstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// frame builds one frame of the multiplexed stream.
func frame(kind byte, payload string) []byte {
	b := make([]byte, headerLen, headerLen+len(payload))
	b[0] = kind
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// got is an Entry with its message copied out of the reader's buffer.
type got struct {
	Stream  Stream
	TS      int64
	TSValid bool
	Msg     string
	Partial bool
}

func (g got) String() string {
	m := g.Msg
	if len(m) > 60 {
		m = fmt.Sprintf("%s...(%d bytes)", m[:40], len(m))
	}
	return fmt.Sprintf("{%v ts=%d valid=%v partial=%v %q}", g.Stream, g.TS, g.TSValid, g.Partial, m)
}

func copyEntry(e Entry) got {
	return got{Stream: e.Stream, TS: e.TS, TSValid: e.TSValid, Msg: string(e.Msg), Partial: e.Partial}
}

// readAll reads entries until the first error, which it returns.
func readAll(r *Reader) ([]got, error) {
	var out []got
	for i := 0; ; i++ {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		if i > 1<<20 {
			return out, errors.New("test: no end of stream")
		}
		out = append(out, copyEntry(e))
	}
}

// pieceReader hands out its bytes in random pieces of 1..max bytes and, now
// and then, a read of nothing, as a network connection may.
type pieceReader struct {
	b   []byte
	rng *rand.Rand
	max int
}

func newPieceReader(b []byte, seed uint64, max int) *pieceReader {
	return &pieceReader{b: b, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), max: max}
}

func (p *pieceReader) Read(buf []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	if p.rng.IntN(8) == 0 {
		return 0, nil
	}
	n := min(1+p.rng.IntN(p.max), len(buf), len(p.b))
	copy(buf, p.b[:n])
	p.b = p.b[n:]
	return n, nil
}

type source struct {
	name string
	open func([]byte) io.Reader
}

// sources are the ways a test stream is handed to the reader: one read, one
// byte at a time, data together with io.EOF, halves, and random pieces.
var sources = []source{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"one byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"halves", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"pieces 1-7", func(b []byte) io.Reader { return newPieceReader(b, 1, 7) }},
	{"pieces 1-100", func(b []byte) io.Reader { return newPieceReader(b, 2, 100) }},
	{"pieces 1-5000", func(b []byte) io.Reader { return newPieceReader(b, 3, 5000) }},
}

// sameErr reports whether err is what want names: the same sentinel, or a
// *DaemonError with the same message.
func sameErr(err, want error) bool {
	var wd *DaemonError
	if errors.As(want, &wd) {
		var d *DaemonError
		return errors.As(err, &d) && d.Msg == wd.Msg
	}
	return errors.Is(err, want)
}

func equalEntries(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const (
	testTS1 = 1709618828123456789 // 2024-03-05T06:07:08.123456789Z
	testTS2 = testTS1 + 1
)

func TestReaderMux(t *testing.T) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	big := strings.Repeat("b", 3*initialBufSize)
	tests := []struct {
		name     string
		stream   []byte
		maxEntry int // 64 KiB when 0
		want     []got
		err      error // the error after the entries; io.EOF for a clean end
	}{
		{
			name:   "stdout line",
			stream: frame(1, T1+" hello world\n"),
			want:   []got{{Stdout, testTS1, true, "hello world", false}},
			err:    io.EOF,
		},
		{
			name:   "stderr line",
			stream: frame(2, T1+" oops\n"),
			want:   []got{{Stderr, testTS1, true, "oops", false}},
			err:    io.EOF,
		},
		{
			name:   "stdin frame goes to stdout as with StdCopy",
			stream: frame(0, T1+" in\n"),
			want:   []got{{Stdout, testTS1, true, "in", false}},
			err:    io.EOF,
		},
		{
			name:   "interleaved streams keep their order",
			stream: cat(frame(1, T1+" a\n"), frame(2, T1+" b\n"), frame(2, T2+" c\n"), frame(1, T2+" d\n")),
			want: []got{
				{Stdout, testTS1, true, "a", false}, {Stderr, testTS1, true, "b", false},
				{Stderr, testTS2, true, "c", false}, {Stdout, testTS2, true, "d", false},
			},
			err: io.EOF,
		},
		{
			name:   "partial chunk has no newline",
			stream: cat(frame(1, T1+" first part"), frame(1, T1+" second part\n")),
			want:   []got{{Stdout, testTS1, true, "first part", true}, {Stdout, testTS1, true, "second part", false}},
			err:    io.EOF,
		},
		{
			name:   "empty line",
			stream: frame(1, T1+" \n"),
			want:   []got{{Stdout, testTS1, true, "", false}},
			err:    io.EOF,
		},
		{
			name:   "spaces after the separator are the message's",
			stream: frame(1, T1+"   indented text \n"),
			want:   []got{{Stdout, testTS1, true, "  indented text ", false}},
			err:    io.EOF,
		},
		{
			name:   "carriage return written by a non-TTY program is kept",
			stream: frame(1, T1+" dos\r\n"),
			want:   []got{{Stdout, testTS1, true, "dos\r", false}},
			err:    io.EOF,
		},
		{
			name:   "binary and invalid UTF-8 bytes kept",
			stream: frame(2, T1+" \x00\xff\xfe\x1b[31m\n"),
			want:   []got{{Stderr, testTS1, true, "\x00\xff\xfe\x1b[31m", false}},
			err:    io.EOF,
		},
		{
			name:   "short RFC3339Nano timestamp",
			stream: frame(1, "2024-03-05T06:07:08.5Z short\n"),
			want:   []got{{Stdout, unixNano(2024, 3, 5, 6, 7, 8, 500000000), true, "short", false}},
			err:    io.EOF,
		},
		{
			name:   "no timestamp: the whole payload is the message",
			stream: frame(1, "plain text line\n"),
			want:   []got{{Stdout, 0, false, "plain text line", false}},
			err:    io.EOF,
		},
		{
			name:   "invalid timestamp: the whole payload is the message",
			stream: frame(1, "2024-13-05T06:07:08.123456789Z text\n"),
			want:   []got{{Stdout, 0, false, "2024-13-05T06:07:08.123456789Z text", false}},
			err:    io.EOF,
		},
		{
			name:   "timestamp without separator",
			stream: frame(1, T1+"\n"),
			want:   []got{{Stdout, 0, false, T1, false}},
			err:    io.EOF,
		},
		{
			name:   "empty stream",
			stream: nil,
			err:    io.EOF,
		},
		{
			name:     "frame larger than the initial buffer",
			stream:   cat(frame(1, T1+" "+big+"\n"), frame(2, T2+" after\n")),
			maxEntry: len(big) + 100,
			want:     []got{{Stdout, testTS1, true, big, false}, {Stderr, testTS2, true, "after", false}},
			err:      io.EOF,
		},
		{
			name:     "frame of exactly maxEntry bytes",
			stream:   frame(1, T1+" "+strings.Repeat("x", 1000-len(T1)-2)+"\n"),
			maxEntry: 1000,
			want:     []got{{Stdout, testTS1, true, strings.Repeat("x", 1000-len(T1)-2), false}},
			err:      io.EOF,
		},
		// Errors.
		{
			name:   "system error frame",
			stream: cat(frame(1, T1+" before\n"), frame(3, "Error grabbing logs: log file is gone\n"), frame(1, T2+" after\n")),
			want:   []got{{Stdout, testTS1, true, "before", false}},
			err:    &DaemonError{Msg: "Error grabbing logs: log file is gone\n"},
		},
		{
			name:   "absurd length",
			stream: cat(frame(1, T1+" ok\n"), []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte("xxxx")),
			want:   []got{{Stdout, testTS1, true, "ok", false}},
			err:    ErrFrameTooLarge,
		},
		{
			// The head is kept (the assembler cuts it at max_line_size and
			// marks it), the rest skipped, and the stream goes on.
			name:     "one byte over maxEntry",
			stream:   cat(frame(1, T1+" "+strings.Repeat("x", 1000-len(T1)-1)+"\n"), frame(2, T2+" next\n")),
			maxEntry: 1000,
			want: []got{
				{Stdout, testTS1, true, strings.Repeat("x", 1000-len(T1)-1), false},
				{Stderr, testTS2, true, "next", false},
			},
			err: io.EOF,
		},
		{
			name:     "far over maxEntry, a chunk without its newline",
			stream:   cat(frame(1, T1+" "+strings.Repeat("y", 5000)), frame(1, T1+" end\n")),
			maxEntry: 1000,
			want: []got{
				{Stdout, testTS1, true, strings.Repeat("y", 1000-len(T1)-1), true},
				{Stdout, testTS1, true, "end", false},
			},
			err: io.EOF,
		},
		{
			name:     "over maxEntry, cut off mid-skip",
			stream:   frame(1, T1+" "+strings.Repeat("z", 5000))[:3000],
			maxEntry: 1000,
			err:      io.ErrUnexpectedEOF,
		},
		{
			name:   "unknown stream type",
			stream: cat(frame(2, T1+" ok\n"), frame(4, T2+" x\n")),
			want:   []got{{Stderr, testTS1, true, "ok", false}},
			err:    ErrMalformed,
		},
		{
			name:   "reserved header bytes set",
			stream: []byte{1, 0, 1, 0, 0, 0, 0, 2, 'h', 'i'},
			err:    ErrMalformed,
		},
		{
			name:   "TTY stream read as multiplexed",
			stream: []byte(T1 + " hello\r\n"),
			err:    ErrMalformed,
		},
		{
			name:   "truncated header",
			stream: cat(frame(1, T1+" ok\n"), []byte{1, 0, 0}),
			want:   []got{{Stdout, testTS1, true, "ok", false}},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:   "header without payload",
			stream: frame(1, T1+" gone\n")[:headerLen],
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:   "truncated payload",
			stream: cat(frame(1, T1+" ok\n"), frame(2, T2+" cut short\n")[:headerLen+20]),
			want:   []got{{Stdout, testTS1, true, "ok", false}},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:     "truncated large frame",
			stream:   frame(1, T1+" "+big+"\n")[:initialBufSize+100],
			maxEntry: len(big) + 100,
			err:      io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		maxEntry := tt.maxEntry
		if maxEntry == 0 {
			maxEntry = 64 << 10
		}
		for _, src := range sources {
			t.Run(tt.name+"/"+src.name, func(t *testing.T) {
				r := NewReader(src.open(tt.stream), false, maxEntry)
				entries, err := readAll(r)
				if !equalEntries(entries, tt.want) {
					t.Errorf("entries:\n got %v\nwant %v", entries, tt.want)
				}
				if !sameErr(err, tt.err) {
					t.Errorf("error = %v (%T), want %v", err, err, tt.err)
				}
				if limit := max(initialBufSize, headerLen+maxEntry); cap(r.buf) > limit {
					t.Errorf("buffer grew to %d bytes, limit %d", cap(r.buf), limit)
				}
				if tt.err == io.EOF || tt.err == io.ErrUnexpectedEOF {
					if _, again := r.Next(); !errors.Is(again, tt.err) {
						t.Errorf("Next after the end = %v, want %v again", again, tt.err)
					}
				}
			})
		}
	}
}

// TestReaderMuxEveryBoundary splits the stream into two reads at every byte
// offset: headers, timestamps and payloads cut anywhere must read the same.
func TestReaderMuxEveryBoundary(t *testing.T) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	stream := cat(
		frame(1, T1+" first line\n"), frame(2, T1+" err part"), frame(2, T1+" end\n"),
		frame(1, T2+" \n"), frame(1, "no timestamp here\n"), frame(2, T2+" last\n"),
	)
	want := []got{
		{Stdout, testTS1, true, "first line", false}, {Stderr, testTS1, true, "err part", true},
		{Stderr, testTS1, true, "end", false}, {Stdout, testTS2, true, "", false},
		{Stdout, 0, false, "no timestamp here", false}, {Stderr, testTS2, true, "last", false},
	}
	r := NewReader(nil, false, 1024)
	for k := 0; k <= len(stream); k++ {
		r.Reset(io.MultiReader(bytes.NewReader(stream[:k]), bytes.NewReader(stream[k:])), false)
		entries, err := readAll(r)
		if err != io.EOF || !equalEntries(entries, want) {
			t.Fatalf("split at %d: %v, %v\nwant %v", k, entries, err, want)
		}
	}
}

func TestReaderSourceError(t *testing.T) {
	T1 := tsText(testTS1)
	boom := errors.New("connection reset")
	tests := []struct {
		name   string
		tty    bool
		stream []byte
		want   []got
	}{
		{"mux between frames", false, frame(1, T1+" ok\n"), []got{{Stdout, testTS1, true, "ok", false}}},
		{"mux inside a frame", false, cat(frame(1, T1+" ok\n"), frame(1, T1+" cut")[:20]), []got{{Stdout, testTS1, true, "ok", false}}},
		{"raw between lines", true, []byte(T1 + " ok\r\n"), []got{{TTY, testTS1, true, "ok", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(io.MultiReader(bytes.NewReader(tt.stream), iotest.ErrReader(boom)), tt.tty, 1024)
			entries, err := readAll(r)
			if !equalEntries(entries, tt.want) || !errors.Is(err, boom) {
				t.Fatalf("got %v, %v; want %v, %v", entries, err, tt.want, boom)
			}
		})
	}
}

func TestReaderRaw(t *testing.T) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	tests := []struct {
		name   string
		stream string
		want   []got
	}{
		{"CRLF line", T1 + " hello\r\n", []got{{TTY, testTS1, true, "hello", false}}},
		{"LF line", T1 + " hello\n", []got{{TTY, testTS1, true, "hello", false}}},
		{"two lines", T1 + " a\r\n" + T2 + " b\r\n", []got{{TTY, testTS1, true, "a", false}, {TTY, testTS2, true, "b", false}}},
		{"empty line", T1 + " \r\n", []got{{TTY, testTS1, true, "", false}}},
		{"only the CR before LF is stripped", T1 + " a\rb\r\r\n", []got{{TTY, testTS1, true, "a\rb\r", false}}},
		{"escape sequences kept", T1 + " \x1b[1;32mgreen\x1b[0m\r\n", []got{{TTY, testTS1, true, "\x1b[1;32mgreen\x1b[0m", false}}},
		{"unterminated last line", T1 + " a\r\n" + T2 + " tail", []got{{TTY, testTS1, true, "a", false}, {TTY, testTS2, true, "tail", true}}},
		{"unterminated line ending in CR", T1 + " tail\r", []got{{TTY, testTS1, true, "tail\r", true}}},
		{"timestamp then end", T1 + " ", []got{{TTY, testTS1, true, "", true}}},
		{"no timestamp", "plain\n", []got{{TTY, 0, false, "plain", false}}},
		{"no timestamp, spaces", "plain text\r\n", []got{{TTY, 0, false, "plain text", false}}},
		{"invalid timestamp", "2024-13-05T06:07:08.123456789Z text\r\n", []got{{TTY, 0, false, "2024-13-05T06:07:08.123456789Z text", false}}},
		{"leading space", " x\n", []got{{TTY, 0, false, " x", false}}},
		{"fragment of a timestamp at the end", T1 + " a\n" + T2[:10], []got{{TTY, testTS1, true, "a", false}, {TTY, 0, false, T2[:10], true}}},
		{"short timestamp", "2024-03-05T06:07:08Z hi\r\n", []got{{TTY, unixNano(2024, 3, 5, 6, 7, 8, 0), true, "hi", false}}},
		{"empty stream", "", nil},
	}
	for _, tt := range tests {
		for _, src := range sources {
			t.Run(tt.name+"/"+src.name, func(t *testing.T) {
				r := NewReader(src.open([]byte(tt.stream)), true, 1024)
				entries, err := readAll(r)
				if err != io.EOF || !equalEntries(entries, tt.want) {
					t.Fatalf("got %v, %v\nwant %v, EOF", entries, err, tt.want)
				}
			})
		}
	}
}

func TestReaderRawEveryBoundary(t *testing.T) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	stream := []byte(T1 + " first line\r\n" + T1 + " \r\n" + T2 + " a\rb\r\n" + "no timestamp\n" + T2 + " tail")
	want := []got{
		{TTY, testTS1, true, "first line", false}, {TTY, testTS1, true, "", false},
		{TTY, testTS2, true, "a\rb", false}, {TTY, 0, false, "no timestamp", false},
		{TTY, testTS2, true, "tail", true},
	}
	r := NewReader(nil, true, 1024)
	for k := 0; k <= len(stream); k++ {
		r.Reset(io.MultiReader(bytes.NewReader(stream[:k]), bytes.NewReader(stream[k:])), true)
		entries, err := readAll(r)
		if err != io.EOF || !equalEntries(entries, want) {
			t.Fatalf("split at %d: %v, %v\nwant %v", k, entries, err, want)
		}
	}
}

// TestReaderRawEndsWithFullBuffer: a TTY stream that ends (the container
// exits, the connection drops, the rotation deadline expires) inside a line,
// when that line's bytes reach the end of the reader's buffer. The reader
// used to panic there (found by FuzzReaderRaw).
func TestReaderRawEndsWithFullBuffer(t *testing.T) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	deadline := errors.New("context deadline exceeded")
	for _, end := range []error{io.EOF, deadline} {
		for total := initialBufSize - 3; total <= initialBufSize+3; total++ {
			first := T1 + " " + strings.Repeat("a", 16000) + "\r\n"
			tail := strings.Repeat("b", total-len(first)-len(T2)-1)
			stream := []byte(first + T2 + " " + tail)
			want := []got{{TTY, testTS1, true, strings.Repeat("a", 16000), false}, {TTY, testTS2, true, tail, true}}
			for _, src := range []source{sources[0], sources[1], sources[3]} {
				r := NewReader(io.MultiReader(src.open(stream), iotest.ErrReader(end)), true, 1024)
				entries, err := readAll(r)
				if !errors.Is(err, end) || !equalEntries(entries, want) {
					t.Fatalf("%d bytes then %v, %s: got %v, %v\nwant %v", total, end, src.name, entries, err, want)
				}
			}
		}
	}
	// The fuzzer's input: no timestamps, no newline, exactly one buffer.
	stream := bytes.Repeat([]byte{'0'}, initialBufSize)
	entries, err := readAll(NewReader(bytes.NewReader(stream), true, 1024))
	want := []got{{TTY, 0, false, string(stream[:ChunkSize]), true}, {TTY, 0, false, string(stream[ChunkSize:]), true}}
	if err != io.EOF || !equalEntries(entries, want) {
		t.Fatalf("got %v, %v\nwant %v", entries, err, want)
	}
}

// daemonPayloads models what the daemon serves for one line a container
// wrote (out ends with "\n", or "\r\n" from a TTY): the log copier cuts the
// output into pieces of at most ChunkSize bytes, only the last keeps the
// newline, and every piece carries the first piece's timestamp and a space.
func daemonPayloads(ts int64, out string) []string {
	var p []string
	for len(out) > 0 {
		window := out[:min(len(out), ChunkSize)]
		if i := strings.IndexByte(window, '\n'); i >= 0 {
			window = out[:i+1]
		}
		p = append(p, tsText(ts)+" "+window)
		out = out[len(window):]
	}
	return p
}

// entriesOf is what the reader must make of one payload (TS taken from it).
func entriesOf(stream Stream, ts int64, payloads []string, tty bool) []got {
	var out []got
	for _, p := range payloads {
		msg, partial := p[len(tsText(ts))+1:], true
		if strings.HasSuffix(msg, "\n") {
			msg, partial = msg[:len(msg)-1], false
			if tty {
				msg = strings.TrimSuffix(msg, "\r")
			}
		}
		out = append(out, got{stream, ts, true, msg, partial})
	}
	return out
}

// TestReaderDaemonLongLines feeds lines around and above the daemon's 16 KiB
// cut, as the daemon serves them, in both modes.
func TestReaderDaemonLongLines(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize - 2, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 40000, 200 << 10} {
		line := strings.Repeat("0123456789abcdef", n/16+1)[:n]
		for _, tty := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d bytes tty=%v", n, tty), func(t *testing.T) {
				var stream []byte
				var want []got
				if tty {
					payloads := daemonPayloads(testTS1, line+"\r\n")
					stream = []byte(strings.Join(payloads, ""))
					want = entriesOf(TTY, testTS1, payloads, true)
				} else {
					payloads := daemonPayloads(testTS1, line+"\n")
					for _, p := range payloads {
						stream = append(stream, frame(2, p)...)
					}
					want = entriesOf(Stderr, testTS1, payloads, false)
				}
				if n >= ChunkSize && len(want) < 2 {
					t.Fatalf("model: a %d-byte line should be cut, got %d entries", n, len(want))
				}
				for _, src := range []source{sources[0], sources[1], sources[5]} {
					r := NewReader(src.open(stream), tty, 2*ChunkSize)
					entries, err := readAll(r)
					if err != io.EOF || !equalEntries(entries, want) {
						t.Fatalf("%s: got %v, %v\nwant %v", src.name, entries, err, want)
					}
					for _, e := range entries {
						if len(e.Msg) > ChunkSize {
							t.Fatalf("entry of %d bytes, more than ChunkSize", len(e.Msg))
						}
					}
				}
			})
		}
	}
}

// muxStream builds a stream of n stdout frames of 100-byte lines.
func muxStream(n int) []byte {
	var b []byte
	msg := strings.Repeat("m", 99)
	for i := 0; i < n; i++ {
		b = append(b, frame(byte(1+i%2), tsText(testTS1+int64(i)*1000)+" "+msg+"\n")...)
	}
	return b
}

func rawStream(n int) []byte {
	var b []byte
	msg := strings.Repeat("m", 99)
	for i := 0; i < n; i++ {
		b = append(b, tsText(testTS1+int64(i)*1000)+" "+msg+"\r\n"...)
	}
	return b
}

// TestReaderNoAllocPerEntry: in steady state, reading entries allocates
// nothing, even across Reset.
func TestReaderNoAllocPerEntry(t *testing.T) {
	for _, tty := range []bool{false, true} {
		stream := muxStream(1000)
		if tty {
			stream = rawStream(1000)
		}
		var src bytes.Reader
		r := NewReader(nil, tty, 64<<10)
		read := func() {
			src.Reset(stream)
			r.Reset(&src, tty)
			n := 0
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				t.Fatalf("read %d entries, want 1000", n)
			}
		}
		read()
		if allocs := testing.AllocsPerRun(20, read); allocs != 0 {
			t.Errorf("tty=%v: %.1f allocations per 1000 entries, want 0", tty, allocs)
		}
	}
}

func TestReaderResetGivesBackHugeBuffer(t *testing.T) {
	T1 := tsText(testTS1)
	huge := strings.Repeat("h", 5*initialBufSize)
	r := NewReader(bytes.NewReader(frame(1, T1+" "+huge+"\n")), false, 8*initialBufSize)
	if entries, err := readAll(r); err != io.EOF || len(entries) != 1 || entries[0].Msg != huge {
		t.Fatalf("got %d entries, %v", len(entries), err)
	}
	r.Reset(bytes.NewReader(frame(1, T1+" small\n")), false)
	entries, err := readAll(r)
	if err != io.EOF || !equalEntries(entries, []got{{Stdout, testTS1, true, "small", false}}) {
		t.Fatalf("after Reset: %v, %v", entries, err)
	}
	if cap(r.buf) > initialBufSize {
		t.Fatalf("buffer of %d bytes kept after Reset, want at most %d", cap(r.buf), initialBufSize)
	}
}

func TestStreamString(t *testing.T) {
	for s, want := range map[Stream]string{Stdout: "stdout", Stderr: "stderr", TTY: "tty", 0: "unknown", 9: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("Stream(%d).String() = %q, want %q", s, got, want)
		}
	}
}

// BenchmarkReaderMux reads 100-byte lines, one frame each, as the daemon
// serves them; it reports the cost per entry.
func BenchmarkReaderMux(b *testing.B) {
	benchReader(b, false, muxStream(10000))
}

func BenchmarkReaderRaw(b *testing.B) {
	benchReader(b, true, rawStream(10000))
}

func benchReader(b *testing.B, tty bool, stream []byte) {
	const entries = 10000
	var src bytes.Reader
	r := NewReader(nil, tty, 64<<10)
	readStream := func() {
		src.Reset(stream)
		r.Reset(&src, tty)
		n := 0
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF || n != entries {
					b.Fatalf("%d entries, %v", n, err)
				}
				return
			}
			n++
		}
	}
	readStream() // the reader's buffer is made once, not per stream
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	loops := 0
	for b.Loop() {
		readStream()
		loops++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(loops*entries), "ns/entry")
	b.ReportMetric(testing.AllocsPerRun(1, readStream)/entries, "allocs/entry")
}

func TestReadStateBusy(t *testing.T) {
	fast, slow := 10*time.Microsecond, time.Second
	tests := []struct {
		name     string
		in       readState
		n, space int
		gap      time.Duration
		want     bool
	}{
		{"room filled: busy", readState{}, 4096, 4096, fast, true},
		{"room filled after a pause: busy", readState{}, 4096, 4096, slow, true},
		{"tiny room filled: not busy", readState{}, 100, 100, fast, false},
		{"small read, quick: stays busy", readState{busy: true}, 150, 4096, fast, true},
		{"small read after a pause: idle", readState{busy: true}, 150, 4096, slow, false},
		{"end of stream: unchanged", readState{busy: true}, 0, 4096, slow, true},
		{"small read, quick: stays idle", readState{}, 150, 4096, fast, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.next(tt.n, tt.space, tt.gap); got.busy != tt.want {
				t.Errorf("next(%d, %d, %v) from %+v: busy %v, want %v", tt.n, tt.space, tt.gap, tt.in, got.busy, tt.want)
			}
		})
	}
}

// TestReaderBusyBuffer: a stream whose reads fill the buffer gets the
// larger one, and keeps it across Reset only while it still has a backlog.
func TestReaderBusyBuffer(t *testing.T) {
	stream := muxStream(1000)
	r := NewReader(bytes.NewReader(stream), false, 64<<10)
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	if cap(r.buf) != busyBufSize {
		t.Fatalf("buffer %d after a backlog, want %d", cap(r.buf), busyBufSize)
	}
	r.Reset(bytes.NewReader(stream[:0]), false)
	if cap(r.buf) != busyBufSize {
		t.Fatalf("buffer %d after Reset of a busy stream, want %d kept", cap(r.buf), busyBufSize)
	}
	r.rs = r.rs.next(100, 4096, time.Second) // a small read after a long wait: idle
	r.Reset(bytes.NewReader(nil), false)
	if r.buf != nil {
		t.Fatalf("buffer of %d kept after Reset of an idle stream", cap(r.buf))
	}
}

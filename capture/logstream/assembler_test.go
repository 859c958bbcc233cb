package logstream

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// line is a Line with its message copied.
type line struct {
	Stream    Stream
	TS        int64
	Msg       string
	Truncated bool
}

func (l line) String() string {
	m := l.Msg
	if len(m) > 60 {
		m = fmt.Sprintf("%s...(%d bytes)", m[:40], len(m))
	}
	return fmt.Sprintf("{%v ts=%d truncated=%v %q}", l.Stream, l.TS, l.Truncated, m)
}

func copyLine(l Line) line { return line{l.Stream, l.TS, string(l.Msg), l.Truncated} }

func entry(s Stream, ts int64, msg string, partial bool) Entry {
	return Entry{Stream: s, TS: ts, TSValid: true, Msg: []byte(msg), Partial: partial}
}

// chunks cuts msg into ChunkSize pieces, as the daemon does: all but the
// last are partial.
func chunks(s Stream, ts int64, msg string) []Entry {
	var out []Entry
	for len(msg) > ChunkSize {
		out = append(out, entry(s, ts, msg[:ChunkSize], true))
		msg = msg[ChunkSize:]
	}
	return append(out, entry(s, ts, msg, false))
}

func pattern(n int) string { return strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", n/36+1)[:n] }

func TestAssembler(t *testing.T) {
	long40k, long200k := pattern(40002), pattern(200<<10)
	tests := []struct {
		name    string
		maxLine int
		in      []Entry
		want    []line
		pending bool // Pending() after the last entry
		flushed []line
	}{
		{
			name:    "whole line passes through",
			maxLine: 100,
			in:      []Entry{entry(Stdout, 1, "hello", false)},
			want:    []line{{Stdout, 1, "hello", false}},
		},
		{
			name:    "empty line",
			maxLine: 100,
			in:      []Entry{entry(Stdout, 1, "", false)},
			want:    []line{{Stdout, 1, "", false}},
		},
		{
			name:    "40 KB line joined from three chunks",
			maxLine: 1 << 20,
			in:      chunks(Stderr, 7, long40k),
			want:    []line{{Stderr, 7, long40k, false}},
		},
		{
			name:    "200 KB line joined from thirteen chunks",
			maxLine: 1 << 20,
			in:      chunks(Stdout, 7, long200k),
			want:    []line{{Stdout, 7, long200k, false}},
		},
		{
			name:    "line of exactly maxLine bytes is not truncated",
			maxLine: 40002,
			in:      chunks(Stdout, 7, long40k),
			want:    []line{{Stdout, 7, long40k, false}},
		},
		{
			name:    "long line cut at maxLine, the rest skipped",
			maxLine: 20000,
			in:      append(chunks(Stdout, 7, long40k), entry(Stdout, 8, "next", false)),
			want:    []line{{Stdout, 7, long40k[:20000], true}, {Stdout, 8, "next", false}},
		},
		{
			name:    "cut inside the first chunk",
			maxLine: 1000,
			in:      chunks(Stdout, 7, long40k),
			want:    []line{{Stdout, 7, long40k[:1000], true}},
		},
		{
			name:    "whole line longer than maxLine",
			maxLine: 10,
			in:      []Entry{entry(Stdout, 1, "0123456789ABC", false)},
			want:    []line{{Stdout, 1, "0123456789", true}},
		},
		{
			name:    "whole line of exactly maxLine bytes",
			maxLine: 10,
			in:      []Entry{entry(Stdout, 1, "0123456789", false)},
			want:    []line{{Stdout, 1, "0123456789", false}},
		},
		{
			name:    "whole line one byte over maxLine",
			maxLine: 10,
			in:      []Entry{entry(Stdout, 1, "0123456789A", false)},
			want:    []line{{Stdout, 1, "0123456789", true}},
		},
		{
			name:    "timestamp of the first chunk",
			maxLine: 100,
			in:      []Entry{entry(Stdout, 1, "a", true), entry(Stdout, 2, "b", true), entry(Stdout, 3, "c", false)},
			want:    []line{{Stdout, 1, "abc", false}},
		},
		{
			name:    "interleaved stdout and stderr partials",
			maxLine: 100,
			in: []Entry{
				entry(Stdout, 1, "out-1 ", true), entry(Stderr, 2, "err-1 ", true),
				entry(Stdout, 3, "out-2", false), entry(Stderr, 4, "err-2 ", true),
				entry(Stderr, 5, "err-3", false),
			},
			want: []line{{Stdout, 1, "out-1 out-2", false}, {Stderr, 2, "err-1 err-2 err-3", false}},
		},
		{
			name:    "whole stdout line while stderr is pending",
			maxLine: 100,
			in:      []Entry{entry(Stderr, 1, "err ", true), entry(Stdout, 2, "out", false)},
			want:    []line{{Stdout, 2, "out", false}},
			pending: true,
			flushed: []line{{Stderr, 1, "err ", false}},
		},
		{
			name:    "unterminated lines are flushed",
			maxLine: 100,
			in:      []Entry{entry(Stdout, 1, "out", true), entry(Stderr, 2, "err", true), entry(TTY, 3, "tty", true)},
			pending: true,
			flushed: []line{{Stdout, 1, "out", false}, {Stderr, 2, "err", false}, {TTY, 3, "tty", false}},
		},
		{
			name:    "flushed line keeps its truncation",
			maxLine: 5,
			in:      []Entry{entry(Stdout, 1, "abc", true), entry(Stdout, 1, "defg", true)},
			pending: true,
			flushed: []line{{Stdout, 1, "abcde", true}},
		},
		{
			// A TTY line whose "\r\n" the daemon cut in two: the "\r" ends
			// a full chunk, the "\n" comes alone in the next entry.
			name:    "TTY CRLF split across chunks",
			maxLine: 1 << 20,
			in:      []Entry{entry(TTY, 1, pattern(ChunkSize-1)+"\r", true), entry(TTY, 1, "", false)},
			want:    []line{{TTY, 1, pattern(ChunkSize - 1), false}},
		},
		{
			name:    "TTY CRLF split, line of exactly maxLine bytes",
			maxLine: ChunkSize - 1,
			in:      []Entry{entry(TTY, 1, pattern(ChunkSize-1)+"\r", true), entry(TTY, 1, "", false)},
			want:    []line{{TTY, 1, pattern(ChunkSize - 1), false}},
		},
		{
			name:    "TTY carriage return inside a line is kept",
			maxLine: 100,
			in:      []Entry{entry(TTY, 1, "progress 50%\r", true), entry(TTY, 1, "progress 100%", false)},
			want:    []line{{TTY, 1, "progress 50%\rprogress 100%", false}},
		},
		{
			name:    "TTY unterminated line ending in CR is flushed whole",
			maxLine: 100,
			in:      []Entry{entry(TTY, 1, "prompt\r", true)},
			pending: true,
			flushed: []line{{TTY, 1, "prompt\r", false}},
		},
		{
			name:    "non-TTY carriage return before an empty last chunk is kept",
			maxLine: 100,
			in:      []Entry{entry(Stdout, 1, "dos\r", true), entry(Stdout, 1, "", false)},
			want:    []line{{Stdout, 1, "dos\r", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(tt.maxLine)
			var lines []line
			for _, e := range tt.in {
				assembled := a.parts[e.Stream].active // else Msg is the entry's own
				if l, ok := a.Add(e); ok {
					if len(l.Msg) > tt.maxLine {
						t.Fatalf("line of %d bytes, maxLine %d", len(l.Msg), tt.maxLine)
					}
					if assembled {
						if cap(l.Msg) > tt.maxLine {
							t.Fatalf("line buffer of capacity %d, maxLine %d", cap(l.Msg), tt.maxLine)
						}
					}
					lines = append(lines, copyLine(l))
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.want) {
				t.Fatalf("lines:\n got %v\nwant %v", lines, tt.want)
			}
			if holdsPartial(a) != tt.pending {
				t.Fatalf("Pending() = %v, want %v", holdsPartial(a), tt.pending)
			}
			var flushed []line
			a.Flush(func(l Line) { flushed = append(flushed, copyLine(l)) })
			if fmt.Sprint(flushed) != fmt.Sprint(tt.flushed) {
				t.Fatalf("flushed:\n got %v\nwant %v", flushed, tt.flushed)
			}
			if holdsPartial(a) {
				t.Fatal("Pending() after Flush")
			}
			a.Flush(func(l Line) { t.Fatalf("second Flush emitted %v", copyLine(l)) })
		})
	}
}

// TestAssemblerMemoryBound: the storage of a line in progress never grows
// past maxLine, whatever the chunk sizes.
func TestAssemblerMemoryBound(t *testing.T) {
	for _, maxLine := range []int{1024, 20000, 40000, 100000, 1 << 20} {
		for _, n := range []int{40002, 200 << 10, 3 << 20} {
			a := NewAssembler(maxLine)
			msg := pattern(n)
			for _, e := range chunks(Stdout, 1, msg) {
				l, ok := a.Add(e)
				for s := range a.parts {
					if c := cap(a.parts[s].buf); c > maxLine {
						t.Fatalf("maxLine %d, line of %d: buffer of capacity %d", maxLine, n, c)
					}
				}
				if !ok {
					continue
				}
				if cap(l.Msg) > maxLine {
					t.Fatalf("maxLine %d, line of %d: returned Msg of capacity %d", maxLine, n, cap(l.Msg))
				}
				want := msg[:min(n, maxLine)]
				if string(l.Msg) != want || l.Truncated != (n > maxLine) {
					t.Fatalf("maxLine %d, line of %d: got %d bytes truncated=%v", maxLine, n, len(l.Msg), l.Truncated)
				}
			}
		}
	}
}

func TestAssemblerPendingAndReset(t *testing.T) {
	a := NewAssembler(100)
	if holdsPartial(a) {
		t.Fatal("new assembler pending")
	}
	a.Add(entry(Stdout, 1, "lost ", true))
	a.Add(entry(Stderr, 1, "lost too ", true))
	if !holdsPartial(a) {
		t.Fatal("not pending with two unfinished lines")
	}
	if _, ok := a.Add(entry(Stdout, 1, "done", false)); !ok || !holdsPartial(a) {
		t.Fatalf("after finishing stdout: ok=%v pending=%v, want true, true", ok, holdsPartial(a))
	}
	a.Add(entry(Stdout, 2, "lost ", true))
	a.Reset()
	if holdsPartial(a) {
		t.Fatal("pending after Reset")
	}
	a.Flush(func(l Line) { t.Fatalf("Flush after Reset emitted %v", copyLine(l)) })
	// After Reset the streams start again from their first chunk.
	a.Add(entry(Stderr, 3, "again ", true))
	l, ok := a.Add(entry(Stderr, 3, "whole", false))
	if !ok || copyLine(l) != (line{Stderr, 3, "again whole", false}) {
		t.Fatalf("after Reset: %v, %v", copyLine(l), ok)
	}
	if holdsPartial(a) {
		t.Fatal("pending after the line ended")
	}
}

// TestAssemblerKeepsNoHugeBuffer: a rare long line does not keep its buffer
// once it is done, and the returned line stays valid until the next call.
func TestAssemblerKeepsNoHugeBuffer(t *testing.T) {
	a := NewAssembler(1 << 20)
	msg := pattern(200 << 10)
	var got Line
	for _, e := range chunks(Stdout, 1, msg) {
		got, _ = a.Add(e)
	}
	if string(got.Msg) != msg {
		t.Fatal("line not joined")
	}
	if c := cap(a.parts[Stdout].buf); c > keepPartialCap {
		t.Fatalf("assembler keeps a %d-byte buffer after the line", c)
	}
}

// TestReaderAssemblerRoundTrip: lines a container writes, served as the
// daemon serves them (cut at 16 KiB, one timestamp per line), come out of
// Reader and Assembler as they were written.
func TestReaderAssemblerRoundTrip(t *testing.T) {
	lengths := []int{0, 1, 100, ChunkSize - 2, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize - 1, 2 * ChunkSize, 40002, 200 << 10}
	for _, tty := range []bool{false, true} {
		for _, maxLine := range []int{1 << 20, ChunkSize, 20000} {
			t.Run(fmt.Sprintf("tty=%v maxLine=%d", tty, maxLine), func(t *testing.T) {
				var stream []byte
				var want []line
				for i, n := range lengths {
					ts := testTS1 + int64(i)
					text := pattern(n)
					s := Stream(1 + i%2)
					if tty {
						s = TTY
						stream = append(stream, strings.Join(daemonPayloads(ts, text+"\r\n"), "")...)
					} else {
						for _, p := range daemonPayloads(ts, text+"\n") {
							stream = append(stream, frame(byte(s), p)...)
						}
					}
					want = append(want, line{s, ts, text[:min(n, maxLine)], n > maxLine})
				}
				for _, src := range []source{sources[0], sources[1], sources[5]} {
					r := NewReader(src.open(stream), tty, maxLine+ChunkSize)
					a := NewAssembler(maxLine)
					var lines []line
					for {
						e, err := r.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						if l, ok := a.Add(e); ok {
							lines = append(lines, copyLine(l))
						}
					}
					if fmt.Sprint(lines) != fmt.Sprint(want) {
						t.Fatalf("%s:\n got %v\nwant %v", src.name, lines, want)
					}
				}
			})
		}
	}
}

// FuzzAssembler drives the assembler with random entries and checks it
// against a plain model: a line is its chunks joined (for a TTY, a "\r"
// ending the last partial chunk before an empty last chunk is the "\r\n"
// the daemon cut in two), cut at maxLine.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{20, 4, 3, 'a', 'b', 'c', 0, 2, 'd', 'e'})
	f.Add([]byte{3, 6, 4, 'a', 'b', '\r', '\r', 2, 0, 4, 1, 'x'})
	f.Add([]byte{1, 4, 10, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 5, 3, 'x', 'y', 'z', 128})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		maxLine := 1 + int(data[0])%48
		data = data[1:]
		a := NewAssembler(maxLine)
		type modelPart struct {
			active bool
			ts     int64
			chunks []string
		}
		var model [TTY + 1]modelPart
		expect := func(s Stream, flush bool) line {
			p := &model[s]
			text := strings.Join(p.chunks, "")
			if n := len(p.chunks); !flush && s == TTY && n >= 2 && p.chunks[n-1] == "" && strings.HasSuffix(p.chunks[n-2], "\r") {
				text = text[:len(text)-1]
			}
			l := line{s, p.ts, text, false}
			if len(text) > maxLine {
				l.Msg, l.Truncated = text[:maxLine], true
			}
			p.active, p.chunks = false, nil
			return l
		}
		pending := func() bool { return model[Stdout].active || model[Stderr].active || model[TTY].active }
		for i := int64(0); len(data) >= 2; i++ {
			ctl, n := data[0], int(data[1])%(2*maxLine+2)
			data = data[2:]
			if ctl&0x80 != 0 {
				a.Reset()
				model = [TTY + 1]modelPart{}
				continue
			}
			n = min(n, len(data))
			msg := data[:n]
			data = data[n:]
			s := Stream(1 + ctl%3)
			e := Entry{Stream: s, TS: i, TSValid: true, Msg: msg, Partial: ctl&4 != 0}
			p := &model[s]
			if !p.active {
				p.active, p.ts = true, i
			}
			p.chunks = append(p.chunks, string(msg))
			l, ok := a.Add(e)
			if ok != !e.Partial {
				t.Fatalf("Add of partial=%v returned ok=%v", e.Partial, ok)
			}
			if ok {
				want := expect(s, false)
				if len(l.Msg) > maxLine {
					t.Fatalf("line of %d bytes, maxLine %d", len(l.Msg), maxLine)
				}
				if copyLine(l) != want {
					t.Fatalf("got %v, want %v", copyLine(l), want)
				}
			}
			for s := range a.parts {
				if c := cap(a.parts[s].buf); c > maxLine {
					t.Fatalf("buffer of capacity %d, maxLine %d", c, maxLine)
				}
			}
			if holdsPartial(a) != pending() {
				t.Fatalf("Pending() = %v, model %v", holdsPartial(a), pending())
			}
		}
		var wantFlush []line
		for s := range model {
			if model[s].active {
				wantFlush = append(wantFlush, expect(Stream(s), true))
			}
		}
		var flushed []line
		a.Flush(func(l Line) { flushed = append(flushed, copyLine(l)) })
		if fmt.Sprint(flushed) != fmt.Sprint(wantFlush) {
			t.Fatalf("flushed %v, want %v", flushed, wantFlush)
		}
	})
}

func BenchmarkAssembler(b *testing.B) {
	b.Run("100-byte lines", func(b *testing.B) {
		a := NewAssembler(1 << 20)
		e := entry(Stdout, 1, strings.Repeat("m", 99), false)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := a.Add(e); !ok {
				b.Fatal("no line")
			}
		}
	})
	b.Run("40KB lines from 3 chunks", func(b *testing.B) {
		a := NewAssembler(1 << 20)
		es := chunks(Stdout, 1, pattern(40002))
		b.SetBytes(40002)
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range es {
				a.Add(e)
			}
		}
	})
	b.Run("interleaved partials", func(b *testing.B) {
		a := NewAssembler(1 << 20)
		es := []Entry{
			entry(Stdout, 1, strings.Repeat("o", 100), true), entry(Stderr, 1, strings.Repeat("e", 100), true),
			entry(Stdout, 1, "end", false), entry(Stderr, 1, "end", false),
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range es {
				a.Add(e)
			}
		}
	})
}

// holdsPartial reports whether some stream holds an unfinished line.
func holdsPartial(a *Assembler) bool { return a.pending > 0 }

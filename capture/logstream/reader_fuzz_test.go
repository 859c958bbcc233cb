package logstream

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// maxFuzzInput caps the fuzzers' inputs. Long streams come from short
// inputs (buildMux's length multiplier, padRaw), and the Go fuzzer's
// minimisation is quadratic in the input's size: with kilobyte inputs it
// spends most of a short run minimising.
const maxFuzzInput = 256

// buildMux turns fuzzer bytes into a multiplexed stream. Each frame takes a
// control byte, a length byte and that many payload bytes:
//
//	ctl&3    frame type (3 is a system error)
//	ctl&4    the payload starts with the daemon's timestamp and a space
//	ctl&8    the payload ends with "\n"
//	ctl&16   the length is multiplied by 97 (frames beyond maxEntry and the buffer)
//	ctl&32   a reserved header byte is set (a bad header)
//	ctl&64   the stream is cut inside this frame
//	ctl&128  the type byte is ctl itself (an unknown type)
//
// It returns the stream and, for each frame, the timestamp the reader must
// report (0 when the frame has none).
func buildMux(data []byte) (stream []byte, stamps []int64) {
	ts := int64(1709618828000000000)
	for len(data) >= 2 {
		ctl, n := data[0], int(data[1])
		data = data[2:]
		if ctl&16 != 0 {
			n *= 97
		}
		body := data[:min(n, len(data))]
		data = data[len(body):]
		var payload []byte
		stamp := int64(0)
		if ctl&4 != 0 {
			ts += int64(ctl) * 7919 * int64(len(body)+1)
			stamp = ts
			payload = append(payload, tsText(ts)+" "...)
		}
		payload = append(payload, body...)
		payload = append(payload, bytes.Repeat([]byte{'.'}, n-len(body))...)
		if ctl&8 != 0 {
			payload = append(payload, '\n')
		}
		h := make([]byte, headerLen)
		h[0] = ctl & 3
		if ctl&128 != 0 {
			h[0] = ctl
		}
		if ctl&32 != 0 {
			h[1+int(ctl)%3] = ctl
		}
		binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
		f := append(h, payload...)
		if ctl&64 != 0 {
			f = f[:int(ctl)%len(f)]
		}
		stream = append(stream, f...)
		stamps = append(stamps, stamp)
		if ctl&64 != 0 {
			break
		}
	}
	return stream, stamps
}

// muxVerdict walks the frame headers of b the way the format defines them
// and says how a reader limited to maxEntry must end: io.EOF, or the error
// of the first bad frame. frames counts the good frames before the end.
func muxVerdict(b []byte, maxEntry int) (frames int, want error) {
	for i := 0; ; frames++ {
		switch {
		case i == len(b):
			return frames, io.EOF
		case len(b)-i < headerLen:
			return frames, io.ErrUnexpectedEOF
		}
		h := b[i : i+headerLen]
		size := int(binary.BigEndian.Uint32(h[4:]))
		switch {
		case h[0] > systemErr || h[1]|h[2]|h[3] != 0:
			return frames, ErrMalformed
		case size > maxFrame:
			return frames, ErrFrameTooLarge
		case len(b)-i-headerLen < size:
			return frames, io.ErrUnexpectedEOF
		case h[0] == systemErr:
			return frames, &DaemonError{Msg: string(b[i+headerLen : i+headerLen+min(size, maxEntry)])}
		}
		i += headerLen + size
	}
}

// frameWriter records what StdCopy writes: it writes each frame's payload
// with one call.
type frameWriter struct {
	stream Stream
	frames *[]stdFrame
}

type stdFrame struct {
	stream  Stream
	payload []byte
}

func (w frameWriter) Write(p []byte) (int, error) {
	*w.frames = append(*w.frames, stdFrame{w.stream, bytes.Clone(p)})
	return len(p), nil
}

// stdCopy runs the Docker client's demultiplexer and returns the frames it
// writes, each as the reader keeps it: a payload over maxEntry bytes cut
// there, with its newline if it ended with one. It is only given the frames
// before the first one announcing more bytes than the stream holds: it
// would allocate whatever a header announces.
func stdCopy(b []byte, maxEntry int) (frames []stdFrame, err error) {
	safe := len(b)
	for i := 0; i+headerLen <= len(b); {
		size := int(binary.BigEndian.Uint32(b[i+4 : i+headerLen]))
		if size > len(b)-i-headerLen {
			safe = i
			break
		}
		i += headerLen + size
	}
	_, err = stdcopy.StdCopy(frameWriter{Stdout, &frames}, frameWriter{Stderr, &frames}, bytes.NewReader(b[:safe]))
	for i, f := range frames {
		if n := len(f.payload); n > maxEntry {
			kept := f.payload[:maxEntry:maxEntry]
			if f.payload[n-1] == '\n' {
				kept = append(kept, '\n')
			}
			frames[i].payload = kept
		}
	}
	return frames, err
}

func joinFrames(frames []stdFrame, s Stream) []byte {
	var out []byte
	for _, f := range frames {
		if f.stream == s {
			out = append(out, f.payload...)
		}
	}
	return out
}

// reserialize rebuilds the bytes of one stream from the entries the reader
// gave for it: timestamp, space, message, newline. An entry's timestamp text
// is taken from the reference at the same offset (it must read back as the
// entry's TS): the reader keeps a timestamp's value, not its spelling.
func reserialize(t *testing.T, entries []got, s Stream, ref []byte) []byte {
	t.Helper()
	var out []byte
	for _, e := range entries {
		if e.Stream != s {
			continue
		}
		if e.TSValid {
			text := tsText(e.TS)
			if rest := ref[min(len(out), len(ref)):]; len(rest) > 0 {
				if sp := bytes.IndexByte(rest, ' '); sp > 0 {
					if ts, err := ParseTimestamp(rest[:sp]); err == nil && ts == e.TS {
						text = string(rest[:sp])
					}
				}
			}
			out = append(out, text+" "...)
		}
		out = append(out, e.Msg...)
		if !e.Partial {
			out = append(out, '\n')
		}
	}
	return out
}

// checkNoMissedTimestamp: an entry without a timestamp must not start with
// one the reader could have read.
func checkNoMissedTimestamp(t *testing.T, e got) {
	t.Helper()
	if e.TSValid {
		return
	}
	head := e.Msg[:min(len(e.Msg), maxTimestampLen)]
	if sp := strings.IndexByte(head, ' '); sp > 0 {
		if _, err := ParseTimestamp([]byte(head[:sp])); err == nil {
			t.Fatalf("entry %v starts with a valid timestamp the reader did not take", e)
		}
	}
}

func checkMux(t *testing.T, stream []byte, maxEntry int, src io.Reader) []got {
	t.Helper()
	r := NewReader(src, false, maxEntry)
	entries, err := readAll(r)
	if limit := max(initialBufSize, headerLen+maxEntry); cap(r.buf) > limit {
		t.Fatalf("buffer grew to %d bytes, limit %d", cap(r.buf), limit)
	}
	good, want := muxVerdict(stream, maxEntry)
	if !sameErr(err, want) {
		t.Fatalf("reader ended with %v, want %v", err, want)
	}
	for _, e := range entries {
		if e.Stream != Stdout && e.Stream != Stderr {
			t.Fatalf("entry of stream %v in a multiplexed stream", e.Stream)
		}
		checkNoMissedTimestamp(t, e)
	}
	frames, scErr := stdCopy(stream, maxEntry)
	// Where StdCopy fails, the reader fails.
	if scErr != nil && err == io.EOF {
		t.Fatalf("StdCopy fails (%v), the reader read the stream to its end", scErr)
	}
	// The reader gives exactly the frames before the end, as StdCopy does.
	if len(frames) < good {
		t.Fatalf("StdCopy wrote %d frames, the reader should have read %d", len(frames), good)
	}
	if err == io.EOF && len(frames) != good {
		t.Fatalf("StdCopy wrote %d frames of a valid stream of %d", len(frames), good)
	}
	for _, s := range []Stream{Stdout, Stderr} {
		want := joinFrames(frames[:good], s)
		if got := reserialize(t, entries, s, want); !bytes.Equal(got, want) {
			t.Fatalf("%v:\n reader  %q\nStdCopy %q", s, got, want)
		}
	}
	return entries
}

func muxSeeds() [][]byte {
	T1 := tsText(testTS1)
	return [][]byte{
		{},
		cat(frame(1, T1+" hello\n"), frame(2, T1+" world\n")),
		cat(frame(1, T1+" part"), frame(1, T1+" end\n"), frame(2, "no ts\n")),
		cat(frame(1, T1+" ok\n"), frame(3, "Error grabbing logs: x\n")),
		cat(frame(1, T1+" ok\n"), []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}),
		cat(frame(1, T1+" ok\n"), frame(2, T1+" cut")[:15]),
		{1, 0, 2, 0, 0, 0, 0, 1, 'x'},
	}
}

// FuzzReaderMux checks the multiplexed reader against the Docker client's
// stdcopy.StdCopy. data is either the stream itself (raw) or a description
// of frames (see buildMux); big selects a maxEntry above the initial buffer,
// split how the bytes are handed over.
func FuzzReaderMux(f *testing.F) {
	for i, s := range muxSeeds() {
		f.Add(s, true, i%2 == 0, uint8(i))
	}
	f.Add([]byte{1 | 4 | 8, 5, 'h', 'e', 'l', 'l', 'o', 2 | 4, 3, 'a', 'b', 'c', 2 | 4 | 8, 0}, false, false, uint8(0))
	f.Add([]byte{1 | 4 | 8 | 16, 200, 'x', 2 | 4 | 8, 1, 'y'}, false, true, uint8(3))
	f.Add([]byte{1 | 4 | 8, 2, 'o', 'k', 3, 4, 'b', 'o', 'o', 'm'}, false, false, uint8(1))
	f.Add([]byte{1 | 4 | 8, 2, 'o', 'k', 1 | 4 | 64 | 8, 9, 'c', 'u', 't'}, false, false, uint8(2))
	f.Add([]byte{1 | 4 | 8 | 32, 2, 'o', 'k'}, false, false, uint8(0))
	f.Add([]byte{0x85, 2, 'o', 'k'}, false, false, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, raw, big bool, split uint8) {
		if len(data) > maxFuzzInput {
			return
		}
		maxEntry := 300
		if big {
			maxEntry = initialBufSize + 5000
		}
		stream, stamps := data, []int64(nil)
		if !raw {
			stream, stamps = buildMux(data)
		}
		var src io.Reader = bytes.NewReader(stream)
		if split > 0 {
			src = newPieceReader(stream, uint64(split), 1+int(split)%17*int(split))
		}
		entries := checkMux(t, stream, maxEntry, src)
		// Frames built with a timestamp report it; the others never do.
		for i, e := range entries {
			if i < len(stamps) && stamps[i] != 0 && (!e.TSValid || e.TS != stamps[i]) {
				t.Fatalf("frame %d has timestamp %d, entry %v", i, stamps[i], e)
			}
		}
	})
}

// checkRaw accounts for every input byte of a raw (TTY) stream. The entries,
// written back as timestamp, space, message and newline, give the input
// again, with one normalisation: an entry's "\r\n" is reported like "\n" (the
// "\r" is stripped and not marked). The timestamp's spelling is checked to
// read back as the entry's TS.
func checkRaw(t *testing.T, data []byte, entries []got) {
	t.Helper()
	c := 0
	for i, e := range entries {
		if e.Stream != TTY {
			t.Fatalf("entry %d: stream %v in raw mode", i, e.Stream)
		}
		if len(e.Msg) > ChunkSize {
			t.Fatalf("entry %d: %d bytes, more than ChunkSize", i, len(e.Msg))
		}
		if e.Partial && i < len(entries)-1 && len(e.Msg) != ChunkSize {
			t.Fatalf("entry %d: a partial entry of %d bytes before the end; only ChunkSize cuts", i, len(e.Msg))
		}
		checkNoMissedTimestamp(t, e)
		if e.TSValid {
			sp := bytes.IndexByte(data[c:], ' ')
			if sp <= 0 {
				t.Fatalf("entry %d has a timestamp, input at %d has none: %q", i, c, data[c:min(c+40, len(data))])
			}
			if ts, err := ParseTimestamp(data[c : c+sp]); err != nil || ts != e.TS {
				t.Fatalf("entry %d: TS %d, input has %q", i, e.TS, data[c:c+sp])
			}
			c += sp + 1
		}
		if !bytes.HasPrefix(data[c:], []byte(e.Msg)) {
			t.Fatalf("entry %d: message %q, input at %d is %q", i, e.Msg, c, data[c:min(c+len(e.Msg)+10, len(data))])
		}
		c += len(e.Msg)
		if e.Partial {
			continue
		}
		switch rest := data[c:]; {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			c += 2
		case bytes.HasPrefix(rest, []byte("\n")) && !strings.HasSuffix(e.Msg, "\r"):
			c++
		default:
			t.Fatalf("entry %d ends a line, input at %d is %q", i, c, rest[:min(len(rest), 10)])
		}
	}
	if c != len(data) {
		t.Fatalf("entries account for %d of %d input bytes", c, len(data))
	}
}

// padRaw lets small fuzzer inputs make lines around and beyond ChunkSize
// (large inputs make the fuzzer slow): it inserts pad bytes 'x' after the
// first space of data (at its start when it has none).
func padRaw(data []byte, pad uint16) []byte {
	if pad == 0 {
		return data
	}
	at := bytes.IndexByte(data, ' ') + 1
	out := make([]byte, 0, len(data)+int(pad))
	out = append(out, data[:at]...)
	out = append(out, bytes.Repeat([]byte{'x'}, int(pad))...)
	return append(out, data[at:]...)
}

// FuzzReaderRaw reads arbitrary bytes as a TTY stream: it must never fail
// nor panic, and every input byte must be accounted for (see checkRaw).
func FuzzReaderRaw(f *testing.F) {
	T1, T2 := tsText(testTS1), tsText(testTS2)
	f.Add([]byte(T1+" hello\r\n"+T2+" world\n"), uint8(0), uint16(0))
	f.Add([]byte(T1+" a\r\r\n"+T1+" \r\n"+"no timestamp\n"+T2+" tail\r"), uint8(1), uint16(0))
	f.Add([]byte("2024-03-05T06:07:08Z short\n 2024\n\n\r\n"), uint8(5), uint16(0))
	// Lines around the daemon's cut (pad puts the x's right after "TS ").
	for _, n := range []int{ChunkSize - 2, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + 7} {
		f.Add([]byte(T1+" \r\n"+T2+" \n"), uint8(n%7), uint16(n))
		f.Add([]byte(T1+" \r"+T1+" \n"), uint8(0), uint16(n))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8, pad uint16) {
		if len(data) > maxFuzzInput {
			return
		}
		data = padRaw(data, pad)
		var src io.Reader = bytes.NewReader(data)
		if split > 0 {
			src = newPieceReader(data, uint64(split), 1+int(split)%17*int(split))
		}
		r := NewReader(src, true, 1024)
		entries, err := readAll(r)
		if err != io.EOF {
			t.Fatalf("raw reader ended with %v, want io.EOF", err)
		}
		if cap(r.buf) > initialBufSize {
			t.Fatalf("buffer grew to %d bytes", cap(r.buf))
		}
		checkRaw(t, data, entries)
	})
}

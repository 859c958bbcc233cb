package logstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Stream says where an entry was written.
type Stream uint8

const (
	Stdout Stream = 1
	Stderr Stream = 2
	TTY    Stream = 3 // a TTY container's merged output
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	case TTY:
		return "tty"
	}
	return "unknown"
}

// ChunkSize is the size of the pieces the daemon cuts long lines into. Every
// piece but the last comes without a trailing newline.
const ChunkSize = 16 * 1024

const (
	headerLen = 8
	// maxTimestampLen bounds the search for the space after a timestamp.
	maxTimestampLen = 40
	// initialBufSize holds one whole daemon frame (header, timestamp, chunk):
	// the most a stream of ordinary lines ever needs.
	initialBufSize = headerLen + maxTimestampLen + ChunkSize
	// startBufSize is what a stream starts with: a few ordinary entries.
	// It grows toward initialBufSize when long lines or a backlog need it,
	// so the many idle streams of a large host stay small (the HTTP
	// connection under each has its own 4 KiB read buffer already).
	startBufSize = 1024
	// systemErr is the frame type the daemon uses for its own errors.
	systemErr = 3
)

// maxFrame is the most a frame header may announce. A longer entry than the
// reader keeps (maxEntry) is cut and the rest skipped; beyond maxFrame the
// header is taken for garbage.
const maxFrame = 256 << 20

var (
	// ErrFrameTooLarge is returned for a frame header announcing more than
	// maxFrame bytes.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformed is returned for bytes that cannot be a frame header.
	ErrMalformed = errors.New("malformed stream")
)

// DaemonError carries an error the daemon wrote into the stream itself.
type DaemonError struct{ Msg string }

func (e *DaemonError) Error() string { return "daemon error in stream: " + e.Msg }

// Entry is one log entry as the daemon stored it: a whole line, or one chunk
// of a longer line when Partial is set.
type Entry struct {
	Stream Stream
	// TS is the entry's timestamp in Unix nanoseconds; meaningless unless
	// TSValid.
	TS      int64
	TSValid bool
	// Msg is the text without the timestamp and without the trailing
	// newline. It aliases the reader's buffer until the next call to Next.
	Msg     []byte
	Partial bool
}

// Reader splits a logs stream opened with timestamps=1 into entries. It reads
// the multiplexed form (8-byte frame headers) or, for TTY containers, the raw
// form. It never allocates per entry.
type Reader struct {
	src      io.Reader
	tty      bool
	maxEntry int
	buf      []byte
	cut      []byte // the kept head of an entry longer than maxEntry
	r, w     int
	err      error
	stamps   timestampCache
	// rs and lastRead follow how the stream reads (see fill).
	rs       readState
	lastRead time.Time
}

// NewReader returns a Reader that keeps at most maxEntry bytes of a frame:
// of a longer one it keeps the head and skips the rest.
func NewReader(src io.Reader, tty bool, maxEntry int) *Reader {
	x := &Reader{maxEntry: maxEntry}
	x.Reset(src, tty)
	return x
}

// Reset starts reading a new stream, keeping the buffer.
func (x *Reader) Reset(src io.Reader, tty bool) {
	x.cut = nil
	// Give back what long lines or a backlog made the buffer grow to,
	// unless the stream still had a backlog: its next stream will too.
	if c := cap(x.buf); c > startBufSize && !(x.rs.busy && c <= busyBufSize) {
		x.buf = nil
	}
	x.src, x.tty, x.r, x.w, x.err = src, tty, 0, 0, nil
	x.rs, x.lastRead = readState{busy: x.buf != nil && cap(x.buf) > startBufSize}, time.Time{}
}

// LastRead is when the last read from the source returned.
func (x *Reader) LastRead() time.Time { return x.lastRead }

// Next returns the next entry. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF when the stream stops inside a frame.
func (x *Reader) Next() (Entry, error) {
	if x.buf == nil {
		x.buf = make([]byte, startBufSize)
	}
	if x.tty {
		return x.nextRaw()
	}
	return x.nextFrame()
}

func (x *Reader) nextFrame() (Entry, error) {
	if err := x.need(headerLen); err != nil {
		return Entry{}, err
	}
	h := x.buf[x.r : x.r+headerLen]
	kind := h[0]
	if kind > systemErr || h[1] != 0 || h[2] != 0 || h[3] != 0 {
		return Entry{}, fmt.Errorf("%w: bad frame header % x", ErrMalformed, h)
	}
	size := int(binary.BigEndian.Uint32(h[4:]))
	if size > maxFrame {
		return Entry{}, fmt.Errorf("%w: header announces %d bytes, limit %d", ErrFrameTooLarge, size, maxFrame)
	}
	keep := min(size, x.maxEntry)
	if err := x.need(headerLen + keep); err != nil {
		return Entry{}, err
	}
	payload := x.buf[x.r+headerLen : x.r+headerLen+keep]
	x.r += headerLen + keep
	endsLine := false
	if keep < size {
		// Longer than any line is kept: keep the head (the assembler cuts
		// and marks it) and skip the rest, which reading would overwrite.
		x.cut = append(x.cut[:0], payload...)
		payload = x.cut
		last, err := x.discard(size - keep)
		if err != nil {
			return Entry{}, err
		}
		endsLine = last == '\n'
	}
	if kind == systemErr {
		return Entry{}, &DaemonError{Msg: string(payload)}
	}
	e := Entry{Stream: Stdout}
	if kind == 2 {
		e.Stream = Stderr
	}
	msg := x.splitTimestamp(&e, payload)
	if keep < size {
		e.Msg, e.Partial = msg, !endsLine // its newline was in the part skipped
	} else if n := len(msg); n > 0 && msg[n-1] == '\n' {
		e.Msg = msg[:n-1]
	} else {
		e.Msg, e.Partial = msg, true
	}
	return e, nil
}

// discard skips n bytes of the stream and returns the last of them.
func (x *Reader) discard(n int) (last byte, err error) {
	for n > 0 {
		if x.r == x.w {
			if err := x.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
					x.err = err // the stream stopped inside a frame, for good
				}
				return 0, err
			}
		}
		k := min(n, x.w-x.r)
		last = x.buf[x.r+k-1]
		x.r += k
		n -= k
	}
	return last, nil
}

// splitTimestamp reads e's timestamp from "TIMESTAMP message" and returns
// the message. A payload whose timestamp cannot be read keeps all its bytes
// as the message, so nothing is lost.
func (x *Reader) splitTimestamp(e *Entry, payload []byte) []byte {
	if sp := bytes.IndexByte(payload[:min(len(payload), maxTimestampLen)], ' '); sp > 0 {
		if ts, err := x.stamps.parse(payload[:sp]); err == nil {
			e.TS, e.TSValid = ts, true
			return payload[sp+1:]
		}
	}
	return payload
}

// nextRaw reads one entry of a TTY stream. With no frames, an entry ends at
// its newline, after ChunkSize bytes of message (the daemon's cut of a long
// line), or at the end of the stream (an unterminated last line).
func (x *Reader) nextRaw() (Entry, error) {
	// Find the space that ends the timestamp.
	sp := -1
	for {
		n := min(x.w-x.r, maxTimestampLen)
		if sp = bytes.IndexByte(x.buf[x.r:x.r+n], ' '); sp >= 0 || n == maxTimestampLen {
			break
		}
		if err := x.fill(); err != nil {
			if x.w == x.r {
				return Entry{}, err
			}
			break // a final fragment without a timestamp: keep it as text
		}
	}
	msgStart := x.r
	e := Entry{Stream: TTY}
	if sp > 0 {
		if ts, err := x.stamps.parse(x.buf[x.r : x.r+sp]); err == nil {
			e.TS, e.TSValid = ts, true
			msgStart = x.r + sp + 1
		}
	}
	end, scanned := -1, msgStart
	for {
		limit := min(x.w, msgStart+ChunkSize)
		if i := bytes.IndexByte(x.buf[scanned:limit], '\n'); i >= 0 {
			end = scanned + i + 1
			break
		}
		scanned = limit
		if limit-msgStart == ChunkSize {
			end = msgStart + ChunkSize
			break
		}
		off := x.r
		err := x.fill()
		// fill may have moved the window to the start of the buffer, even
		// when the read then failed.
		shift := off - x.r
		msgStart, scanned = msgStart-shift, scanned-shift
		if err != nil {
			end = x.w
			break
		}
	}
	msg := x.buf[msgStart:end]
	x.r = end
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = bytes.TrimSuffix(msg[:n-1], []byte{'\r'})
	} else {
		e.Partial = true
	}
	e.Msg = msg
	return e, nil
}

// need makes sure n bytes are buffered, growing the buffer for a large frame.
func (x *Reader) need(n int) error {
	if n > len(x.buf) {
		nb := make([]byte, n)
		x.w = copy(nb, x.buf[x.r:x.w])
		x.r, x.buf = 0, nb
	}
	for x.w-x.r < n {
		if err := x.fill(); err != nil {
			if err == io.EOF && x.w > x.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Reading a stream with a backlog. A stream whose read fills all the room
// offered has more waiting: it gets the larger buffer (busyBufSize), so each
// read takes all the HTTP connection has buffered, until a Reset finds it
// idle (a small read long after the one before). Idle streams keep
// startBufSize.
//
// Waiting a little before reading a busy stream again, so that entries
// gather in the socket, was measured and dropped: it cut read syscalls from
// about 0.9 to 0.05 per line but not CPU (the daemon writes every entry as
// its own HTTP chunk, and each write wakes the Go netpoller whether a
// goroutine waits on the socket or not), and it slowed the drain by 5%.
const (
	// minReadSpace is the least room offered to a read when the buffer
	// can be compacted.
	minReadSpace = 1024
	busyBufSize  = initialBufSize
	// idleGap is a pause between reads that says the backlog is gone.
	idleGap = 10 * time.Millisecond
)

// readState is what a stream's last reads say about it.
type readState struct {
	busy bool // a read filled all the room offered
}

// next returns the state after a read that returned n of the space bytes
// offered, gap after the one before it.
func (s readState) next(n, space int, gap time.Duration) readState {
	switch {
	case n == space && space >= minReadSpace:
		s.busy = true
	case n > 0 && n < space && gap >= idleGap:
		s.busy = false
	}
	return s
}

// fill reads once from the source, moving buffered bytes to the front first
// when the buffer is full or nearly. It returns the source's error once
// nothing more can come.
func (x *Reader) fill() error {
	if x.err != nil {
		return x.err
	}
	if x.r > 0 && (len(x.buf)-x.w < minReadSpace || x.r == x.w) {
		x.w = copy(x.buf, x.buf[x.r:x.w])
		x.r = 0
	}
	if x.w == len(x.buf) || (x.rs.busy && len(x.buf) < busyBufSize) {
		// Full only in raw mode, where a whole entry must fit: the callers
		// bound what they look for below initialBufSize.
		if x.w == len(x.buf) && len(x.buf) >= initialBufSize {
			return ErrMalformed
		}
		size := min(2*len(x.buf), initialBufSize)
		if x.rs.busy {
			size = max(size, busyBufSize)
		}
		nb := make([]byte, size)
		copy(nb, x.buf[:x.w])
		x.buf = nb
	}
	for i := 0; i < 100; i++ {
		space := len(x.buf) - x.w
		n, err := x.src.Read(x.buf[x.w:])
		x.w += n
		now := time.Now()
		x.rs = x.rs.next(n, space, now.Sub(x.lastRead))
		x.lastRead = now
		if err != nil {
			x.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	x.err = io.ErrNoProgress
	return x.err
}

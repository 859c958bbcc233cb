package logstream

// Line is one whole log line, reassembled from its chunks.
type Line struct {
	Stream Stream
	TS     int64
	// Msg aliases the entry or the assembler's storage until the next call.
	Msg       []byte
	Truncated bool
}

// keepPartialCap is the largest line buffer kept between lines; a bigger one
// made for a rare long line is given back so idle tailers stay small.
const keepPartialCap = 64 * 1024

type partial struct {
	active    bool
	ts        int64
	buf       []byte
	truncated bool
	// cr: the last chunk, from a TTY, ended with "\r", held back until the
	// next entry says whether it is the first half of a "\r\n".
	cr bool
}

var cr = []byte{'\r'}

// Assembler joins the chunks of long lines, per stream, and cuts any line at
// maxLine bytes. Memory for a line in progress never exceeds maxLine.
type Assembler struct {
	maxLine int
	parts   [TTY + 1]partial
	pending int
}

func NewAssembler(maxLine int) *Assembler { return &Assembler{maxLine: maxLine} }

// Add takes the next entry and returns a line when the entry completes one.
func (a *Assembler) Add(e Entry) (Line, bool) {
	p := &a.parts[e.Stream]
	if !p.active {
		if !e.Partial {
			msg, cut := e.Msg, false
			if len(msg) > a.maxLine {
				msg, cut = msg[:a.maxLine], true
			}
			return Line{Stream: e.Stream, TS: e.TS, Msg: msg, Truncated: cut}, true
		}
		p.active, p.ts, p.buf, p.truncated, p.cr = true, e.TS, p.buf[:0], false, false
		a.pending++
	}
	msg := e.Msg
	if p.cr {
		// A TTY line of 16383 bytes (mod 16384) comes as a full chunk ending
		// in the "\r" of its "\r\n", then an entry holding only the "\n".
		p.cr = false
		if e.Partial || len(msg) > 0 {
			a.add(p, cr)
		}
	}
	if e.Stream == TTY && e.Partial && len(msg) > 0 && msg[len(msg)-1] == '\r' {
		msg, p.cr = msg[:len(msg)-1], true
	}
	a.add(p, msg)
	if e.Partial {
		return Line{}, false
	}
	return a.finish(e.Stream), true
}

// add appends b to the line, cutting it at maxLine; the buffer's capacity
// never passes maxLine either.
func (a *Assembler) add(p *partial, b []byte) {
	if room := a.maxLine - len(p.buf); len(b) > room {
		b, p.truncated = b[:room], true
	}
	if n := len(p.buf) + len(b); n > cap(p.buf) {
		nb := make([]byte, len(p.buf), min(max(2*cap(p.buf), n), a.maxLine))
		copy(nb, p.buf)
		p.buf = nb
	}
	p.buf = append(p.buf, b...)
}

func (a *Assembler) finish(s Stream) Line {
	p := &a.parts[s]
	if p.cr { // an unterminated line's own "\r"
		p.cr = false
		a.add(p, cr)
	}
	l := Line{Stream: s, TS: p.ts, Msg: p.buf, Truncated: p.truncated}
	p.active = false
	a.pending--
	if cap(p.buf) > keepPartialCap {
		p.buf = nil // l.Msg still holds it for the caller
	}
	return l
}

// Flush hands out the unfinished lines, for a container that exited before
// ending its last line.
func (a *Assembler) Flush(emit func(Line)) {
	for s := range a.parts {
		if a.parts[s].active {
			emit(a.finish(Stream(s)))
		}
	}
}

// Reset drops unfinished lines; they are read again from their first chunk.
func (a *Assembler) Reset() {
	for s := range a.parts {
		a.parts[s].active, a.parts[s].cr = false, false
		a.parts[s].buf = a.parts[s].buf[:0]
	}
	a.pending = 0
}

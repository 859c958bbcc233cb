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
}

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
		p.active, p.ts, p.buf, p.truncated = true, e.TS, p.buf[:0], false
		a.pending++
	}
	room := a.maxLine - len(p.buf)
	if len(e.Msg) > room {
		p.buf = append(p.buf, e.Msg[:room]...)
		p.truncated = true
	} else {
		p.buf = append(p.buf, e.Msg...)
	}
	if e.Partial {
		return Line{}, false
	}
	return a.finish(e.Stream), true
}

func (a *Assembler) finish(s Stream) Line {
	p := &a.parts[s]
	l := Line{Stream: s, TS: p.ts, Msg: p.buf, Truncated: p.truncated}
	p.active = false
	a.pending--
	if cap(p.buf) > keepPartialCap {
		p.buf = nil // l.Msg still holds it for the caller
	}
	return l
}

// Pending reports whether some stream holds an unfinished line. A position
// taken while one is pending would skip the line's first chunks on resume.
func (a *Assembler) Pending() bool { return a.pending > 0 }

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
		a.parts[s].active = false
		a.parts[s].buf = a.parts[s].buf[:0]
	}
	a.pending = 0
}

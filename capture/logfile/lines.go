package logfile

import (
	"bytes"
	"errors"
	"io"
)

// errLineTooLong is a line longer than a lineReader holds; it is skipped.
var errLineTooLong = errors.New("json-file line too long")

// lineReader splits a file that is still being written into lines: a last
// line without its newline is kept until the rest of it is written.
type lineReader struct {
	src        io.Reader
	buf        []byte
	start, end int
	max        int  // the longest line kept
	skipping   bool // inside a line longer than max
}

func newLineReader(src io.Reader, max int) *lineReader {
	return &lineReader{src: src, buf: make([]byte, 64<<10), max: max}
}

// next returns the next whole line without its newline; it aliases the
// buffer until the next call. io.EOF means no whole line yet: call again
// when the file has grown.
func (r *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := r.buf[r.start : r.start+i]
			r.start += i + 1
			if r.skipping {
				r.skipping = false
				return nil, errLineTooLong
			}
			return line, nil
		}
		if r.skipping {
			r.start, r.end = 0, 0
		}
		if r.end-r.start >= r.max {
			r.skipping = true
			r.start, r.end = 0, 0
		}
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
	}
}

// rest is what was read after the last whole line (a line being written).
func (r *lineReader) rest() []byte { return r.buf[r.start:r.end] }

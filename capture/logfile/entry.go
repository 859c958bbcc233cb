// Package logfile reads the log files that a local engine writes for a
// container: Docker's json-file driver, one JSON object a line,
// {"log":"text\n","stream":"stdout","time":"..."} with "attrs" when the
// driver's labels or env options are set, and Podman's k8s-file (k8sfile.go).
package logfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"docker_logs/capture/logstream"
)

// ErrMalformed is a line that is not a json-file entry.
var ErrMalformed = errors.New("malformed json-file entry")

// Parser decodes json-file and k8s-file lines. The Msg of an entry it returns aliases
// its buffer until the next Parse.
type Parser struct {
	buf     []byte
	scratch []byte // the attrs' keys and values, decoded to be skipped
}

// Parse decodes one line, without its newline: a JSON object is a
// json-file entry, anything else a k8s-file one. The daemon's own field
// order takes a fast path with no allocation; any other valid entry goes
// through encoding/json. An entry whose time is missing or malformed comes
// with TSValid false and its text.
func (p *Parser) Parse(line []byte) (logstream.Entry, error) {
	if len(line) > 0 && line[0] != '{' {
		return p.parseK8sFile(line)
	}
	if e, ok := p.parseFast(line); ok {
		return e, nil
	}
	return p.parseSlow(line)
}

// The daemon writes its fields in this order (daemon/logger/jsonfilelog's
// MarshalJSONBuf): log, stream, attrs when set, time.
var (
	prefixLog    = []byte(`{"log":"`)
	fieldStream  = []byte(`,"stream":"`)
	fieldAttrs   = []byte(`,"attrs":{`)
	fieldTime    = []byte(`,"time":"`)
	streamStdout = []byte("stdout")
	streamStderr = []byte("stderr")
)

func (p *Parser) parseFast(line []byte) (logstream.Entry, bool) {
	var e logstream.Entry
	rest, ok := bytes.CutPrefix(line, prefixLog)
	if !ok {
		return e, false
	}
	p.buf = p.buf[:0]
	if p.buf, rest, ok = appendString(p.buf, rest); !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, fieldStream); !ok {
		return e, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return e, false
	}
	if e.Stream, ok = streamOf(rest[:i]); !ok {
		return e, false
	}
	rest = rest[i+1:]
	if r, ok := bytes.CutPrefix(rest, fieldAttrs); ok {
		if rest, ok = p.skipStringObject(r); !ok {
			return e, false
		}
	}
	if rest, ok = bytes.CutPrefix(rest, fieldTime); !ok {
		return e, false
	}
	i = bytes.IndexByte(rest, '"')
	if i < 0 || string(rest[i+1:]) != "}" {
		return e, false
	}
	if ts, err := logstream.ParseTimestamp(rest[:i]); err == nil {
		e.TS, e.TSValid = ts, true
	}
	p.finish(&e)
	return e, true
}

func (p *Parser) parseSlow(line []byte) (logstream.Entry, error) {
	var e logstream.Entry
	var v struct {
		Log    *string `json:"log"`
		Stream string  `json:"stream"`
		Time   string  `json:"time"`
	}
	if err := json.Unmarshal(line, &v); err != nil || v.Log == nil {
		return e, ErrMalformed
	}
	var ok bool
	if e.Stream, ok = streamOf([]byte(v.Stream)); !ok {
		return e, ErrMalformed
	}
	if ts, err := logstream.ParseTimestamp([]byte(v.Time)); err == nil {
		e.TS, e.TSValid = ts, true
	}
	p.buf = append(p.buf[:0], *v.Log...)
	p.finish(&e)
	return e, nil
}

// finish takes the decoded text as the entry's message, as the logs API
// reader does: a whole line loses its newline and a carriage return before
// it (a TTY's); a piece of a line the driver split (16 KiB) has no newline
// and is partial.
func (p *Parser) finish(e *logstream.Entry) {
	msg, whole := bytes.CutSuffix(p.buf, []byte{'\n'})
	if whole {
		msg = bytes.TrimSuffix(msg, []byte{'\r'})
	}
	e.Msg, e.Partial = msg, !whole
}

func streamOf(name []byte) (logstream.Stream, bool) {
	switch {
	case bytes.Equal(name, streamStdout):
		return logstream.Stdout, true
	case bytes.Equal(name, streamStderr):
		return logstream.Stderr, true
	}
	return 0, false
}

// appendString decodes a JSON string's body, up to and including its
// closing quote, onto dst as encoding/json would (an invalid escape fails;
// an unpaired surrogate becomes U+FFFD), and returns what follows it.
func appendString(dst, b []byte) (out, rest []byte, ok bool) {
	for {
		i := bytes.IndexAny(b, "\"\\")
		if i < 0 {
			return dst, nil, false
		}
		dst = append(dst, b[:i]...)
		if b[i] == '"' {
			return dst, b[i+1:], true
		}
		b = b[i:]
		if len(b) < 2 {
			return dst, nil, false
		}
		switch c := b[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(b[2:])
			if !ok {
				return dst, nil, false
			}
			b = b[6:]
			if utf16.IsSurrogate(r) {
				if r2, ok := lowSurrogate(b); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						dst, b = utf8.AppendRune(dst, d), b[6:]
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, nil, false
		}
		b = b[2:]
	}
}

func lowSurrogate(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	return hex4(b[2:])
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipStringObject skips the rest of an object whose values are strings
// (the driver's attrs), after its opening brace, and returns what follows.
func (p *Parser) skipStringObject(b []byte) ([]byte, bool) {
	var ok bool
	for first := true; ; first = false {
		if r, found := bytes.CutPrefix(b, []byte{'}'}); found && first {
			return r, true
		}
		if b, ok = bytes.CutPrefix(b, []byte{'"'}); !ok {
			return nil, false
		}
		if p.scratch, b, ok = appendString(p.scratch[:0], b); !ok {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(`:"`)); !ok {
			return nil, false
		}
		if p.scratch, b, ok = appendString(p.scratch[:0], b); !ok {
			return nil, false
		}
		if len(b) == 0 {
			return nil, false
		}
		switch b[0] {
		case '}':
			return b[1:], true
		case ',':
			b = b[1:]
		default:
			return nil, false
		}
	}
}

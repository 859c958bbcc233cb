package logfile

import (
	"bytes"

	"docker_logs/capture/logstream"
)

// Podman's k8s-file driver (conmon) writes the CRI log format, one entry a
// line: "TIME STREAM TAG MESSAGE", TIME in RFC 3339 with nanoseconds and a
// zone offset, TAG "F" for the last piece of a line and "P" for a piece the
// driver split. Podman's inspect calls this driver json-file.
var (
	tagFull    = []byte("F")
	tagPartial = []byte("P")
)

// parseK8sFile decodes one k8s-file line, without its newline. Like a
// json-file entry, a whole line loses a carriage return before its end.
func (p *Parser) parseK8sFile(line []byte) (logstream.Entry, error) {
	var e logstream.Entry
	when, rest, ok1 := bytes.Cut(line, []byte{' '})
	stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
	tag, msg, _ := bytes.Cut(rest, []byte{' '})
	var ok bool
	if e.Stream, ok = streamOf(stream); !ok || !ok1 || !ok2 {
		return e, ErrMalformed
	}
	switch {
	case bytes.Equal(tag, tagFull):
		e.Msg = bytes.TrimSuffix(msg, []byte{'\r'})
	case bytes.Equal(tag, tagPartial):
		e.Msg, e.Partial = msg, true
	default:
		return e, ErrMalformed
	}
	if ts, err := logstream.ParseTimestamp(when); err == nil {
		e.TS, e.TSValid = ts, true
	}
	return e, nil
}

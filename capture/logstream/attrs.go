package logstream

import (
	"bytes"
	"errors"
	"net/url"
)

// Attr is one attribute the daemon attaches to a log entry when the logs API
// is asked for details=1: from the container's --log-opt labels=, env= and
// env-regex=.
type Attr struct{ Key, Value string }

// ErrBadAttrs is returned for details that are not the daemon's encoding.
var ErrBadAttrs = errors.New("malformed log details")

// SplitDetails splits an entry's message read with details=1 into the
// daemon's encoded attributes and the message itself. The daemon writes
// "k1=v1,k2=v2 message" (keys and values query-escaped, so neither holds a
// space, a comma or an equals sign) and " message" when there are none.
func SplitDetails(msg []byte) (attrs, rest []byte, err error) {
	sp := bytes.IndexByte(msg, ' ')
	if sp < 0 {
		return nil, msg, ErrBadAttrs
	}
	return msg[:sp], msg[sp+1:], nil
}

// ParseAttrs decodes the daemon's "k1=v1,k2=v2" (url.QueryEscape of each key
// and value), appending to dst.
func ParseAttrs(dst []Attr, b []byte) ([]Attr, error) {
	for len(b) > 0 {
		pair := b
		if i := bytes.IndexByte(b, ','); i >= 0 {
			pair, b = b[:i], b[i+1:]
			if len(b) == 0 {
				return dst, ErrBadAttrs // a trailing comma
			}
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(pair, []byte{'='})
		if !ok || len(k) == 0 {
			return dst, ErrBadAttrs
		}
		key, err1 := url.QueryUnescape(string(k))
		val, err2 := url.QueryUnescape(string(v))
		if err1 != nil || err2 != nil {
			return dst, ErrBadAttrs
		}
		dst = append(dst, Attr{key, val})
	}
	return dst, nil
}

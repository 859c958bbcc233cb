// Package logstream parses the bytes of a Docker logs stream: frames,
// timestamps and partial lines, with no I/O beyond the io.Reader it is given.
package logstream

import (
	"errors"
	"time"
)

var errBadTimestamp = errors.New("malformed timestamp")

// fixedLayoutLen is the length of the daemon's RFC3339NanoFixed form,
// "2006-01-02T15:04:05.000000000Z", which is what the logs API writes.
const fixedLayoutLen = 30

// ParseTimestamp parses a log entry's timestamp into Unix nanoseconds. UTC
// with up to nine digits of fraction (the logs API's fixed form, and the
// trimmed one json-file writes) takes a fast path with no allocation;
// anything else RFC3339 accepts goes through time.Parse.
func ParseTimestamp(b []byte) (int64, error) {
	if ts, ok := parseUTC(b); ok {
		return ts, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, errBadTimestamp
	}
	return t.UnixNano(), nil
}

// utcLen is the length of "2006-01-02T15:04:05Z", a UTC timestamp with no
// fraction.
const utcLen = 20

// parseUTC parses "2006-01-02T15:04:05[.fraction]Z".
func parseUTC(b []byte) (int64, bool) {
	n := len(b)
	if n < utcLen || n > fixedLayoutLen || n == utcLen+1 || b[n-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	var nsec int64
	if n > utcLen {
		frac, ok := digits(b[20 : n-1])
		if b[19] != '.' || !ok {
			return 0, false
		}
		for range fixedLayoutLen - n {
			frac *= 10
		}
		nsec = frac
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour >= 24 || minute >= 60 || sec >= 60 {
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	return ((days*24+hour)*60+minute)*60*1e9 + sec*1e9 + nsec, true
}

// minuteLen is the length of "2006-01-02T15:04:", the part of a timestamp
// that consecutive entries almost always share.
const minuteLen = 17

// timestampCache parses timestamps like ParseTimestamp, remembering the
// minute of the last one in the daemon's fixed form, so that the next ones
// cost only their seconds and nanoseconds.
type timestampCache struct {
	minute [minuteLen]byte
	base   int64 // Unix nanoseconds at the start of that minute
	valid  bool
}

func (c *timestampCache) parse(b []byte) (int64, error) {
	fixed := len(b) == fixedLayoutLen && b[19] == '.' && b[29] == 'Z'
	if fixed && c.valid && string(b[:minuteLen]) == string(c.minute[:]) {
		sec, ok1 := digits(b[17:19])
		nsec, ok2 := digits(b[20:29])
		if ok1 && ok2 && sec < 60 {
			return c.base + sec*1e9 + nsec, nil
		}
	}
	ts, err := ParseTimestamp(b)
	if err == nil && fixed {
		sec, _ := digits(b[17:19])
		nsec, _ := digits(b[20:29])
		copy(c.minute[:], b[:minuteLen])
		c.base, c.valid = ts-sec*1e9-nsec, true
	}
	return ts, err
}

func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil counts days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400 // floor: year 0000 in January or February
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// FormatSince renders Unix nanoseconds in the "seconds.nanoseconds" form the
// logs API takes for since, which keeps full precision.
func FormatSince(ns int64) string {
	if ns <= 0 {
		return ""
	}
	sec, frac := ns/1e9, ns%1e9
	var b [32]byte
	i := len(b)
	for k := 0; k < 9; k++ {
		i--
		b[i] = byte('0' + frac%10)
		frac /= 10
	}
	i--
	b[i] = '.'
	if sec == 0 {
		i--
		b[i] = '0'
	}
	for sec > 0 {
		i--
		b[i] = byte('0' + sec%10)
		sec /= 10
	}
	return string(b[i:])
}

package logstream

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// tsText renders ns the way the daemon writes a log entry's timestamp
// (jsonmessage.RFC3339NanoFixed in UTC: always nine fractional digits).
func tsText(ns int64) string {
	return time.Unix(0, ns).UTC().Format(jsonmessage.RFC3339NanoFixed)
}

func unixNano(y int, mo time.Month, d, h, mi, s, ns int) int64 {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC).UnixNano()
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		bad  bool
	}{
		// The daemon's fixed 9-digit form: the fast path.
		{name: "fixed", in: "2024-03-05T06:07:08.123456789Z", want: unixNano(2024, 3, 5, 6, 7, 8, 123456789)},
		{name: "fixed epoch", in: "1970-01-01T00:00:00.000000000Z", want: 0},
		{name: "fixed before epoch", in: "1969-12-31T23:59:59.999999999Z", want: -1},
		{name: "fixed end of year", in: "2023-12-31T23:59:59.999999999Z", want: unixNano(2023, 12, 31, 23, 59, 59, 999999999)},
		{name: "fixed trailing zeros", in: "2024-03-05T06:07:08.500000000Z", want: unixNano(2024, 3, 5, 6, 7, 8, 500000000)},
		{name: "leap day 2024", in: "2024-02-29T12:00:00.000000001Z", want: unixNano(2024, 2, 29, 12, 0, 0, 1)},
		{name: "leap day 2000 (400 rule)", in: "2000-02-29T00:00:00.000000000Z", want: unixNano(2000, 2, 29, 0, 0, 0, 0)},
		{name: "day after leap day", in: "2024-03-01T00:00:00.000000000Z", want: unixNano(2024, 3, 1, 0, 0, 0, 0)},
		{name: "30-day month end", in: "2024-04-30T23:59:59.000000000Z", want: unixNano(2024, 4, 30, 23, 59, 59, 0)},
		// Shorter forms: UTC ones as json-file writes them (fast path), and
		// offsets (time.Parse).
		{name: "no fraction", in: "2024-03-05T06:07:08Z", want: unixNano(2024, 3, 5, 6, 7, 8, 0)},
		{name: "one digit", in: "2024-03-05T06:07:08.5Z", want: unixNano(2024, 3, 5, 6, 7, 8, 500000000)},
		{name: "millis", in: "2024-03-05T06:07:08.123Z", want: unixNano(2024, 3, 5, 6, 7, 8, 123000000)},
		{name: "positive offset", in: "2024-03-05T08:07:08.5+02:00", want: unixNano(2024, 3, 5, 6, 7, 8, 500000000)},
		{name: "negative offset", in: "2024-03-05T01:07:08-05:00", want: unixNano(2024, 3, 5, 6, 7, 8, 0)},
		{name: "nine digits with offset", in: "2024-03-05T08:07:08.123456789+02:00", want: unixNano(2024, 3, 5, 6, 7, 8, 123456789)},
		{name: "more than nine digits", in: "2024-03-05T06:07:08.1234567891Z", want: unixNano(2024, 3, 5, 6, 7, 8, 123456789)},
		{name: "offset across midnight", in: "2024-03-01T01:00:00.000000000+02:00", want: unixNano(2024, 2, 29, 23, 0, 0, 0)},
		// Invalid.
		{name: "empty", in: "", bad: true},
		{name: "garbage", in: "hello", bad: true},
		{name: "29 Feb of common year", in: "2023-02-29T12:00:00.000000000Z", bad: true},
		{name: "29 Feb 1900 (100 rule)", in: "1900-02-29T12:00:00.000000000Z", bad: true},
		{name: "29 Feb 2100", in: "2100-02-29T12:00:00.000000000Z", bad: true},
		{name: "31 April", in: "2024-04-31T00:00:00.000000000Z", bad: true},
		{name: "day 32", in: "2024-01-32T00:00:00.000000000Z", bad: true},
		{name: "day 0", in: "2024-01-00T00:00:00.000000000Z", bad: true},
		{name: "month 13", in: "2024-13-01T00:00:00.000000000Z", bad: true},
		{name: "month 0", in: "2024-00-01T00:00:00.000000000Z", bad: true},
		{name: "hour 24", in: "2024-01-01T24:00:00.000000000Z", bad: true},
		{name: "minute 60", in: "2024-01-01T23:60:00.000000000Z", bad: true},
		{name: "leap second", in: "2024-06-30T23:59:60.000000000Z", bad: true},
		{name: "letter in fraction", in: "2024-01-01T00:00:00.00000000xZ", bad: true},
		{name: "sign in year", in: "+024-01-01T00:00:00.000000000Z", bad: true},
		{name: "no zone", in: "2024-01-01T00:00:00.000000000", bad: true},
		{name: "dot and no digits", in: "2024-01-01T00:00:00.Z", bad: true},
		{name: "lower-case z", in: "2024-01-01T00:00:00.000000000z", bad: true},
		{name: "space for T", in: "2024-01-01 00:00:00.000000000Z", bad: true},
		{name: "other zone letter", in: "2024-01-01T00:00:00.000000000Q", bad: true},
		{name: "trailing byte", in: "2024-01-01T00:00:00.000000000Z ", bad: true},
		{name: "date only", in: "2024-01-01", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp([]byte(tt.in))
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseTimestamp(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d (%s)", tt.in, got, err, tt.want, tsText(tt.want))
			}
		})
	}
}

// TestParseTimestampMatchesTimeParse compares the fast path (and the slow
// one) with time.Parse over many random instants, in the daemon's fixed form
// and in the shorter forms RFC3339Nano allows.
func TestParseTimestampMatchesTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("", 2*3600), time.FixedZone("", -(9*3600 + 30*60))}
	for i := 0; i < 200000; i++ {
		ns := int64(rng.Uint64()) // any instant int64 nanoseconds can hold: 1677 to 2262
		switch i % 4 {
		case 1: // whole seconds: trailing zeros in the fixed form
			ns = ns / 1e9 * 1e9
		case 2: // around midnight, often the end of a month
			ns = ns/(24*3600*1e9)*(24*3600*1e9) + rng.Int64N(2e9) - 1e9
		}
		tm := time.Unix(0, ns).UTC()
		forms := []string{
			tm.Format(jsonmessage.RFC3339NanoFixed),
			tm.Format(time.RFC3339Nano),
			tm.In(zones[i%len(zones)]).Format(time.RFC3339Nano),
		}
		for _, s := range forms {
			got, err := ParseTimestamp([]byte(s))
			want, werr := time.Parse(time.RFC3339Nano, s)
			if werr != nil {
				t.Fatalf("time.Parse(%q): %v", s, werr)
			}
			if err != nil || got != want.UnixNano() || got != ns {
				t.Fatalf("ParseTimestamp(%q) = %d, %v; time.Parse says %d, source %d", s, got, err, want.UnixNano(), ns)
			}
		}
	}
}

func TestParseTimestampUTCDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"2024-03-05T06:07:08.123456789Z", "2024-03-05T06:07:08.1234Z", "2024-03-05T06:07:08Z"} {
		b := []byte(s)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := ParseTimestamp(b); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("ParseTimestamp(%q) allocates %.1f times per call, want 0", s, allocs)
		}
	}
}

func TestFormatSince(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{ns: 0, want: ""}, // unset: the daemon starts from the beginning
		{ns: -5, want: ""},
		{ns: 1, want: "0.000000001"},
		{ns: 999999999, want: "0.999999999"},
		{ns: 1e9, want: "1.000000000"},
		{ns: 1709618828123456789, want: "1709618828.123456789"},
		{ns: 1709618828000000000, want: "1709618828.000000000"},
		{ns: 1<<63 - 1, want: "9223372036.854775807"},
	}
	for _, tt := range tests {
		if got := FormatSince(tt.ns); got != tt.want {
			t.Errorf("FormatSince(%d) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

// daemonParseTimestamps is the daemon's parser of since, copied from moby's
// api/types/time.ParseTimestamps: no module exports it any more.
func daemonParseTimestamps(value string) (seconds int64, nanoseconds int64, _ error) {
	s, n, ok := strings.Cut(value, ".")
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return sec, 0, err
	}
	if !ok {
		return sec, 0, nil
	}
	nsec, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return sec, nsec, err
	}
	nsec = int64(float64(nsec) * math.Pow(float64(10), float64(9-len(n))))
	return sec, nsec, nil
}

// roundTripFunc answers the client's requests without a daemon.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// clientSince returns what the Go client sends as since for a logs request
// given since: its GetTimestamp is internal.
func clientSince(t *testing.T) func(since string) (string, error) {
	var sent string
	cli, err := client.New(client.WithAPIVersion("1.41"), client.WithHTTPClient(&http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r.URL.Query().Get("since")
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		}),
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return func(since string) (string, error) {
		sent = ""
		rc, err := cli.ContainerLogs(context.Background(), "c", client.ContainerLogsOptions{ShowStdout: true, Since: since})
		if err != nil {
			return "", err
		}
		rc.Close()
		return sent, nil
	}
}

// TestFormatSinceRoundTrip checks the "seconds.nanoseconds" form against the
// daemon's own parser of since (daemonParseTimestamps) and against what the
// Go client sends for an RFC3339Nano since.
func TestFormatSinceRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	goClient := clientSince(t)
	for i := 0; i < 20000; i++ {
		ns := 1 + rng.Int64N(1<<63-1)
		if i%3 == 0 {
			ns = 1.6e18 + rng.Int64N(1e17)
		}
		s := FormatSince(ns)
		sec, nsec, err := daemonParseTimestamps(s)
		if err != nil || sec*1e9+nsec != ns {
			t.Fatalf("FormatSince(%d) = %q, which the daemon reads as %d.%09d (%v)", ns, s, sec, nsec, err)
		}
		back, err := ParseTimestamp([]byte(tsText(ns)))
		if err != nil || back != ns {
			t.Fatalf("ParseTimestamp(tsText(%d)) = %d, %v", ns, back, err)
		}
		sent, err := goClient(time.Unix(0, ns).UTC().Format(time.RFC3339Nano))
		if err != nil || sent != s {
			t.Fatalf("the Go client turns %d into %q (%v), FormatSince into %q", ns, sent, err, s)
		}
	}
}

// FuzzParseTimestamp: never panics, and agrees with time.Parse on what it
// accepts and on the value.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2024-03-05T06:07:08.123456789Z", "2024-03-05T06:07:08Z", "2024-03-05T06:07:08.5+02:00",
		"2024-02-29T00:00:00.000000000Z", "2023-02-29T00:00:00.000000000Z", "0000-01-01T00:00:00.000000000Z",
		"9999-12-31T23:59:59.999999999Z", "2024-01-01T00:00:00,000000000Z", "", "2024-01-01T24:00:00.000000000Z",
		strings.Repeat("9", 30),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp([]byte(s))
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (err == nil) != (werr == nil) {
			t.Fatalf("ParseTimestamp(%q) error %v, time.Parse error %v", s, err, werr)
		}
		if err == nil && got != want.UnixNano() {
			t.Fatalf("ParseTimestamp(%q) = %d, time.Parse = %d", s, got, want.UnixNano())
		}
	})
}

func BenchmarkParseTimestamp(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"fixed", "2024-03-05T06:07:08.123456789Z"},
		{"short", "2024-03-05T06:07:08.5Z"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseTimestamp(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The cache that readers use agrees with ParseTimestamp on every input, in
// any order: same minute, next minute, other forms, garbage.
func TestTimestampCacheMatchesParse(t *testing.T) {
	base := time.Date(2026, 11, 27, 9, 48, 59, 0, time.UTC)
	var inputs []string
	for i := 0; i < 2000; i++ {
		ts := base.Add(time.Duration(i) * 7919 * time.Microsecond)
		inputs = append(inputs, ts.Format("2006-01-02T15:04:05.000000000Z"))
		if i%97 == 0 {
			inputs = append(inputs, ts.Format(time.RFC3339Nano), "2026-11-27T09:48:6x.000000000Z",
				"2026-11-27T09:48:60.000000000Z", ts.Format("2006-01-02T15:04:05.000000000Z")[:29]+"X")
		}
	}
	var c timestampCache
	for _, in := range inputs {
		want, werr := ParseTimestamp([]byte(in))
		got, gerr := c.parse([]byte(in))
		if got != want || (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: cache gives %d, %v; ParseTimestamp %d, %v", in, got, gerr, want, werr)
		}
	}
}

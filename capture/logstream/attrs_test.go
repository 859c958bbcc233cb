package logstream

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// encodeAttrs is the daemon's own encoding (api/server/httputils,
// attrsByteSlice): each key and value through url.QueryEscape, "k=v" joined
// by commas.
func encodeAttrs(as []Attr) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = url.QueryEscape(a.Key) + "=" + url.QueryEscape(a.Value)
	}
	return strings.Join(parts, ",")
}

func TestSplitAndParseDetails(t *testing.T) {
	cases := []struct {
		name  string
		msg   string
		attrs []Attr
		rest  string
		err   bool
	}{
		{"one label", "team=core hello world", []Attr{{"team", "core"}}, "hello world", false},
		{"none", " hello", nil, "hello", false},
		{"several, escaped", "team=core,path=%2Fvar%2Flog,note=a+b%2Cc%3Dd message", []Attr{{"team", "core"}, {"path", "/var/log"}, {"note", "a b,c=d"}}, "message", false},
		{"empty value", "EMPTY= text", []Attr{{"EMPTY", ""}}, "text", false},
		{"empty message", "team=core ", []Attr{{"team", "core"}}, "", false},
		{"unicode", "name=%C3%A9t%C3%A9 x", []Attr{{"name", "été"}}, "x", false},
		{"no space", "team=core", nil, "", true},
		{"no equals", "team x", nil, "", true},
		{"empty key", "=v x", nil, "", true},
		{"bad escape", "k=%zz x", nil, "", true},
		{"trailing comma", "k=v, x", nil, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, rest, err := SplitDetails([]byte(tc.msg))
			var attrs []Attr
			if err == nil {
				attrs, err = ParseAttrs(nil, raw)
			}
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if err == nil && (!reflect.DeepEqual(attrs, tc.attrs) || string(rest) != tc.rest) {
				t.Errorf("got %q and %q, want %q and %q", attrs, rest, tc.attrs, tc.rest)
			}
		})
	}
}

// FuzzParseAttrs: whatever the daemon's encoding of some attributes, they
// parse back to themselves; and no input makes the parser panic.
func FuzzParseAttrs(f *testing.F) {
	f.Add("team", "core", "env", "a b,c=d%", "x")
	f.Add("", "", "k", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, msg string) {
		ParseAttrs(nil, []byte(k1+v1+k2+v2)) // must not panic
		var as []Attr
		for _, a := range []Attr{{k1, v1}, {k2, v2}} {
			if a.Key != "" {
				as = append(as, a)
			}
		}
		line := encodeAttrs(as) + " " + msg
		raw, rest, err := SplitDetails([]byte(line))
		if err != nil || string(rest) != msg {
			t.Fatalf("SplitDetails(%q) = %q, %v; want the message %q", line, rest, err, msg)
		}
		got, err := ParseAttrs(nil, raw)
		if err != nil || !reflect.DeepEqual(got, as) {
			t.Fatalf("ParseAttrs(%q) = %q, %v; want %q", raw, got, err, as)
		}
	})
}

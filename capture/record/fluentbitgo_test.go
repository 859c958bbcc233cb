//go:build cgo

// fluent-bit-go's output decoder is the reference Go reading of Fluent Bit
// records (what every Go output plugin is handed), so it is the oracle here,
// as moby's stdcopy is for frames. Its package uses cgo (C.GoBytes): this
// file needs cgo to build, and drops out without it, leaving the package's
// other tests to run.

package record

import (
	"docker_logs/capture/logstream"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

// oracleRecord is one record as fluent-bit-go reads it.
type oracleRecord struct {
	time time.Time
	body map[string]any
}

// oracleDecode reads buf with fluent-bit-go as an output plugin would read
// a chunk: records one after the other until the end.
func oracleDecode(t *testing.T, buf []byte) []oracleRecord {
	t.Helper()
	if len(buf) == 0 {
		return nil
	}
	dec := output.NewDecoder(unsafe.Pointer(&buf[0]), len(buf))
	var out []oracleRecord
	for {
		ret, ts, rec := output.GetRecord(dec)
		if ret == -1 { // the end, or bytes it cannot read: the count tells
			return out
		}
		if ret != 0 {
			t.Fatalf("record %d: fluent-bit-go GetRecord returned %d", len(out), ret)
		}
		ft, ok := ts.(output.FLBTime)
		if !ok {
			t.Fatalf("record %d: time read as %T, want an EventTime (output.FLBTime)", len(out), ts)
		}
		out = append(out, oracleRecord{ft.Time, plain(rec).(map[string]any)})
	}
}

// plain turns what the decoder returns (byte-slice strings, interface keys)
// into comparable Go values.
func plain(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(plain(k))] = plain(e)
		}
		return m
	}
	return v
}

// input is one Append call and what a reader must get back from it.
type input struct {
	c         Container
	labelKeys []string
	ts        int64
	stream    string
	line      []byte
	truncated bool
	attrs     []logstream.Attr // the daemon's details, nil for none
}

// wantTime: the instant, kept within what an EventTime holds.
func (in input) wantTime() time.Time { return time.Unix(0, min(max(in.ts, 0), maxEventTime)) }

func (in input) wantBody() map[string]any {
	m := map[string]any{
		"log": string(in.line), "stream": in.stream,
		"container_id": in.c.ID, "container_name": in.c.Name, "container_image": in.c.Image,
	}
	if labels := selectLabels(in.c.Labels, in.labelKeys); labels != nil {
		lm := map[string]any{}
		for k, v := range labels {
			lm[k] = v
		}
		m["labels"] = lm
	}
	if in.truncated {
		m["log_truncated"] = true
	}
	if in.attrs != nil {
		am := map[string]any{}
		for _, a := range in.attrs {
			am[a.Key] = a.Value // the last of a key given twice
		}
		m["attrs"] = am
	}
	return m
}

// checkOracle encodes inputs into one buffer, as one collect hands them
// over, and checks fluent-bit-go reads each back with its time to the
// nanosecond and its fields.
func checkOracle(t *testing.T, inputs []input) {
	t.Helper()
	var buf []byte
	for _, in := range inputs {
		var attrs []byte
		if in.attrs != nil {
			attrs = EncodeAttrs(nil, in.attrs)
		}
		buf = NewEncoder(in.c, Fields{LabelKeys: in.labelKeys}).Append(buf, in.ts, in.stream, in.line, in.truncated, attrs)
	}
	got := oracleDecode(t, buf)
	if len(got) != len(inputs) {
		t.Fatalf("fluent-bit-go read %d records, want %d", len(got), len(inputs))
	}
	for i, in := range inputs {
		if want := in.wantTime(); !got[i].time.Equal(want) {
			t.Errorf("record %d (ts %d): time %v, want %v", i, in.ts, got[i].time.UTC(), want.UTC())
		}
		if want := in.wantBody(); !reflect.DeepEqual(got[i].body, want) {
			t.Errorf("record %d: body\n %q\nwant\n %q", i, got[i].body, want)
		}
	}
}

func TestFluentBitGoReadsRecords(t *testing.T) {
	const ts = 1709618828123456789
	bare := Container{ID: strings.Repeat("ab", 32), Name: "n", Image: "i"}
	tests := []struct {
		name string
		in   input
	}{
		{"plain line", input{c: testContainer, ts: ts, stream: "stdout", line: []byte("hello world")}},
		{"empty line", input{c: testContainer, ts: ts, stream: "stderr", line: []byte{}}},
		{"nil line", input{c: testContainer, ts: ts, stream: "stdout"}},
		{"tty", input{c: testContainer, ts: ts, stream: "tty", line: []byte("\x1b[32mok\x1b[0m")}},
		{"invalid UTF-8", input{c: testContainer, ts: ts, stream: "stdout", line: []byte("bad \xff\xfe\xc3\x28 end")}},
		{"binary bytes", input{c: testContainer, ts: ts, stream: "stdout", line: []byte{0, 1, 0x7f, 0x80, 0xc1, 0xff, '\r', 0}}},
		{"long line (str32)", input{c: testContainer, ts: ts, stream: "stdout", line: []byte(strings.Repeat("c", 70000))}},
		{"truncated", input{c: testContainer, ts: ts, stream: "stderr", line: []byte("cut"), truncated: true}},
		{"all labels", input{c: testContainer, labelKeys: []string{"*"}, ts: ts, stream: "stdout", line: []byte("x")}},
		{"named labels", input{c: testContainer, labelKeys: []string{"tier", "missing"}, ts: ts, stream: "stdout", line: []byte("x")}},
		{"no label present", input{c: testContainer, labelKeys: []string{"missing"}, ts: ts, stream: "stdout", line: []byte("x")}},
		{"all labels of none", input{c: bare, labelKeys: []string{"*"}, ts: ts, stream: "stdout", line: []byte("x")}},
		{"labels and truncated", input{c: testContainer, labelKeys: []string{"*"}, ts: ts, stream: "stdout", line: []byte("x"), truncated: true}},
		{"empty metadata", input{ts: ts, stream: "stdout", line: []byte("x")}},
		{"attrs", input{c: testContainer, ts: ts, stream: "stdout", line: []byte("x"), attrs: []logstream.Attr{{Key: "team", Value: "core"}, {Key: "env", Value: "a b,c=d"}}}},
		{"attrs, a key twice", input{c: testContainer, ts: ts, stream: "stdout", line: []byte("x"), attrs: []logstream.Attr{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}}},
		{"no attrs on the line", input{c: testContainer, ts: ts, stream: "stdout", line: []byte("x"), attrs: []logstream.Attr{}}},
		{"attrs, labels and truncated", input{c: testContainer, labelKeys: []string{"*"}, ts: ts, stream: "stdout", line: []byte("x"), truncated: true, attrs: []logstream.Attr{{Key: "a", Value: ""}}}},
		{"epoch", input{c: bare, ts: 0, stream: "stdout", line: []byte("x")}},
		{"one nanosecond", input{c: bare, ts: 1, stream: "stdout", line: []byte("x")}},
		{"last nanosecond of a second", input{c: bare, ts: 1e9 - 1, stream: "stdout", line: []byte("x")}},
		{"after 2038", input{c: bare, ts: 1<<31*1e9 + 5, stream: "stdout", line: []byte("x")}},
		{"last EventTime", input{c: bare, ts: maxEventTime, stream: "stdout", line: []byte("x")}},
		{"beyond EventTime: clamped", input{c: bare, ts: 1<<63 - 1, stream: "stdout", line: []byte("x")}},
		{"before the epoch: clamped", input{c: bare, ts: -5, stream: "stdout", line: []byte("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOracle(t, []input{tt.in}) })
	}
}

// Many generated records, in buffers of many records each, all read back by
// fluent-bit-go as they were written.
func TestFluentBitGoReadsGeneratedRecords(t *testing.T) {
	const seed = 12
	r := rand.New(rand.NewPCG(seed, seed))
	str := func(max int) string {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256)) // anything, invalid UTF-8 included
			} else {
				b[i] = byte('a' + r.IntN(26))
			}
		}
		return string(b)
	}
	containers := make([]Container, 20)
	for i := range containers {
		c := Container{ID: str(64), Name: str(20), Image: str(40)}
		if r.IntN(3) > 0 {
			c.Labels = map[string]string{}
			for range r.IntN(8) {
				c.Labels[str(12)+"ü"] = str(30)
			}
		}
		containers[i] = c
	}
	records := 0
	for batch := 0; records < 5000; batch++ {
		inputs := make([]input, 1+r.IntN(60))
		for i := range inputs {
			c := containers[r.IntN(len(containers))]
			var keys []string
			switch r.IntN(4) {
			case 1:
				keys = []string{"*"}
			case 2:
				for k := range c.Labels {
					if r.IntN(2) == 0 {
						keys = append(keys, k)
					}
				}
				keys = append(keys, "absent")
			}
			var ts int64
			switch r.IntN(10) {
			case 0:
				ts = []int64{0, 1, 1e9 - 1, 1e9, maxEventTime, maxEventTime + 1, -1, 1<<63 - 1}[r.IntN(8)]
			default:
				ts = r.Int64N(maxEventTime + 1) // any nanosecond EventTime holds
			}
			n := r.IntN(200)
			if r.IntN(50) == 0 {
				n = 16<<10 + r.IntN(100<<10) // long, past the daemon's 16 KiB chunks
			}
			var attrs []logstream.Attr
			if r.IntN(4) == 0 {
				attrs = []logstream.Attr{}
				for range r.IntN(4) {
					attrs = append(attrs, logstream.Attr{Key: str(10) + "k", Value: str(30)})
				}
			}
			inputs[i] = input{c: c, labelKeys: keys, ts: ts, stream: []string{"stdout", "stderr", "tty"}[r.IntN(3)],
				line: []byte(str(n)), truncated: r.IntN(8) == 0, attrs: attrs}
		}
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) { checkOracle(t, inputs) })
		records += len(inputs)
		if t.Failed() {
			t.Fatalf("seed %d: stopping at the first failing batch", seed)
		}
	}
}

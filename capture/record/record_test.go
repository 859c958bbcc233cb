package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// A small msgpack decoder, independent of the encoder's library, strict
// about what Fluent Bit's decoder reads.

type str string // a msgpack str (bin is []byte)

type ext struct {
	typ  int8
	data []byte
	code byte // the first byte: fixext8 0xd7, ext8 0xc7, ...
}

type kv struct {
	key str
	val any
}

type mapv []kv // in encoded order

func (m mapv) get(k string) (any, bool) {
	for _, e := range m {
		if string(e.key) == k {
			return e.val, true
		}
	}
	return nil, false
}

func (m mapv) keys() []string {
	var ks []string
	for _, e := range m {
		ks = append(ks, string(e.key))
	}
	return ks
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("short input: want %d bytes, have %d", n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uint(n int) uint64 {
	var v uint64
	for _, c := range d.take(n) {
		v = v<<8 | uint64(c)
	}
	return v
}

func (d *decoder) value() any {
	c := d.take(1)
	if c == nil {
		return nil
	}
	switch b := c[0]; {
	case b <= 0x7f:
		return int64(b)
	case b >= 0xe0:
		return int64(int8(b))
	case b&0xf0 == 0x80:
		return d.mapOf(int(b & 0x0f))
	case b&0xf0 == 0x90:
		return d.arrayOf(int(b & 0x0f))
	case b&0xe0 == 0xa0:
		return str(d.take(int(b & 0x1f)))
	case b == 0xc0:
		return nil
	case b == 0xc2:
		return false
	case b == 0xc3:
		return true
	case b == 0xc4, b == 0xc5, b == 0xc6:
		return bytes.Clone(d.take(int(d.uint(1 << (b - 0xc4)))))
	case b == 0xc7, b == 0xc8, b == 0xc9:
		n := int(d.uint(1 << (b - 0xc7)))
		typ := d.take(1)
		if typ == nil {
			return nil
		}
		return ext{typ: int8(typ[0]), data: d.take(n), code: b}
	case b >= 0xcc && b <= 0xcf:
		return d.uint(1 << (b - 0xcc))
	case b >= 0xd0 && b <= 0xd3:
		return int64(d.uint(1 << (b - 0xd0)))
	case b >= 0xd4 && b <= 0xd8:
		typ := d.take(1)
		if typ == nil {
			return nil
		}
		return ext{typ: int8(typ[0]), data: d.take(1 << (b - 0xd4)), code: b}
	case b == 0xd9, b == 0xda, b == 0xdb:
		return str(d.take(int(d.uint(1 << (b - 0xd9)))))
	case b == 0xdc, b == 0xdd:
		return d.arrayOf(int(d.uint(2 << (b - 0xdc))))
	case b == 0xde, b == 0xdf:
		return d.mapOf(int(d.uint(2 << (b - 0xde))))
	default:
		d.fail("unsupported msgpack byte %#x", b)
		return nil
	}
}

func (d *decoder) arrayOf(n int) []any {
	var out []any
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.value())
	}
	return out
}

func (d *decoder) mapOf(n int) mapv {
	out := mapv{}
	seen := map[str]bool{}
	for i := 0; i < n && d.err == nil; i++ {
		k, ok := d.value().(str)
		if !ok {
			d.fail("map key is not a string")
			return out
		}
		if seen[k] {
			d.fail("duplicate map key %q", k)
		}
		seen[k] = true
		out = append(out, kv{k, d.value()})
	}
	return out
}

// record is one decoded Fluent Bit record.
type record struct {
	sec, nsec uint32
	extCode   byte
	body      mapv
}

// decodeRecords reads records laid end to end, the way Fluent Bit reads
// the buffer: each a 2-array of an EventTime (ext 0, 8 bytes) and a map.
func decodeRecords(b []byte) ([]record, error) {
	d := &decoder{b: b}
	var out []record
	for len(d.b) > 0 && d.err == nil {
		v := d.value()
		if d.err != nil {
			break
		}
		arr, ok := v.([]any)
		if !ok || len(arr) != 2 {
			return out, fmt.Errorf("record is %T %v, want a 2-element array", v, v)
		}
		ts, ok := arr[0].(ext)
		if !ok {
			return out, fmt.Errorf("timestamp is %T, want an ext", arr[0])
		}
		if ts.typ != 0 || len(ts.data) != 8 {
			return out, fmt.Errorf("timestamp is ext type %d of %d bytes, want type 0 of 8 bytes", ts.typ, len(ts.data))
		}
		body, ok := arr[1].(mapv)
		if !ok {
			return out, fmt.Errorf("body is %T, want a map", arr[1])
		}
		out = append(out, record{
			sec: binary.BigEndian.Uint32(ts.data), nsec: binary.BigEndian.Uint32(ts.data[4:]),
			extCode: ts.code, body: body,
		})
	}
	return out, d.err
}

func decodeOne(t *testing.T, b []byte) record {
	t.Helper()
	recs, err := decodeRecords(b)
	if err != nil {
		t.Fatalf("decoding % x: %v", b[:min(len(b), 64)], err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	// The encoder's own library agrees the bytes are one well-formed object.
	if rest, err := msgp.Skip(b); err != nil || len(rest) != 0 {
		t.Fatalf("msgp.Skip: %v, %d bytes left", err, len(rest))
	}
	return recs[0]
}

func strField(t *testing.T, body mapv, key string) string {
	t.Helper()
	v, ok := body.get(key)
	if !ok {
		t.Fatalf("body has no %q: keys %v", key, body.keys())
	}
	s, ok := v.(str)
	if !ok {
		t.Fatalf("%q is %T, want a msgpack string", key, v)
	}
	return string(s)
}

var testContainer = Container{
	ID:    "4f1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
	Name:  "web-1",
	Image: "nginx:1.25",
	Labels: map[string]string{
		"com.docker.compose.project": "shop",
		"app":                        "web",
		"tier":                       "frontend",
		"ünïcode":                    "välue",
	},
}

func TestAppendRecord(t *testing.T) {
	const ts, sec, nsec = 1709618828123456789, 1709618828, 123456789
	tests := []struct {
		name      string
		c         Container
		labelKeys []string
		stream    string
		line      []byte
		truncated bool
		labels    map[string]string // nil: no labels field
		labelSeq  []string          // the labels' keys in encoded order
	}{
		{name: "plain line, no labels asked", c: testContainer, stream: "stdout", line: []byte("hello world")},
		{name: "empty label_keys", c: testContainer, labelKeys: []string{}, stream: "stderr", line: []byte("x")},
		{name: "empty line", c: testContainer, stream: "stdout", line: []byte{}},
		{name: "nil line", c: testContainer, stream: "stdout", line: nil},
		{name: "tty stream", c: testContainer, stream: "tty", line: []byte("\x1b[32mok\x1b[0m")},
		{name: "invalid UTF-8 kept byte for byte", c: testContainer, stream: "stdout", line: []byte("bad \xff\xfe\xc3\x28 end")},
		{name: "binary bytes kept", c: testContainer, stream: "stdout", line: []byte{0, 1, 2, 0x7f, 0x80, 0xc1, 0xff, '\r', '\n', 0}},
		{name: "31-byte line (fixstr)", c: testContainer, stream: "stdout", line: bytes.Repeat([]byte{'a'}, 31)},
		{name: "32-byte line (str8)", c: testContainer, stream: "stdout", line: bytes.Repeat([]byte{'a'}, 32)},
		{name: "300-byte line (str16)", c: testContainer, stream: "stdout", line: bytes.Repeat([]byte{'b'}, 300)},
		{name: "70000-byte line (str32)", c: testContainer, stream: "stdout", line: bytes.Repeat([]byte{'c'}, 70000)},
		{name: "truncated line", c: testContainer, stream: "stderr", line: []byte("cut"), truncated: true},
		{
			name: "all labels, sorted", c: testContainer, labelKeys: []string{"*"}, stream: "stdout", line: []byte("x"),
			labels:   testContainer.Labels,
			labelSeq: []string{"app", "com.docker.compose.project", "tier", "ünïcode"},
		},
		{
			name: "named labels, only those present, sorted", c: testContainer,
			labelKeys: []string{"tier", "missing", "app"}, stream: "stdout", line: []byte("x"),
			labels:   map[string]string{"app": "web", "tier": "frontend"},
			labelSeq: []string{"app", "tier"},
		},
		{
			name: "named labels, none present", c: testContainer, labelKeys: []string{"missing"}, stream: "stdout", line: []byte("x"),
			labels: map[string]string{},
		},
		{
			name: "all labels of a container without labels", c: Container{ID: "id", Name: "n", Image: "i"},
			labelKeys: []string{"*"}, stream: "stdout", line: []byte("x"),
			labels: map[string]string{},
		},
		{
			name: "all labels with truncation", c: testContainer, labelKeys: []string{"*"}, stream: "stdout",
			line: []byte("x"), truncated: true,
			labels:   testContainer.Labels,
			labelSeq: []string{"app", "com.docker.compose.project", "tier", "ünïcode"},
		},
		{name: "empty metadata", c: Container{}, stream: "stdout", line: []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := NewEncoder(tt.c, Fields{LabelKeys: tt.labelKeys})
			rec := decodeOne(t, enc.Append(nil, ts, tt.stream, tt.line, tt.truncated, nil))
			if rec.sec != sec || rec.nsec != nsec {
				t.Errorf("timestamp %d.%09d, want %d.%09d", rec.sec, rec.nsec, sec, nsec)
			}
			if rec.extCode != 0xd7 && rec.extCode != 0xc7 {
				t.Errorf("timestamp written with msgpack code %#x", rec.extCode)
			}
			want := []string{"log", "stream", "container_id", "container_name", "container_image"}
			if tt.labels != nil {
				want = append(want, "labels")
			}
			if tt.truncated {
				want = append(want, "log_truncated")
			}
			if got := rec.body.keys(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("body keys %v, want %v", got, want)
			}
			if got := strField(t, rec.body, "log"); got != string(tt.line) {
				t.Errorf("log = %q, want %q", got, tt.line)
			}
			for key, want := range map[string]string{
				"stream": tt.stream, "container_id": tt.c.ID, "container_name": tt.c.Name, "container_image": tt.c.Image,
			} {
				if got := strField(t, rec.body, key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			if tt.truncated {
				if v, _ := rec.body.get("log_truncated"); v != true {
					t.Errorf("log_truncated = %v, want true", v)
				}
			}
			if tt.labels != nil {
				v, _ := rec.body.get("labels")
				m, ok := v.(mapv)
				if !ok {
					t.Fatalf("labels is %T, want a map", v)
				}
				if len(m) != len(tt.labels) {
					t.Errorf("labels %v, want %v", m, tt.labels)
				}
				for _, e := range m {
					if s, ok := e.val.(str); !ok || string(s) != tt.labels[string(e.key)] {
						t.Errorf("label %q = %v, want %q", e.key, e.val, tt.labels[string(e.key)])
					}
				}
				if tt.labelSeq != nil && strings.Join(m.keys(), ",") != strings.Join(tt.labelSeq, ",") {
					t.Errorf("labels in order %v, want %v", m.keys(), tt.labelSeq)
				}
			}
		})
	}
}

// TestAppendTimestamp: EventTime seconds and nanoseconds for a range of
// instants; never the group markers (seconds 0xFFFFFFFF, 0xFFFFFFFE), never
// nanoseconds of 1e9 or more.
func TestAppendTimestamp(t *testing.T) {
	tests := []struct {
		ts        int64
		sec, nsec uint32
	}{
		{ts: 0, sec: 0, nsec: 0},
		{ts: 1, sec: 0, nsec: 1},
		{ts: 999999999, sec: 0, nsec: 999999999},
		{ts: 1e9, sec: 1, nsec: 0},
		{ts: 1709618828123456789, sec: 1709618828, nsec: 123456789},
		{ts: 1<<31*1e9 + 5, sec: 1 << 31, nsec: 5}, // after 2038: unsigned seconds
		{ts: 0xFFFFFFFD*1e9 + 999999999, sec: 0xFFFFFFFD, nsec: 999999999},
		// Out of EventTime's range: clamped, never a marker nor a wrap.
		{ts: 0xFFFFFFFE * 1e9, sec: 0xFFFFFFFD, nsec: 999999999},
		{ts: 0xFFFFFFFF*1e9 + 7, sec: 0xFFFFFFFD, nsec: 999999999},
		{ts: 1<<63 - 1, sec: 0xFFFFFFFD, nsec: 999999999},
		{ts: -1, sec: 0, nsec: 0},
		{ts: -1e18, sec: 0, nsec: 0},
	}
	enc := NewEncoder(testContainer, Fields{})
	for _, tt := range tests {
		rec := decodeOne(t, enc.Append(nil, tt.ts, "stdout", []byte("x"), false, nil))
		if rec.sec != tt.sec || rec.nsec != tt.nsec {
			t.Errorf("ts %d: EventTime %d.%09d, want %d.%09d", tt.ts, rec.sec, rec.nsec, tt.sec, tt.nsec)
		}
	}
}

// TestAppendRecordsEndToEnd: records appended to one buffer decode one after
// the other, each with its own line, as Fluent Bit reads a tick's buffer.
func TestAppendRecordsEndToEnd(t *testing.T) {
	enc := NewEncoder(testContainer, Fields{LabelKeys: []string{"app"}})
	var buf []byte
	for i := 0; i < 100; i++ {
		buf = enc.Append(buf, int64(1700000000+i)*1e9+int64(i), []string{"stdout", "stderr"}[i%2],
			[]byte(strings.Repeat("x", i*7)), i%10 == 0, nil)
	}
	recs, err := decodeRecords(buf)
	if err != nil || len(recs) != 100 {
		t.Fatalf("decoded %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.sec != uint32(1700000000+i) || r.nsec != uint32(i) {
			t.Fatalf("record %d: time %d.%d", i, r.sec, r.nsec)
		}
		if got := strField(t, r.body, "log"); got != strings.Repeat("x", i*7) {
			t.Fatalf("record %d: log of %d bytes, want %d", i, len(got), i*7)
		}
		if _, ok := r.body.get("log_truncated"); ok != (i%10 == 0) {
			t.Fatalf("record %d: log_truncated present=%v", i, ok)
		}
	}
}

func TestEncoderAppendNoAlloc(t *testing.T) {
	enc := NewEncoder(testContainer, Fields{LabelKeys: []string{"*"}})
	line := bytes.Repeat([]byte{'m'}, 100)
	buf := enc.Append(nil, 1709618828123456789, "stdout", line, true, nil)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = enc.Append(buf[:0], 1709618828123456789, "stdout", line, false, nil)
	})
	if allocs != 0 {
		t.Fatalf("Append allocates %.1f times per record, want 0", allocs)
	}
}

func BenchmarkEncoderAppend(b *testing.B) {
	for _, bc := range []struct {
		name      string
		labelKeys []string
		n         int
	}{
		{"100B no labels", nil, 100},
		{"100B all labels", []string{"*"}, 100},
		{"16KB", nil, 16 << 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			enc := NewEncoder(testContainer, Fields{LabelKeys: bc.labelKeys})
			line := bytes.Repeat([]byte{'m'}, bc.n)
			buf := enc.Append(nil, 1709618828123456789, "stdout", line, true, nil)
			b.SetBytes(int64(bc.n))
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.Append(buf[:0], 1709618828123456789, "stdout", line, false, nil)
			}
		})
	}
}

// The host field, and a flat field for each Compose and Swarm label
// present, after the container's own fields and before the labels map.
func TestHostComposeAndSwarmFields(t *testing.T) {
	compose := map[string]string{
		"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
		"com.docker.compose.container-number": "2", "com.docker.compose.oneoff": "False",
		"com.docker.compose.version": "2.29.1",
	}
	swarm := map[string]string{
		"com.docker.swarm.service.name": "shop_api", "com.docker.swarm.task.name": "shop_api.1.x7b2",
		"com.docker.swarm.node.id": "n0d3", "com.docker.swarm.task.id": "x7b2", "com.docker.stack.namespace": "shop",
	}
	base := []string{"log", "stream", "container_id", "container_name", "container_image"}
	tests := []struct {
		name   string
		c      Container
		f      Fields
		keys   []string
		values map[string]string
	}{
		{"none", Container{ID: "i", Labels: map[string]string{"app": "x"}}, Fields{ComposeSwarm: true}, base, nil},
		{"host", Container{ID: "i", Host: "node-7"}, Fields{}, append(base[:5:5], "host"), map[string]string{"host": "node-7"}},
		{"compose", Container{ID: "i", Labels: compose}, Fields{ComposeSwarm: true},
			append(base[:5:5], "compose_project", "compose_service", "compose_container_number", "compose_oneoff"),
			map[string]string{"compose_project": "shop", "compose_service": "web", "compose_container_number": "2", "compose_oneoff": "False"}},
		{"swarm, with host and labels", Container{ID: "i", Host: "node-7", Labels: swarm}, Fields{ComposeSwarm: true, LabelKeys: []string{"com.docker.swarm.task.id"}},
			append(base[:5:5], "host", "swarm_service", "swarm_task", "swarm_node_id", "swarm_stack", "labels"),
			map[string]string{"swarm_service": "shop_api", "swarm_task": "shop_api.1.x7b2", "swarm_node_id": "n0d3", "swarm_stack": "shop"}},
		{"turned off", Container{ID: "i", Labels: compose}, Fields{}, base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := decodeOne(t, NewEncoder(tt.c, tt.f).Append(nil, 1, "stdout", []byte("x"), false, nil))
			if got := rec.body.keys(); strings.Join(got, ",") != strings.Join(tt.keys, ",") {
				t.Fatalf("body keys %v, want %v", got, tt.keys)
			}
			for k, want := range tt.values {
				if got := strField(t, rec.body, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

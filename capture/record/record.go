// Package record encodes log lines as Fluent Bit records: [EventTime, {log,
// stream, container_id, container_name, container_image, labels?, ...}].
package record

import (
	"slices"
	"sort"

	"github.com/tinylib/msgp/msgp"

	"docker_logs/capture/logstream"
)

// Container is the metadata every record of one container carries.
type Container struct {
	ID     string
	Name   string // without the leading slash
	Image  string // as the container was created with
	Labels map[string]string
	Host   string // the host it runs on; "" for no host field
}

// Fields chooses the metadata fields besides the container's own.
type Fields struct {
	// LabelKeys selects the labels to add as a "labels" map: nil adds
	// none, ["*"] adds all.
	LabelKeys []string
	// ComposeSwarm adds a field for each Compose and Swarm label present
	// (composeSwarm).
	ComposeSwarm bool
}

// composeSwarm are the labels Compose and Swarm set, and the flat fields
// they become: flat snake_case names are fields in Elasticsearch and
// OpenSearch and labels in Loki as they are, where a dotted name would be
// split into objects or refused.
var composeSwarm = []struct{ label, field string }{
	{"com.docker.compose.project", "compose_project"},
	{"com.docker.compose.service", "compose_service"},
	{"com.docker.compose.container-number", "compose_container_number"},
	{"com.docker.compose.oneoff", "compose_oneoff"},
	{"com.docker.swarm.service.name", "swarm_service"},
	{"com.docker.swarm.task.name", "swarm_task"},
	{"com.docker.swarm.node.id", "swarm_node_id"},
	{"com.docker.stack.namespace", "swarm_stack"},
}

// Encoder writes the records of one container. The metadata fields are
// encoded once, so a record costs little more than copying its line.
type Encoder struct {
	fields   uint32 // body fields besides log, stream and log_truncated
	metadata []byte
	ts       eventTime
}

// NewEncoder prepares the metadata of c, with the fields f chooses.
func NewEncoder(c Container, f Fields) *Encoder {
	e := &Encoder{fields: 3}
	b := msgp.AppendString(nil, "container_id")
	b = msgp.AppendString(b, c.ID)
	b = msgp.AppendString(b, "container_name")
	b = msgp.AppendString(b, c.Name)
	b = msgp.AppendString(b, "container_image")
	b = msgp.AppendString(b, c.Image)
	if c.Host != "" {
		e.fields++
		b = msgp.AppendString(b, "host")
		b = msgp.AppendString(b, c.Host)
	}
	for _, cs := range composeSwarm {
		if v, ok := c.Labels[cs.label]; ok && f.ComposeSwarm {
			e.fields++
			b = msgp.AppendString(b, cs.field)
			b = msgp.AppendString(b, v)
		}
	}
	if labels := selectLabels(c.Labels, f.LabelKeys); labels != nil {
		e.fields++
		b = msgp.AppendString(b, "labels")
		b = msgp.AppendMapHeader(b, uint32(len(labels)))
		for _, k := range sortedKeys(labels) {
			b = msgp.AppendString(b, k)
			b = msgp.AppendString(b, labels[k])
		}
	}
	e.metadata = b
	return e
}

func selectLabels(all map[string]string, keys []string) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	if len(keys) == 1 && keys[0] == "*" {
		if all == nil {
			return map[string]string{} // asked for: present, if empty
		}
		return all
	}
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Append appends one record to dst. ts is in Unix nanoseconds; stream is
// "stdout", "stderr" or "tty"; attrs, a msgpack map from EncodeAttrs,
// becomes the "attrs" field (nil for none).
func (e *Encoder) Append(dst []byte, ts int64, stream string, line []byte, truncated bool, attrs []byte) []byte {
	fields := e.fields + 2
	if truncated {
		fields++
	}
	if attrs != nil {
		fields++
	}
	dst = msgp.AppendArrayHeader(dst, 2)
	// EventTime holds unsigned 32-bit seconds, and Fluent Bit reads seconds
	// 0xFFFFFFFE and 0xFFFFFFFF as group markers: clamp, never wrap.
	ts = min(max(ts, 0), maxEventTime)
	e.ts = eventTime{sec: uint32(ts / 1e9), nsec: uint32(ts % 1e9)}
	dst, _ = msgp.AppendExtension(dst, &e.ts) // eventTime.MarshalBinaryTo never fails
	dst = msgp.AppendMapHeader(dst, fields)
	dst = msgp.AppendString(dst, "log")
	dst = msgp.AppendStringFromBytes(dst, line)
	dst = msgp.AppendString(dst, "stream")
	dst = msgp.AppendString(dst, stream)
	dst = append(dst, e.metadata...)
	if truncated {
		dst = msgp.AppendString(dst, "log_truncated")
		dst = msgp.AppendBool(dst, true)
	}
	if attrs != nil {
		dst = msgp.AppendString(dst, "attrs")
		dst = append(dst, attrs...)
	}
	return dst
}

// EncodeAttrs encodes the daemon's log attributes as the msgpack map that
// AppendWithAttrs takes. A key given twice keeps its last value.
func EncodeAttrs(dst []byte, attrs []logstream.Attr) []byte {
	keep := attrs[:0:0]
	for i, a := range attrs {
		if !slices.ContainsFunc(attrs[i+1:], func(b logstream.Attr) bool { return b.Key == a.Key }) {
			keep = append(keep, a)
		}
	}
	dst = msgp.AppendMapHeader(dst, uint32(len(keep)))
	for _, a := range keep {
		dst = msgp.AppendString(dst, a.Key)
		dst = msgp.AppendString(dst, a.Value)
	}
	return dst
}

// maxEventTime is the last instant, in Unix nanoseconds, an EventTime can
// carry that is not a group marker.
const maxEventTime = 0xFFFFFFFD*1e9 + 999999999

// eventTime is Fluent Bit's EventTime: msgpack ext type 0 holding big-endian
// seconds and nanoseconds. Fluent Bit rejects the standard timestamp (-1).
type eventTime struct{ sec, nsec uint32 }

func (t *eventTime) ExtensionType() int8 { return 0 }
func (t *eventTime) Len() int            { return 8 }

func (t *eventTime) MarshalBinaryTo(b []byte) error {
	b[0], b[1], b[2], b[3] = byte(t.sec>>24), byte(t.sec>>16), byte(t.sec>>8), byte(t.sec)
	b[4], b[5], b[6], b[7] = byte(t.nsec>>24), byte(t.nsec>>16), byte(t.nsec>>8), byte(t.nsec)
	return nil
}

func (t *eventTime) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return msgp.ErrShortBytes
	}
	t.sec = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	t.nsec = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	return nil
}

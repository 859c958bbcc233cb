package capture

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"docker_logs/capture/handover"
	"docker_logs/capture/ledger"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
	"docker_logs/capture/record"
	"docker_logs/capture/resume"
)

// lpLoopReader serves a prebuilt stream over and over, like a daemon that
// never runs out of lines, without allocating.
type lpLoopReader struct {
	data []byte
	off  int
}

func (r *lpLoopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// lpStream builds a multiplexed logs stream (timestamps=1) of n stdout lines
// of size bytes each, without their newline.
func lpStream(n, size int) []byte {
	var out []byte
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= n; i++ {
		prefix := fmt.Sprintf("seq=%d stream=stdout id=bench len=%d ", i, size)
		line := prefix + strings.Repeat("x", size-len(prefix))
		payload := ts.Add(time.Duration(i)*time.Microsecond).Format("2006-01-02T15:04:05.000000000Z07:00") + " " + line + "\n"
		var h [8]byte
		h[0] = byte(logstream.Stdout)
		binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
		out = append(append(out, h[:]...), payload...)
	}
	return out
}

// BenchmarkLinePath measures everything the plugin does per line except the
// network: frame parsing (logstream.Reader), reassembly (Assembler), the
// position, record encoding, the engine's buffer, and the collect that copies
// the buffer into memory standing in for Fluent Bit's (C) buffer. One op is
// one 100-byte line.
func BenchmarkLinePath(b *testing.B) {
	const (
		lineSize     = 100
		limit        = 16 << 20 // buffer_max_size's default
		collectEvery = 8192     // lines per collect: about 2 MiB of records
	)
	src := &lpLoopReader{data: lpStream(4096, lineSize)}
	id := strings.Repeat("0123456789abcdef", 4)
	slot := &resume.Pending{ID: id}
	enc := record.NewEncoder(record.Container{ID: id, Name: "bench-linepath-0", Image: "docker-logs-test:latest"}, record.Fields{})
	r := logstream.NewReader(src, false, 1<<20+logstream.ChunkSize)
	asm := logstream.NewAssembler(1 << 20)
	// The plugin's blocks are C memory, malloc'd and freed every collect:
	// recycling stands in for malloc reusing what free gave back.
	m := metrics.NewInput("bench_linepath", true)
	defer m.Close()
	mem := &recyclingMemory{}
	buf := handover.New(limit, mem, ledger.Open("", time.Second, m, slog.New(slog.DiscardHandler)), m)
	collect := func() { mem.Free(buf.Take()) } // Fluent Bit copies the block, then frees it
	ctx := context.Background()
	cur := resume.NewCursor(resume.Head())
	cur.Begin(resume.Plan{Tail: -1}, 0)
	scratch := make([]byte, 0, 1024)

	step := func(i int) {
		e, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		if !e.TSValid || cur.Accept(e.Stream, e.TS, e.Msg) != resume.Take {
			b.Fatal("entry without a timestamp or not taken")
		}
		line, ok := asm.Add(e)
		if !ok {
			b.Fatal("partial line")
		}
		scratch = enc.Append(scratch[:0], line.TS, line.Stream.String(), line.Msg, line.Truncated, nil)
		if err := buf.Add(ctx, scratch, line.Stream, len(line.Msg), slot, cur.PositionAfterLine(line.Stream), time.Time{}); err != nil {
			b.Fatal(err)
		}
		cur.LineHandedOver(line.Stream)
		if i%collectEvery == 0 {
			collect()
		}
	}
	// One collect cycle first, so the reader's and the buffer's memory is
	// in place: what follows is the steady state.
	for i := 1; i <= collectEvery; i++ {
		step(i)
	}

	b.SetBytes(lineSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		step(i)
	}
	collect()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
}

// recyclingMemory hands out again the largest block given back.
type recyclingMemory struct{ spare []byte }

func (m *recyclingMemory) Alloc(n int) []byte {
	if cap(m.spare) >= n {
		b := m.spare[:0]
		m.spare = nil
		return b
	}
	return make([]byte, 0, n)
}

func (m *recyclingMemory) Grow(b []byte, n int) []byte {
	nb := append(m.Alloc(n), b...)
	m.Free(b)
	return nb
}

func (m *recyclingMemory) Free(b []byte) {
	if cap(b) > cap(m.spare) {
		m.spare = b
	}
}

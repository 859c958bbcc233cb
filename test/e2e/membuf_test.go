package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// overLimit matches Fluent Bit's log line when it pauses an input over its
// mem_buf_limit (src/flb_input_chunk.c): the size the input's chunks
// reached with the hand-over that took it past the limit.
var overLimit = regexp.MustCompile(`\[input\] (\S+) paused \(mem buf overlimit - event of size \d+B exceeded limit (\d+) to (\d+)B\)`)

// In the real Fluent Bit, an input with mem_buf_limit 512K whose output
// never takes anything: Fluent Bit checks the limit only after it appended
// a whole hand-over, so the plugin's hand-overs bound how far past the
// limit the input's memory goes. A backlog of 300,000 lines (about 85 MB of
// records) is waiting; the input's chunks stay under 2 MiB past the limit,
// and resume does not let the next hand-over overshoot further.
func TestMemBufLimitHeld(t *testing.T) {
	prefix := uniqueName(t)
	id := runLogger(t, prefix, nil, "-n", "300000", "-rate", "0")
	waitLastLine(t, id, "seq=300000", 60*time.Second)
	// Nothing listens there: every flush fails and is retried, so the
	// chunks stay in memory.
	host, port, _ := strings.Cut(freeAddr(t), ":")
	h := startFluentBit(t, fbRun{
		inputs: [][]string{{"include_names=" + prefix, "read_from_head=on", "metrics_listen=off", "mem_buf_limit=512K"}},
		outputs: []fbOutput{{"name": "tcp", "match": "in.0", "host": host, "port": port, "format": "json_lines",
			"retry_limit": "no_limits"}},
	})
	h.waitStderr(t, "paused (mem buf overlimit", 30*time.Second)
	// Over three collect ticks, a paused input hands nothing over. Fluent
	// Bit counts the records of the hand-over that paused it after the
	// pause: the count is read a tick later.
	time.Sleep(time.Second)
	paused := fbRecords(t, h, 0)
	time.Sleep(3 * time.Second)
	if n := fbRecords(t, h, 0); n != paused {
		t.Errorf("Fluent Bit appended %d records while the input was paused", n-paused)
	}
	ms := overLimit.FindAllStringSubmatch(h.stderr.String(), -1)
	if len(ms) == 0 {
		t.Fatalf("no pause line in Fluent Bit's log")
	}
	for _, m := range ms {
		limit, _ := strconv.Atoi(m[2])
		reached, _ := strconv.Atoi(m[3])
		t.Logf("%s paused with its chunks at %d bytes, limit %d: %.2f MiB past it", m[1], reached, limit, float64(reached-limit)/(1<<20))
		if reached-limit >= 2<<20 {
			t.Errorf("the input's chunks reached %d bytes, %d past the %d mem_buf_limit: want under 2 MiB past it", reached, reached-limit, limit)
		}
	}
}

package resume

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"docker_logs/capture/logstream"
)

const (
	out = logstream.Stdout
	err = logstream.Stderr
)

// entry is one entry of a simulated log, in the order the daemon stored it.
type entry struct {
	s        logstream.Stream
	ts       int64
	partial  bool // a chunk of a long line, more to come
	id       int  // unique, to check what was handed over
	replayOf int  // 1 + the id of the entry this one repeats, or 0
}

// msg is the entry's text: its id makes every line differ, unless it is a
// replay ("=").
func (e entry) msg() []byte {
	if e.replayOf > 0 {
		return []byte(fmt.Sprintf("line %d", e.replayOf-1))
	}
	return []byte(fmt.Sprintf("line %d", e.id))
}

// simLog is a container's log as the daemon keeps it.
type simLog []entry

// add appends entries: "o5" is a stdout line stamped 5, "e5" stderr, "o5+"
// a chunk of a longer stdout line.
func (l *simLog) add(spec string) {
	for _, f := range strings.Fields(spec) {
		e := entry{s: out, id: len(*l)}
		if f[0] == 'e' {
			e.s = err
		}
		if strings.HasSuffix(f, "+") {
			e.partial = true
			f = f[:len(f)-1]
		}
		if strings.HasSuffix(f, "=") { // the same text as the stream's last entry
			for j := len(*l) - 1; j >= 0; j-- {
				if (*l)[j].s == e.s {
					e.replayOf = (*l)[j].id + 1
					break
				}
			}
			f = f[:len(f)-1]
		}
		fmt.Sscan(f[1:], &e.ts)
		*l = append(*l, e)
	}
}

// open returns what a logs request asks for: the last tail entries (all for
// -1), of those the ones stamped at or after since.
func (l simLog) open(p Plan) []entry {
	es := []entry(l)
	if p.Tail >= 0 && p.Tail < len(es) {
		es = es[len(es)-p.Tail:]
	}
	var got []entry
	for _, e := range es {
		if e.ts >= p.Since {
			got = append(got, e)
		}
	}
	return got
}

// lastTS is what a probe (tail=1) answers.
func (l simLog) lastTS() (int64, bool) {
	if len(l) == 0 {
		return 0, false
	}
	return l[len(l)-1].ts, true
}

// view is a log as the daemon serves it.
type view interface {
	open(Plan) []entry
	lastTS() (int64, bool)
}

// sinceSkipsFiles is a log whose rotated files before from are left out of
// every answer with a since (as Engine 20.10 does with compressed files
// written within seconds), and read without one.
type sinceSkipsFiles struct {
	simLog
	from int
}

func (l sinceSkipsFiles) open(p Plan) []entry {
	if p.Since > 0 {
		return l.simLog[l.from:].open(p)
	}
	return l.simLog.open(p)
}

// reader drives a cursor the way the tailer does and records the lines it
// hands over (by the ids of their entries).
type reader struct {
	t       *testing.T
	c       *Cursor
	lines   [][]int
	pending map[logstream.Stream][]int
	opens   []Plan
}

func newReader(t *testing.T, p Position) *reader {
	return &reader{t: t, c: NewCursor(p), pending: map[logstream.Stream][]int{}}
}

// stream opens a stream on l and reads at most n entries of it (all for
// n < 0), as one stream between two rotations.
func (r *reader) stream(l view, n int) {
	r.t.Helper()
	now := int64(1 << 40)
	for attempt := 0; ; attempt++ {
		if attempt > 5 {
			r.t.Fatal("no plan reached the position")
		}
		plan := r.c.Plan(now)
		if plan.Probe {
			r.c.Probed(l.lastTS())
			continue
		}
		r.opens = append(r.opens, plan)
		r.c.Begin(plan, now)
		clear(r.pending)
		gap := false
		for i, e := range l.open(plan) {
			if n >= 0 && i >= n {
				break
			}
			switch r.c.Accept(e.s, e.ts, e.msg()) {
			case Gap:
				gap = true
			case Take:
				r.pending[e.s] = append(r.pending[e.s], e.id)
				if !e.partial {
					r.lines = append(r.lines, r.pending[e.s])
					r.pending[e.s] = nil
					r.c.LineHandedOver(e.s)
				}
			}
			if gap {
				break
			}
		}
		r.c.End(now + 1e9)
		if !gap {
			return
		}
	}
}

// checkOnce checks that every line of l was handed over once, whole.
func (r *reader) checkOnce(l simLog) {
	r.t.Helper()
	var want [][]int
	cur := map[logstream.Stream][]int{}
	for _, e := range l {
		cur[e.s] = append(cur[e.s], e.id)
		if !e.partial {
			want = append(want, cur[e.s])
			cur[e.s] = nil
		}
	}
	r.checkLines(want)
}

func (r *reader) checkLines(want [][]int) {
	r.t.Helper()
	key := func(ids []int) string { return fmt.Sprint(ids) }
	got := map[string]int{}
	for _, ln := range r.lines {
		got[key(ln)]++
	}
	for _, ln := range want {
		switch got[key(ln)] {
		case 1:
		case 0:
			r.t.Errorf("line %v lost (opens %v)", ln, r.opens)
		default:
			r.t.Errorf("line %v handed over %d times (opens %v)", ln, got[key(ln)], r.opens)
		}
		delete(got, key(ln))
	}
	for k := range got {
		r.t.Errorf("unexpected line %s", k)
	}
}

func TestResumeExactlyOnce(t *testing.T) {
	cases := []struct {
		name string
		log  string
		cuts []int // entries read by each stream before its rotation
	}{
		{"plain lines", "o1 o2 o3 o4 o5 o6", []int{2, 2}},
		{"rotation at every entry", "o1 o2 o3 e4 o5 e6", []int{1, 1, 1, 1, 1, 1}},
		{"equal timestamps on one stream", "o1 o2 o2 o2 o3 o3", []int{3, 1, 2}},
		{"interleaved streams with equal timestamps", "o1 e1 o2 e2 e2 o2 o3 e3", []int{3, 2, 2}},
		{"cut inside a long line", "o1 o2+ o2+ o2 o3", []int{2, 2}},
		{"cut inside the last chunk group", "o1 o2+ o2+ o2", []int{3}},
		{"other stream goes on while a long line is unfinished", "o1 o2+ e3 e4 e5 o2+ o2 e6", []int{4, 2, 1}},
		{"both streams with long lines", "o1 o2+ e3+ o2+ e3+ o2 e3 o4", []int{3, 2, 1}},
		{"stderr stamped before stdout but written after", "o1 o3 e2 o4 e5", []int{2, 1, 1}},
		{"skew across the anchor", "o1 o5 e4 o6 e5 o7", []int{2, 2, 1}},
		{"idle stream between rotations", "o1 o2", []int{2, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l simLog
			l.add(tc.log)
			r := newReader(t, Head())
			for _, n := range tc.cuts {
				r.stream(l, n)
			}
			r.stream(l, -1)
			r.checkOnce(l)
		})
	}
}

// The log grows between streams, as it does while a stream is closed.
func TestResumeWithLinesWrittenBetweenStreams(t *testing.T) {
	var l simLog
	l.add("o1 e1 o2")
	r := newReader(t, Head())
	r.stream(l, -1)
	l.add("e3 o4+ o4+")
	r.stream(l, -1)
	l.add("o4 e5 e5")
	r.stream(l, 1)
	r.stream(l, -1)
	r.checkOnce(l)
	for _, p := range r.opens[1:] {
		if p.Tail < 0 {
			t.Errorf("resume opened with since alone: %+v", p)
		}
	}
}

func TestPlan(t *testing.T) {
	anchored := Position{Anchor: 40e9, TS: 50e9, Skip: [3]int{3, 2, 0}}
	cases := []struct {
		name   string
		pos    Position
		rate   float64
		now    int64
		misses int
		want   Plan
	}{
		{"head reads everything", Head(), 0, 100e9, 0, Plan{Since: 0, Tail: -1}},
		{"now probes", FromNow(10), 0, 100e9, 0, Plan{Probe: true}},
		{"time probes", FromTime(10), 0, 100e9, 0, Plan{Probe: true}},
		{"anchored asks for a window", anchored, 0, 100e9, 0, Plan{Since: 40e9, Tail: minWindow + 5}},
		{"window sized from the rate", anchored, 100, 60e9, 0, Plan{Since: 40e9, Tail: minWindow + 5 + 2000}},
		{"widened after a miss", anchored, 0, 100e9, 1, Plan{Since: 40e9, Tail: (minWindow + 5) * widenFactor}},
		{"since alone after two misses", anchored, 0, 100e9, 2, Plan{Since: 40e9, Tail: -1, Scan: true}},
		{"from the head after three", anchored, 0, 100e9, 3, Plan{Since: 0, Tail: -1, Scan: true}},
		{"huge windows are capped", anchored, 1e9, 1e15, 0, Plan{Since: 40e9, Tail: maxWindow}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCursor(tc.pos)
			c.rate, c.misses = tc.rate, tc.misses
			if got := c.Plan(tc.now); got != tc.want {
				t.Errorf("Plan = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	cases := []struct {
		name        string
		pos         Position
		history     string
		written     string // after the probe
		wantHistory bool   // the history is handed over too
		wantSince   bool   // read with since alone
	}{
		{"now on an empty log reads all that comes", FromNow(5), "", "o6 o7", false, false},
		{"now anchors on the last entry", FromNow(5), "o1 o2 o6", "o7 e8", false, false},
		{"now anchors on a long line's last chunk", FromNow(5), "o1 o2+ o2+ o2", "o7", false, false},
		{"time with nothing after it anchors", FromTime(5), "o1 o2 o3", "o7 o8", false, false},
		{"time with lines after it reads them", FromTime(5), "o1 o2 o6 e7", "o8", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l simLog
			l.add(tc.history)
			hist := len(l)
			r := newReader(t, tc.pos)
			// The probe sees the history; the stream opens after more lines.
			plan := r.c.Plan(100)
			if !plan.Probe {
				t.Fatalf("Plan = %+v, want a probe", plan)
			}
			if hist == 0 {
				r.c.Probed(0, false)
			} else {
				r.c.Probed(l[hist-1].ts, true)
			}
			l.add(tc.written)
			r.stream(l, -1)
			if since := r.opens[0].Tail < 0 && r.opens[0].Since > 0; since != tc.wantSince {
				t.Errorf("first open %+v, want since alone %v", r.opens[0], tc.wantSince)
			}
			var want [][]int
			for _, e := range l {
				if e.ts >= tc.pos.TS && (tc.wantHistory || e.id >= hist) && !e.partial {
					want = append(want, []int{e.id})
				}
			}
			r.checkLines(want)
			// Later opens anchor in what was read.
			r.opens = nil
			l.add("o20 e21")
			r.stream(l, -1)
			if r.opens[0].Tail < 0 {
				t.Errorf("reopen with since alone: %+v", r.opens[0])
			}
		})
	}
}

func TestWindowTooSmall(t *testing.T) {
	var l simLog
	l.add("o1 o2")
	r := newReader(t, Head())
	r.stream(l, -1)
	// More lines than the widened window holds arrive while no stream is
	// open: the window misses, is widened, misses again, then since alone.
	var b strings.Builder
	for i := range r.c.Plan(1<<40).Tail*widenFactor + 1 {
		fmt.Fprintf(&b, "o%d ", 3+i)
	}
	l.add(b.String())
	r.opens = nil
	r.stream(l, -1)
	if len(r.opens) != 3 || r.opens[1].Tail != r.opens[0].Tail*widenFactor || r.opens[2].Tail != -1 {
		t.Errorf("opens %+v, want a window, a wider one, then since alone", r.opens)
	}
	r.checkOnce(l)
	// The next open is a window again.
	r.opens = nil
	l.add("o100000")
	r.stream(l, -1)
	if len(r.opens) != 1 || r.opens[0].Tail < 0 {
		t.Errorf("opens %+v, want one window", r.opens)
	}
	r.checkOnce(l)
}

// The daemon leaves out the rotated files a since falls in: the window and
// since alone miss, the read from the head finds the position, and every
// line still comes once.
func TestSinceSkipsRotatedFiles(t *testing.T) {
	var l simLog
	l.add("o1 o2 o3 o4")
	r := newReader(t, Head())
	r.stream(l, -1)
	l.add("o5 o6 o7 o8")
	r.opens = nil
	r.stream(sinceSkipsFiles{l, 6}, -1)
	if len(r.opens) != 4 || r.opens[3] != (Plan{Since: 0, Tail: -1, Scan: true}) {
		t.Errorf("opens %+v, want two windows, since alone, then from the head", r.opens)
	}
	if r.c.Lost() {
		t.Error("Lost() after the head read found the position")
	}
	r.checkOnce(l)
}

// A log rotated away past the anchor: lines after it come again rather than
// be lost, except those the recent timestamps recognise.
func TestAnchorRotatedAway(t *testing.T) {
	var l simLog
	l.add("o1 o2 o3 o4")
	r := newReader(t, Head())
	r.stream(l, -1)
	l.add("o5 o6")
	kept := l[4:] // the daemon dropped the older files
	r.stream(kept, -1)
	if !r.c.Lost() {
		t.Error("Lost() = false after the anchor disappeared")
	}
	r.checkOnce(l)
}

func TestReplay(t *testing.T) {
	cases := []struct {
		name string
		log  string
		want []int // ids handed over
	}{
		{"a replay at file rotation is dropped", "o1 o2 o3 o2 o3 o4", []int{0, 1, 2, 5}},
		{"each stream keeps its own", "o1 e2 o3 e4 e2 e4 o5 e6", []int{0, 1, 2, 3, 6, 7}},
		{"a replay ends with new entries", "o1 o2 o3 o1 o2 o3 o4", []int{0, 1, 2, 6}},
		{"a replay of the last entry alone", "o1 o2 o3 o3= o4", []int{0, 1, 2, 4}},
		{"equal stamps, other text", "o1 o2 o2 o3", []int{0, 1, 2, 3}},
		{"a clock stepped back is kept", "o10 o11 o12 o5 o6 o13", []int{0, 1, 2, 3, 4, 5}},
		{"chunks of one line share a timestamp", "o1 o2+ o2+ o2 o3", []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l simLog
			l.add(tc.log)
			r := newReader(t, Head())
			r.c.Begin(Plan{Tail: -1}, 0)
			var got []int
			for _, e := range l {
				if r.c.Accept(e.s, e.ts, e.msg()) == Take {
					got = append(got, e.id)
					if !e.partial {
						r.c.LineHandedOver(e.s)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("taken %v, want %v", got, tc.want)
			}
		})
	}
}

// Random logs cut at random points: every line once, whole, and every
// resume after the first a window.
func TestResumeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		var l simLog
		now := int64(1)
		inLine := map[logstream.Stream]bool{}
		lineTS := map[logstream.Stream]int64{}
		for i := range 40 + rng.IntN(80) {
			s := out
			if rng.IntN(3) == 0 {
				s = err
			}
			if rng.IntN(4) > 0 {
				now += int64(rng.IntN(3)) // equal timestamps are common
			}
			if !inLine[s] {
				lineTS[s] = now // the chunks of a line share its first one's
			}
			partial := rng.IntN(5) == 0
			inLine[s] = partial
			l = append(l, entry{s: s, ts: lineTS[s], partial: partial, id: i})
		}
		for s, open := range inLine { // end every line
			if open {
				l = append(l, entry{s: s, ts: lineTS[s], id: len(l)})
			}
		}
		r := newReader(t, Head())
		for shown := 0; shown < len(l); {
			shown = min(len(l), shown+1+rng.IntN(15))
			r.stream(l[:shown], rng.IntN(20))
		}
		r.stream(l, -1)
		r.checkOnce(l)
		if t.Failed() {
			t.Fatalf("round %d: log %v", round, l)
		}
	}
}

func TestPositionJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Position
		err  bool
	}{
		{"anchored", `{"anchor":4,"ts":5,"skip":[1,2,0]}`, Position{Anchor: 4, TS: 5, Skip: [3]int{1, 2, 0}}, false},
		{"anchor after ts", `{"anchor":6,"ts":5,"skip":[0,0,0]}`, Position{}, true},
		{"time", `{"ts":5,"skip":[0,0,0]}`, FromTime(5), false},
		{"version 1 with entries at ts", `{"ts":5,"n":2}`, FromTime(6), false},
		{"version 1 from a time", `{"ts":5,"n":0}`, FromTime(5), false},
		{"version 1 head", `{"ts":0,"n":0}`, Head(), false},
		{"negative", `{"ts":-1,"skip":[0,0,0]}`, Position{}, true},
		{"negative skip", `{"ts":1,"skip":[0,-1,0]}`, Position{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Position
			err := json.Unmarshal([]byte(tc.in), &p)
			if (err != nil) != tc.err || (err == nil && p != tc.want) {
				t.Fatalf("got %v, %v; want %v, error %v", p, err, tc.want, tc.err)
			}
		})
	}
	b, _ := json.Marshal(FromNow(7))
	var back Position
	if err := json.Unmarshal(b, &back); err != nil || back != FromTime(7) {
		t.Errorf("a now position saves as %s and loads as %v, want time 7", b, back)
	}
}

// Whole-second stamps (Podman's logs API): hundreds of entries of both
// streams share each stamp, and reopens land inside a second, at its first
// entry and at its last; each from the saved position alone (a restart
// with db), so no memory of recent stamps helps.
func TestResumeWholeSecondStamps(t *testing.T) {
	var l simLog
	for sec := int64(1); sec <= 3; sec++ {
		for i := range 400 {
			s := out
			if i%3 == 0 {
				s = err
			}
			l = append(l, entry{s: s, ts: sec, id: len(l)})
		}
	}
	for _, cuts := range [][]int{
		{150, 333, 117, 600},      // inside seconds
		{400, 400, 400},           // at each second's first entry
		{399, 1, 399, 1, 399},     // at each second's last entry
		{1, 1, 1, 250, 1, 1, 700}, // many small reads
	} {
		t.Run(fmt.Sprint(cuts), func(t *testing.T) {
			r := newReader(t, Head())
			for _, n := range cuts {
				r.stream(l, n)
				r.c = NewCursor(r.c.Position().Durable())
			}
			r.stream(l, -1)
			r.checkOnce(l)
		})
	}
}

package resume

import "docker_logs/capture/logstream"

// Plan is what to ask the logs API for.
type Plan struct {
	// Probe asks for the log's last entry first (tail=1, no follow): a now
	// or time position learns from it where to anchor. Report it with
	// Probed, then ask for a plan again.
	Probe bool
	// Since is the since parameter in Unix nanoseconds; 0 for none.
	Since int64
	// Tail is the tail parameter; -1 for all.
	Tail int
	// Scan: the daemon reads the container's whole log to find the
	// position (since alone, or from the head for a position it did not
	// show), not only what is delivered.
	Scan bool
}

// Verdict says what to do with one entry of a stream.
type Verdict uint8

const (
	// Take: a new entry, to hand over.
	Take Verdict = iota
	// Skip: handed over before, or before the position.
	Skip
	// Replay: the daemon sent again, with its old timestamp, an entry it
	// sent on this stream already (it does at json-file rotation).
	Replay
	// Gap: the window does not reach back to the anchor. Close the stream
	// and open one as Plan now says.
	Gap
)

const (
	// minWindow is the smallest tail asked for: enough for a quiet
	// container, and a few long lines' chunks.
	minWindow = 1000
	// maxWindow bounds tail; past it since alone costs no more.
	maxWindow = 1 << 26
	// widenFactor multiplies the window after a miss; after windowTries
	// misses the stream is opened with since alone, and after one more
	// from the log's head (the daemon skips some rotated files for a
	// since: see Plan).
	widenFactor = 16
	windowTries = 2
	// recentLen is how many timestamps of each stream are kept to know a
	// replay from a clock that stepped back.
	recentLen = 128
)

type phase uint8

const (
	counting   phase = iota
	seekAnchor       // an entry older than TS must come before any other
)

// Cursor owns a container's position: it plans each open, says what each
// entry of the stream is, and moves the position as lines are handed over.
// One tailer owns it; it is not safe for concurrent use.
type Cursor struct {
	pos Position
	// rate is entries per second of the log, from earlier streams: it sizes
	// the window.
	rate   float64
	misses int
	// timeChecked: a probe found entries after a time position, so this
	// open reads them with since alone.
	timeChecked bool

	// Per stream open.
	phase    phase
	fromHead bool // opened without a since: the last try
	reached  bool
	lost     bool // the anchor was not in the log
	skipLeft [3]int
	// read counts the entries from the position's first on that a window
	// shows, from pos.Skip on; pendingCounted those of them in unfinished
	// lines.
	read, pendingCounted [3]int
	pending              [3]int // entries of each stream's unfinished line
	track                tracker
	openedAt             int64
	entries              int

	// Across opens, for replays.
	last      [3]int64
	lastMsg   [3]sample
	recent    [3]ring
	replaying [3]bool
	// lastDone and msgDone are last and lastMsg as of the last line handed
	// over: a line read but not handed over is read again, and is no replay.
	lastDone [3]int64
	msgDone  [3]sample
}

// NewCursor starts at p.
func NewCursor(p Position) *Cursor { return &Cursor{pos: p} }

// Position is where the next open resumes: everything handed over so far,
// the unfinished lines not included.
func (c *Cursor) Position() Position { return c.pos }

// Reached reports whether the current stream has passed its position: what
// it reads from now on is new. A stream that has not reached it is still
// catching up and is not cut for rotation.
func (c *Cursor) Reached() bool { return c.reached }

// Lost reports whether the current stream found no anchor in the log (the
// daemon rotated it away): the lines handed over after it may come again.
func (c *Cursor) Lost() bool { return c.lost }

// Plan says how to open the next stream, at time now (Unix nanoseconds).
func (c *Cursor) Plan(now int64) Plan {
	p := c.pos
	switch {
	case p.Anchor > 0 && c.misses < windowTries:
		return Plan{Since: p.Anchor, Tail: c.windowSize(now)}
	case p.Anchor > 0 && c.misses == windowTries:
		return Plan{Since: p.Anchor, Tail: -1, Scan: true}
	case p.Anchor > 0:
		// Engine 20.10 skips compressed rotated files (the local driver's)
		// that a since falls in when they were written within seconds:
		// read the whole log and skip what comes before the position here.
		return Plan{Since: 0, Tail: -1, Scan: true}
	case p.Now, p.TS > 0 && !c.timeChecked:
		return Plan{Probe: true}
	}
	return Plan{Since: p.TS, Tail: -1, Scan: p.TS > 0}
}

// windowSize is the tail to ask for: the entries handed over after the
// position, twice those written since it at the rate seen so far, and a
// margin; widened after each miss.
func (c *Cursor) windowSize(now int64) int {
	n := float64(minWindow + c.pos.skipped())
	if c.rate > 0 && now > c.pos.TS {
		n += 2 * c.rate * float64(now-c.pos.TS) / 1e9
	}
	for range c.misses {
		n *= widenFactor
	}
	return int(min(n, maxWindow))
}

// Probed takes the answer to a probe: the timestamp of the log's last entry,
// or found false for an empty log.
func (c *Cursor) Probed(lastTS int64, found bool) {
	p := c.pos
	switch {
	case !found:
		c.pos = Head() // every entry to come is new
	case p.Now:
		c.pos = Position{Anchor: lastTS, TS: lastTS + 1}
	case lastTS < p.TS:
		c.pos = Position{Anchor: lastTS, TS: p.TS}
	default:
		c.timeChecked = true
	}
}

// Begin starts a stream opened as plan says, at time now.
func (c *Cursor) Begin(plan Plan, now int64) {
	c.skipLeft, c.read = c.pos.Skip, c.pos.Skip
	c.pendingCounted, c.pending = [3]int{}, [3]int{}
	c.last, c.lastMsg, c.replaying = c.lastDone, c.msgDone, [3]bool{}
	c.track = tracker{}
	c.lost = false
	c.openedAt, c.entries = now, 0
	c.fromHead = plan.Since == 0
	if c.pos.Anchor > 0 {
		c.phase, c.reached = seekAnchor, false
	} else {
		// A head position has nothing to reach; a time position checked by
		// its probe reaches it with its first entry.
		c.phase, c.reached = counting, c.pos.TS == 0
	}
}

// End closes the stream at time now: what it read sizes the next window.
func (c *Cursor) End(now int64) {
	c.timeChecked = false
	if secs := float64(now-c.openedAt) / 1e9; secs >= 0.1 && c.reached {
		r := float64(c.entries) / secs
		if r < c.rate {
			r = (r + c.rate) / 2 // decay slowly: bursts come back
		}
		c.rate = r
	}
}

// Accept says what an entry of stream s stamped ts, with message msg, is.
func (c *Cursor) Accept(s logstream.Stream, ts int64, msg []byte) Verdict {
	i := slot(s)
	if c.phase == seekAnchor {
		if ts < c.pos.TS {
			// Before the position's first entry, so handed over; and the
			// window reaches back before it.
			c.reached = true
			c.entries++
			c.track.feed(i, ts)
			return Skip
		}
		c.phase = counting
		switch {
		case c.reached:
			c.misses = 0
		case !c.fromHead:
			c.misses++
			return Gap
		default:
			// Nothing before the position in the whole log: the daemon
			// rotated the anchor away, and which entries after it were
			// handed over cannot be told any more. Everything from here
			// is read as new; the recent timestamps keep what this cursor
			// handed over from coming twice.
			c.lost, c.misses = true, 0
			c.pos = FromTime(c.pos.Anchor)
			c.skipLeft, c.read = [3]int{}, [3]int{}
		}
	}
	c.reached = true
	c.entries++
	if c.skipLeft[i] > 0 {
		c.skipLeft[i]--
		c.track.feed(i, ts)
		return Skip
	}
	if c.isReplay(i, ts, msg) {
		return Replay
	}
	c.track.feed(i, ts)
	if ts >= c.pos.Anchor {
		// A window from the anchor shows it again: counted.
		c.read[i]++
		c.pendingCounted[i]++
	}
	c.pending[i]++
	c.last[i] = ts
	c.lastMsg[i].keep(msg)
	c.recent[i].add(ts)
	return Take
}

// isReplay: a replay starts with an entry stamped before the stream's last
// one and equal to a recent one; it goes on, down to an entry stamped like
// the last one, until a newer entry comes. A replay of the last entry alone
// is stamped like it and says the same, after a whole line (chunks of one
// line share a timestamp, so equal alone proves nothing).
func (c *Cursor) isReplay(i int, ts int64, msg []byte) bool {
	switch {
	case ts > c.last[i]:
		c.replaying[i] = false
	case ts < c.last[i] || c.replaying[i]:
		c.replaying[i] = c.recent[i].has(ts)
	case c.pending[i] == 0 && c.lastMsg[i].same(msg):
		return true
	}
	return c.replaying[i]
}

// sample is enough of an entry's message to tell it from another stamped
// at the same nanosecond: its length and first bytes.
type sample struct {
	n    int
	head [48]byte
}

func (m *sample) keep(msg []byte) { m.n = len(msg); copy(m.head[:], msg) }

func (m *sample) same(msg []byte) bool {
	return m.n == len(msg) && string(m.head[:min(m.n, len(m.head))]) == string(msg[:min(len(msg), len(m.head))])
}

// PositionAfterLine is the position once the line of stream s that the last
// taken entries of s make up is handed over. LineHandedOver makes it so.
func (c *Cursor) PositionAfterLine(s logstream.Stream) Position {
	p, _ := c.after(slot(s))
	return p
}

// LineHandedOver records that the unfinished line of stream s (its entries
// taken since its last line) was handed over, or dropped on purpose.
func (c *Cursor) LineHandedOver(s logstream.Stream) {
	i := slot(s)
	p, rebased := c.after(i)
	c.pos = p
	c.pending[i], c.pendingCounted[i] = 0, 0
	c.lastDone[i], c.msgDone[i] = c.last[i], c.lastMsg[i]
	if rebased {
		c.read = p.Skip
		c.skipLeft = [3]int{}
	}
}

// after computes the position once stream i's line is handed over. With no
// line unfinished and nothing left to skip, the position moves up to the
// newest timestamp read; otherwise it stays and its counts grow.
func (c *Cursor) after(i int) (Position, bool) {
	p := c.pos
	p.Now = false
	open := false
	for j := range p.Skip {
		n, m := c.pendingCounted[j], c.pending[j]
		if j == i {
			n, m = 0, 0
		}
		p.Skip[j] = c.read[j] - n
		open = open || m > 0 || c.skipLeft[j] > 0
	}
	t := &c.track
	if open || c.phase != counting || !t.hasAnchor || t.newest <= p.TS {
		return p, false
	}
	return Position{Anchor: t.anchor, TS: t.newest, Skip: t.counted}, true
}

// tracker follows a stream's entries in the log's order to know where a
// position can move: to the first entry stamped with the newest timestamp,
// anchored on the entry just before it. Every entry before that one is
// older, so a window from the anchor that shows an entry older than the
// newest before any other covers all that comes after; those are counted
// by stream.
type tracker struct {
	prev, newest int64
	hasPrev      bool
	hasNewest    bool
	anchor       int64
	hasAnchor    bool
	counted      [3]int
}

func (t *tracker) feed(i int, ts int64) {
	if !t.hasNewest || ts > t.newest {
		t.anchor, t.hasAnchor = t.prev, t.hasPrev && t.prev > 0
		t.newest, t.hasNewest = ts, true
		t.counted = [3]int{}
	}
	if ts >= t.anchor {
		t.counted[i]++
	}
	t.prev, t.hasPrev = ts, true
}

// ring holds the last recentLen timestamps of a stream, allocated with its
// first: most containers write to one stream only.
type ring struct {
	ts   *[recentLen]int64
	next int
	full bool
}

func (r *ring) add(ts int64) {
	if r.ts == nil {
		r.ts = new([recentLen]int64)
	}
	r.ts[r.next] = ts
	if r.next++; r.next == recentLen {
		r.next, r.full = 0, true
	}
}

func (r *ring) has(ts int64) bool {
	if r.ts == nil {
		return false
	}
	n := r.next
	if r.full {
		n = recentLen
	}
	for _, v := range r.ts[:n] {
		if v == ts {
			return true
		}
	}
	return false
}

// Package resume owns the one Position type and decides how a container's
// log is reopened from it and which entries of a reopened log are new.
package resume

// What an open costs the daemon: `since` alone makes it decode every retained
// log file from the first line, while `tail=N` makes it seek back N entries
// from the end. So a stream resumes from an anchor, an entry known to be in
// the log: it asks for since = the anchor's timestamp and tail = N. The
// daemon's since is inclusive, so when the anchor shows at the head of that
// window, the window covered everything after it; when it does not, the
// window was too small and is widened, then dropped for since alone.

import (
	"encoding/json"
	"fmt"

	"docker_logs/capture/logstream"
)

// Position is where a container's log has been handed over up to. Its first
// entry is the first in the log stamped TS or later: everything before it
// was handed over, and from it on, of the entries a stream from Anchor shows,
// the first Skip of each stream (counting by stream keeps a stream's lines
// handed over while the other stream's long line was unfinished). Its kinds:
//
//   - head (TS 0): from the log's first entry;
//   - time (no anchor): from the first entry stamped TS or later, found with
//     since alone;
//   - anchored: Anchor (< TS) stamps an entry that the log holds just
//     before the position's first entry. A stream opened with since =
//     Anchor and a tail that shows an entry older than TS before any other
//     covers the position: the window proves itself;
//   - now: from the next entry the daemon writes. It is never saved:
//     Durable turns it into a time.
type Position struct {
	Anchor int64
	TS     int64
	Skip   [3]int // stdout, stderr, tty
	Now    bool
}

// Head is the position of a log read from its first entry.
func Head() Position { return Position{} }

// FromTime is the position of a log read from the first entry stamped at or
// after ts (Unix nanoseconds).
func FromTime(ts int64) Position { return Position{TS: ts} }

// FromNow is the position of a log read from the next entry written; ts is
// when that was decided, which Durable keeps.
func FromNow(ts int64) Position { return Position{TS: ts, Now: true} }

// Durable is the position to save: a now position becomes the time it was
// taken, so lines written while the plugin is down are read after it.
func (p Position) Durable() Position {
	if p.Now {
		return FromTime(p.TS)
	}
	return p
}

func (p Position) skipped() int { return p.Skip[0] + p.Skip[1] + p.Skip[2] }

func (p Position) String() string {
	s := fmt.Sprintf("ts %d skip %v", p.TS, p.Skip)
	switch {
	case p.Now:
		return fmt.Sprintf("now %d", p.TS)
	case p.Anchor > 0:
		return fmt.Sprintf("anchor %d ", p.Anchor) + s
	}
	return s
}

// slot is the index of a stream in Skip.
func slot(s logstream.Stream) int {
	switch s {
	case logstream.Stderr:
		return 1
	case logstream.TTY:
		return 2
	}
	return 0
}

// positionJSON is the saved form. Version 1 checkpoints had "n", the number
// of entries handed over with exactly timestamp ts, whatever their stream.
type positionJSON struct {
	Anchor int64  `json:"anchor,omitempty"`
	TS     int64  `json:"ts"`
	Skip   [3]int `json:"skip"`
	N      *int   `json:"n,omitempty"`
}

// MarshalJSON saves the durable form.
func (p Position) MarshalJSON() ([]byte, error) {
	d := p.Durable()
	return json.Marshal(positionJSON{Anchor: d.Anchor, TS: d.TS, Skip: d.Skip})
}

// UnmarshalJSON reads both forms. A version 1 position cannot tell the
// streams of its n entries apart; every entry stamped ts was handed over (a
// line's chunks share one timestamp), so it resumes from just after ts.
func (p *Position) UnmarshalJSON(b []byte) error {
	var j positionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.TS < 0 || j.Anchor < 0 || j.Anchor > j.TS || j.Skip[0] < 0 || j.Skip[1] < 0 || j.Skip[2] < 0 || (j.N != nil && *j.N < 0) {
		return fmt.Errorf("invalid position %s", b)
	}
	if j.N != nil {
		*p = FromTime(j.TS)
		if *j.N > 0 {
			p.TS++
		}
		return nil
	}
	*p = Position{Anchor: j.Anchor, TS: j.TS, Skip: j.Skip}
	return nil
}

// Pending is one stream's newest position among its records not yet handed
// over. Each stream owns one, so a record costs no map update; the
// hand-over buffer guards its fields until the ledger makes it delivered.
type Pending struct {
	ID     string
	Pos    Position
	Queued bool
}

package capture

import "docker_logs/capture/logstream"

// Position is where a container's log was read up to: the timestamp of the
// last entry taken and how many entries with exactly that timestamp were
// taken. The logs API's since is inclusive and the chunks of a long line share
// one timestamp, so resuming means asking from TS and skipping N entries.
type Position struct {
	TS int64 `json:"ts"` // Unix nanoseconds; 0 means from the first line
	N  int   `json:"n"`
}

// Since is the value of the logs API's since parameter.
func (p Position) Since() string { return logstream.FormatSince(p.TS) }

// advance takes one more entry with timestamp ts. An entry older than the
// position (stdout and stderr are stamped by separate copiers) leaves it: a
// resume from here would not replay that entry anyway.
func (p *Position) advance(ts int64) {
	switch {
	case ts == p.TS:
		p.N++
	case ts > p.TS:
		p.TS, p.N = ts, 1
	}
}

// skipper drops the entries a resumed stream replays: those older than the
// resume position and the first N with exactly its timestamp.
type skipper struct {
	from Position
	left int
}

func newSkipper(p Position) skipper { return skipper{from: p, left: p.N} }

func (s *skipper) skip(ts int64) bool {
	if ts < s.from.TS {
		return true
	}
	if ts == s.from.TS && s.left > 0 {
		s.left--
		return true
	}
	return false
}

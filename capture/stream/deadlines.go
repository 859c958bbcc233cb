package stream

import "time"

// A stream's time rules, all in one place. Each one derives from
// rotate_interval where it depends on it.

// catchUpLimit is how long a stream that has not reached its position, or
// is reading a backlog, may run: the daemon may take long to scan a large
// log with since alone, and a reopen in the middle of a backlog costs the
// daemon a seek back over all of it.
func catchUpLimit(rotate time.Duration) time.Duration { return max(10*rotate, rotate+time.Minute) }

// stallGrace is how long past its deadline a stream may run before the
// watchdog reports it, unless it is reading a backlog; and how far behind
// now its entries must be for the rotation to wait (readingBacklog).
// Streams end at their deadline by construction, or run on while they get
// on through a backlog; one that does neither is still catching up on its
// position (the daemon scanning) or stuck.
func stallGrace(rotate time.Duration) time.Duration { return max(5*time.Second, rotate/5) }

// lateLine is how long after its timestamp a line must be read for the
// collect to wait for the lines after it (handover's hold): shorter than
// stallGrace, since a collect waits at most a fraction of a second.
const lateLine = time.Second

// recheck is how often a stream past its rotate_interval that is still
// reading a backlog is looked at again.
const recheck = time.Second

// The delays between a failed stream's retries (the requests besides the
// stream itself take dockerapi.RequestTimeout).
const (
	retryMin = 500 * time.Millisecond
	retryMax = 30 * time.Second
)

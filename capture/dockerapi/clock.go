package dockerapi

import (
	"fmt"
	"time"
)

// Docker stamps log lines with the daemon's clock. Where the engine compares
// those stamps with times of this host's clock (when a line was read, when
// the plugin started, when positions were saved), it allows for the
// difference between the two clocks, measured at each connection: a remote
// daemon (docker_host tcp://...) or a VM may run seconds apart.

// clockSkew returns how far this host's clock is ahead of the daemon's,
// from the daemon's time (Info's SystemTime) read by a request sent at
// sent and answered at answered: the daemon's time is taken for the
// request's midpoint, so the error is at most half the round trip. A
// difference below minSkew, or not larger than the round trip, is taken
// for none: a local daemon shares this host's clock exactly, and
// correcting it by a measurement's error would move times that were right.
func clockSkew(sent, answered time.Time, systemTime string) (time.Duration, error) {
	daemon, err := time.Parse(time.RFC3339Nano, systemTime)
	if err != nil {
		return 0, fmt.Errorf("the daemon's SystemTime %q: %w", systemTime, err)
	}
	rtt := answered.Sub(sent)
	skew := sent.Add(rtt / 2).Sub(daemon)
	if skew.Abs() < minSkew || skew.Abs() <= rtt {
		return 0, nil
	}
	return skew, nil
}

// minSkew is the least difference of clocks the engine allows for.
const minSkew = 100 * time.Millisecond

// largeSkew is a difference of clocks worth a warning: records carry the
// daemon's timestamps, that far off this host's.
const largeSkew = time.Second

const skewWarning = "the Docker daemon's clock differs from this host's: record times are the daemon's"

package stream

import (
	"context"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"

	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// Why a tailer ends (Run's error).
var (
	// ErrStopped ends a tailer whose container no longer runs.
	ErrStopped = errors.New("container stopped")
	// ErrTTYNotWanted: a TTY container merges both streams and is read only
	// when stdout is selected.
	ErrTTYNotWanted = errors.New("TTY container and stdout not selected")
	// ErrUnreadable: the container's logging driver keeps no log the API
	// can read (driver none, or a driver without the daemon's cache). It
	// is tried again when the container next starts.
	ErrUnreadable = errors.New("the container's logging driver does not support reading")
	// ErrGone ends a tailer whose container was removed before it could be
	// inspected, or before it started: it left nothing to read.
	ErrGone = errors.New("container removed")
)

// Why one read ends, inside a tailer.
var (
	// errRestarted ends a stream whose container was restarted: follow the
	// new run at once.
	errRestarted = errors.New("container restarted")
	// errResumed ends a file's read that took a late die event for the
	// end of the run: read on.
	errResumed = errors.New("container still running")
	// errRotated says the stream's own deadline ended it: a rotation. Any
	// other timeout (an inspect, say) is an error.
	errRotated = errors.New("stream reached rotate_interval")
	// errNotReached ends a stream that was still catching up on its
	// position at its hard limit.
	errNotReached = errors.New("stream did not reach its position before its deadline")
	// errWindowMissed ends a stream whose window did not reach back to the
	// position: it is reopened as the cursor plans next.
	errWindowMissed = errors.New("window too small")
)

// endCause says why a stream's context ended: Stop, its rotation, or its
// hard limit before it reached its position. A stream that reached it and
// was reading a backlog at its hard limit rotates.
func endCause(ctx, parent context.Context, reached bool) error {
	switch cause := context.Cause(ctx); {
	case parent.Err() != nil:
		return parent.Err()
	case cause == errNotReached && !reached:
		return &streamError{reason: metrics.ReasonNotReached, err: cause}
	}
	return errRotated
}

// openError classifies a failed logs request; the daemon answers 501 Not
// Implemented for a logging driver it cannot read.
// With source file, a container without a json-file log is unreadable too.
func openError(err error) error {
	if cerrdefs.IsNotImplemented(err) || errors.Is(err, errNoFile) {
		return ErrUnreadable
	}
	return &streamError{reason: metrics.ReasonOpen, err: err}
}

// streamError tags an error with the reason it is counted under.
type streamError struct {
	reason string
	err    error
}

func (e *streamError) Error() string { return fmt.Sprintf("%s: %v", e.reason, e.err) }
func (e *streamError) Unwrap() error { return e.err }

// classify tags an error of a read with its reason.
func classify(err error) error {
	var de *logstream.DaemonError
	switch {
	case errors.Is(err, io.EOF):
		return err
	case errors.As(err, &de):
		return &streamError{reason: metrics.ReasonDaemon, err: err}
	case errors.Is(err, logstream.ErrFrameTooLarge), errors.Is(err, logstream.ErrMalformed):
		return &streamError{reason: metrics.ReasonDecode, err: err}
	}
	return &streamError{reason: metrics.ReasonRead, err: err}
}

func reasonOf(err error) string {
	var se *streamError
	switch {
	case cerrdefs.IsNotFound(err):
		return metrics.ReasonNotFound
	case errors.As(err, &se):
		return se.reason
	}
	return metrics.ReasonDaemon
}

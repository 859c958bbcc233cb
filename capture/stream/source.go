package stream

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"docker_logs/capture/dockerapi"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// Source gives the logs of containers: the Docker Engine API, or a
// container's json-file log itself.
type Source interface {
	// Log returns the log of the container c describes.
	Log(c Target) Log
}

// Target is what a source reads a container's log by, from its inspect.
type Target struct {
	ID      string
	TTY     bool   // its output is one merged stream rather than frames
	Driver  string // HostConfig.LogConfig.Type
	LogPath string // the json-file driver's live file
	// Stopped reports that the container's run has ended: a follow of its
	// file ends at the file's end (the API ends one by itself). StopWake
	// receives when it may have changed (a die event).
	Stopped  func() bool
	StopWake <-chan struct{}
}

// Log is one container's log, read one request at a time: Open, then Next
// until an error, then Close.
type Log interface {
	// Open starts a read as q says. It ends when ctx ends, at the log's
	// end, or, following, when the container stops.
	Open(ctx context.Context, q Query) error
	// Next returns the next entry, or io.EOF at the end.
	Next() (logstream.Entry, error)
	// LastRead is when the entry Next last returned was read.
	LastRead() time.Time
	Close() error
	// Source names what the last Open read: metrics.SourceAPI or
	// metrics.SourceFile.
	Source() string
}

// Query is what one read of a log asks for.
type Query struct {
	Since   int64 // entries from this time (Unix nanoseconds); 0 from the first
	Tail    int   // only the last Tail entries; -1 for all
	Follow  bool  // go on with entries written from now on
	Details bool  // with the attributes the daemon attaches (details=1)
}

// APISource reads logs through the Docker Engine API (the logs endpoint,
// timestamps on).
type APISource struct {
	Docker      dockerapi.Docker
	MaxLineSize int
}

// Log returns the API's reader of a container's log.
func (s APISource) Log(c Target) Log { return s.log(c) }

func (s APISource) log(c Target) *apiLog {
	return &apiLog{docker: s.Docker, id: c.ID, tty: c.TTY, maxEntry: s.MaxLineSize + logstream.ChunkSize}
}

// apiLog keeps one frame reader, and its buffer, across the reads of a log.
type apiLog struct {
	docker   dockerapi.Docker
	id       string
	tty      bool
	maxEntry int

	reader    *logstream.Reader
	body      io.ReadCloser
	stopClose func() bool
}

func (l *apiLog) Open(ctx context.Context, q Query) error {
	opts := client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: q.Follow, Details: q.Details,
	}
	if q.Since > 0 {
		opts.Since = logstream.FormatSince(q.Since)
	}
	if q.Tail >= 0 {
		opts.Tail = strconv.Itoa(q.Tail)
	}
	rc, err := l.docker.ContainerLogs(ctx, l.id, opts)
	if err != nil {
		return err
	}
	l.body = rc
	// The body's Read returns when ctx ends; closing it as well makes sure
	// of that even for a transport that would not watch ctx.
	l.stopClose = context.AfterFunc(ctx, func() { rc.Close() })
	if l.reader == nil {
		l.reader = logstream.NewReader(rc, l.tty, l.maxEntry)
	} else {
		l.reader.Reset(rc, l.tty)
	}
	return nil
}

func (l *apiLog) Next() (logstream.Entry, error) { return l.reader.Next() }
func (l *apiLog) LastRead() time.Time            { return l.reader.LastRead() }
func (l *apiLog) Source() string                 { return metrics.SourceAPI }

func (l *apiLog) Close() error {
	l.stopClose()
	return l.body.Close()
}

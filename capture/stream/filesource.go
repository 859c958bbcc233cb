package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"docker_logs/capture/logfile"
	"docker_logs/capture/logstream"
	"docker_logs/capture/metrics"
)

// Source modes (the source key).
const (
	ModeAuto = "auto" // the file when it can be read, else the API
	ModeAPI  = "api"
	ModeFile = "file"
)

// jsonFileDriver is the logging driver whose files source reads.
const jsonFileDriver = "json-file"

// errNoFile: a container source file cannot read (another driver, or no
// log path).
var errNoFile = errors.New("the container has no json-file log")

// FileSource reads json-file logs themselves: the daemon serves nothing.
type FileSource struct {
	MaxLineSize int
	Watcher     *logfile.Watcher // nil: followers poll
}

// Log returns the reader of c's json-file log.
func (s FileSource) Log(c Target) Log { return s.log(c) }

func (s FileSource) log(c Target) *fileLog {
	return &fileLog{target: c, maxLine: 2*s.MaxLineSize + logstream.ChunkSize, watcher: s.Watcher}
}

// fileLog is one container's json-file log, read one Open at a time.
type fileLog struct {
	target  Target
	maxLine int // the longest file line read; the driver splits lines at 16 KiB
	watcher *logfile.Watcher

	ctx      context.Context
	follow   bool
	fl       *logfile.Follower
	lastRead time.Time
}

func (l *fileLog) Open(ctx context.Context, q Query) error {
	if l.target.Driver != jsonFileDriver || l.target.LogPath == "" {
		return errNoFile
	}
	fl, err := logfile.Open(l.target.LogPath, l.maxLine, logfile.Start{Since: q.Since, Tail: q.Tail}, l.watcher)
	if errors.Is(err, logfile.ErrUnknownFormat) {
		return fmt.Errorf("%w: %s", errNoFile, err)
	}
	if err != nil {
		return err
	}
	fl.WakeOnStop(l.target.StopWake)
	l.ctx, l.follow, l.fl = ctx, q.Follow, fl
	return nil
}

// Next returns the next entry; a line of the file that is not an entry
// comes as its text with no timestamp, as the API's undecodable ones do.
func (l *fileLog) Next() (logstream.Entry, error) {
	e, err := l.fl.Next(l.ctx, l.follow, l.target.Stopped)
	l.lastRead = time.Now()
	if errors.Is(err, logfile.ErrMalformed) {
		return logstream.Entry{Stream: logstream.Stdout, Msg: e.Msg}, nil
	}
	if err == nil && l.target.TTY {
		e.Stream = logstream.TTY
	}
	return e, err
}

func (l *fileLog) LastRead() time.Time { return l.lastRead }
func (l *fileLog) Close() error        { return l.fl.Close() }
func (l *fileLog) Source() string      { return metrics.SourceFile }

// AutoSource reads a container's log file when it can, else the API: a
// json-file container whose file opens is read from it until the file
// fails to open, then through the API for the rest of the tailer.
type AutoSource struct {
	API     APISource
	File    FileSource
	Metrics *metrics.Input
	Logger  *slog.Logger
}

// Log returns c's log: its file's when c uses json-file, else the API's.
func (s AutoSource) Log(c Target) Log {
	api := s.API.log(c)
	if c.Driver != jsonFileDriver || c.LogPath == "" {
		s.Metrics.Fallback(metrics.FallbackDriver)
		return api
	}
	return &autoLog{file: s.File.log(c), api: api, useFile: true, metrics: s.Metrics, log: s.Logger}
}

// autoLog reads the file while it can and falls back to the API for good.
type autoLog struct {
	file    *fileLog
	api     *apiLog
	useFile bool
	cur     Log
	metrics *metrics.Input
	log     *slog.Logger
}

func (l *autoLog) Open(ctx context.Context, q Query) error {
	if l.useFile {
		err := l.file.Open(ctx, q)
		if err == nil {
			l.cur = l.file
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason := metrics.FallbackUnreadable
		if errors.Is(err, errNoFile) {
			reason = metrics.FallbackDriver
		}
		l.fallBack(reason, err)
	}
	l.cur = l.api
	return l.api.Open(ctx, q)
}

func (l *autoLog) fallBack(reason string, err error) {
	l.useFile = false
	l.metrics.Fallback(reason)
	l.log.Warn("container's log file cannot be read; reading it through the Docker API (mount /var/lib/docker/containers read-only to read files)",
		"container_id", ShortID(l.file.target.ID), "log_path", l.file.target.LogPath, "error", err)
}

func (l *autoLog) Next() (logstream.Entry, error) {
	e, err := l.cur.Next()
	if l.cur == l.file && readFailed(err) {
		// A read that fails mid-file: the next open asks the API.
		l.fallBack(metrics.FallbackUnreadable, err)
	}
	return e, err
}

// readFailed: err is the file's failure, not the end of a read.
func readFailed(err error) bool {
	return err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, logfile.ErrRemoved)
}

func (l *autoLog) LastRead() time.Time { return l.cur.LastRead() }
func (l *autoLog) Close() error        { return l.cur.Close() }
func (l *autoLog) Source() string {
	if l.cur == nil {
		return metrics.SourceFile // not opened yet: the file is tried first
	}
	return l.cur.Source()
}

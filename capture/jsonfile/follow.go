package jsonfile

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"docker_logs/capture/logstream"
)

// PollInterval is how often a follower at the end of the live file looks
// for more, and for a rotation.
const PollInterval = 250 * time.Millisecond

// Follower reads one container's json-file log: the files the driver
// rotated, oldest first, then the live one, and, following, what is
// written to it across the driver's rotations (the old file is finished by
// its inode before the new one is read).
type Follower struct {
	path    string
	maxLine int
	parser  Parser
	pending []string // files still to read before the live one

	f        *os.File
	lr       *lineReader
	live     bool   // f was opened at path
	ino      uint64 // f's inode
	draining bool   // f, the live file, was rotated away: read to its end
}

// Open starts reading the log whose live file is path (LogPath). It fails
// when no file of it can be read.
func Open(path string, maxLine int) (*Follower, error) {
	files, err := Rotated(path)
	if err != nil {
		return nil, err
	}
	fl := &Follower{path: path, maxLine: maxLine, pending: files}
	if err := fl.advance(); err != nil {
		return nil, err
	}
	return fl, nil
}

// Close closes the file being read.
func (fl *Follower) Close() error {
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f, fl.lr = nil, nil
	return err
}

// Next returns the next entry. At the end of the live file it waits for
// more when follow is set, until ctx ends or stopped reports that the
// container has stopped; then, or at once without follow, it returns
// io.EOF. A line that is not an entry returns ErrMalformed, and the next
// call goes on after it.
func (fl *Follower) Next(ctx context.Context, follow bool, stopped func() bool) (logstream.Entry, error) {
	for {
		if fl.lr != nil {
			line, err := fl.lr.next()
			switch {
			case err == nil:
				return fl.parser.Parse(line)
			case errors.Is(err, errLineTooLong):
				return logstream.Entry{}, ErrMalformed
			case !errors.Is(err, io.EOF):
				return logstream.Entry{}, err
			}
		}
		// The end of the file being read, for now.
		if fl.f != nil && fl.live && !fl.draining && fl.rotated() {
			// Read what was written to it before the rename, then move on.
			fl.draining = true
			continue
		}
		if fl.f == nil || !fl.live || fl.draining {
			if err := fl.advance(); err != nil {
				return logstream.Entry{}, err
			}
			if fl.lr != nil {
				continue
			}
		}
		// At the end of the live file (or waiting for it to be created).
		if !follow || stopped != nil && stopped() {
			if fl.lr != nil && len(fl.lr.rest()) > 0 {
				// The container ended inside a line: the driver writes whole
				// lines, so it is not an entry.
				fl.lr.start = fl.lr.end
				return logstream.Entry{}, ErrMalformed
			}
			return logstream.Entry{}, io.EOF
		}
		t := time.NewTimer(PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return logstream.Entry{}, ctx.Err()
		case <-t.C:
		}
	}
}

// rotated reports whether the live file's path now names another file, or
// none.
func (fl *Follower) rotated() bool {
	st, err := os.Stat(fl.path)
	return err != nil || inode(st) != fl.ino
}

// advance closes the file being read and opens the next one: the oldest
// rotated file left, else the live file. With the live one missing it
// leaves none open (lr nil).
func (fl *Follower) advance() error {
	if fl.f != nil {
		if fl.live {
			fl.pending = fl.rotatedSince(fl.ino)
		}
		fl.Close()
	}
	for len(fl.pending) > 0 {
		name := fl.pending[0]
		fl.pending = fl.pending[1:]
		if err := fl.open(name, false); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// Rotated away meanwhile (renamed to the next number, or removed
		// past max-file): the next one in the list holds what follows.
	}
	err := fl.open(fl.path, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// rotatedSince lists the rotated files written after the one with inode
// ino, which was live: none when it is the newest rotated file (one
// rotation). When it is gone (compressed or removed after more rotations)
// every rotated file is read again, and the reader's position skips what
// was delivered.
func (fl *Follower) rotatedSince(ino uint64) []string {
	files, err := Rotated(fl.path)
	if err != nil {
		return nil
	}
	for i, name := range files {
		if st, err := os.Stat(name); err == nil && inode(st) == ino {
			return files[i+1:]
		}
	}
	return files
}

func (fl *Follower) open(name string, live bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	var src io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		if src, err = gzip.NewReader(f); err != nil {
			f.Close()
			return err
		}
	}
	fl.f, fl.live, fl.ino, fl.draining = f, live, inode(st), false
	fl.lr = newLineReader(src, fl.maxLine)
	return nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

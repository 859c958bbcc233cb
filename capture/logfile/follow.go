package logfile

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"docker_logs/capture/logstream"
)

// PollInterval is how often a follower at the end of the live file looks
// for more, and for a rotation, with no inotify; with it, watchedPoll is
// how often it looks anyway (inotify wakes it for every change of the log's
// directory, an overflow wakes every follower, and WakeOnStop for a stop).
// A follower waiting for its live file to appear looks at PollInterval.
const PollInterval = 250 * time.Millisecond

var watchedPoll = 5 * time.Second // a var for the tests that disable it

// missingGrace is how long the live file may be missing (the driver
// renames it, then creates the next) before the log counts as removed.
const missingGrace = 2 * time.Second

// ErrRemoved is a log whose live file is gone while it was followed: its
// files were deleted.
var ErrRemoved = errors.New("json-file log removed")

// Follower reads one container's json-file log: the files the driver
// rotated, oldest first, then the live one, and, following, what is
// written to it across the driver's rotations (the old file is finished by
// its inode before the new one is read).
type Follower struct {
	path    string
	maxLine int
	parser  Parser
	since   int64    // entries stamped before it are skipped
	pending []string // files still to read before the live one
	// missingAt is when the live file was first found missing; zero while
	// it is there.
	missingAt time.Time
	lastPass  bool            // stopped was seen: one more read, then the end
	wake      <-chan struct{} // the log's directory changed; nil: poll
	stopWake  <-chan struct{} // the container may have stopped
	unwatch   func()

	f        *os.File
	lr       *lineReader
	live     bool   // f was opened at path
	ino      uint64 // f's inode
	draining bool   // f, the live file, was rotated away: read to its end
	// waiting: the live file was missing at the last advance; ino is still
	// the last file read, which the next rotated ones follow.
	waiting bool
}

// Open starts reading the log whose live file is path (LogPath) where
// start says, woken by w when it changes (nil: it polls). It fails when
// the live file cannot be read.
func Open(path string, maxLine int, start Start, watcher *Watcher) (*Follower, error) {
	if err := checkFormat(path); err != nil {
		return nil, err
	}
	rotated, err := Rotated(path)
	if err != nil {
		return nil, err
	}
	files := append(rotated, path)
	w, err := locate(files, start)
	if err != nil {
		return nil, err
	}
	fl := &Follower{path: path, maxLine: maxLine, since: start.Since, pending: files[w.file : len(files)-1]}
	if w.file == len(files)-1 {
		err = fl.open(path, true, w.offset)
	} else {
		err = fl.advance()
		if err == nil && fl.f != nil && w.offset > 0 && fl.f.Name() == files[w.file] {
			_, err = fl.f.Seek(w.offset, io.SeekStart)
		}
	}
	if err != nil {
		fl.Close()
		return nil, err
	}
	for ; w.skip > 0 && fl.lr != nil; w.skip-- {
		if _, err := fl.lr.next(); err != nil {
			break
		}
	}
	fl.wake, fl.unwatch = watcher.Subscribe(filepath.Dir(path))
	return fl, nil
}

// ErrUnknownFormat is a log file in neither json-file's format nor
// k8s-file's.
var ErrUnknownFormat = errors.New("not a json-file or k8s-file log")

// checkFormat opens the live file and checks that it holds JSON lines or
// k8s-file ones, which start with a year.
func checkFormat(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var first [1]byte
	if n, _ := f.Read(first[:]); n == 1 && first[0] != '{' && (first[0] < '0' || first[0] > '9') {
		return ErrUnknownFormat
	}
	return nil
}

// Close closes the file being read and ends its watch.
func (fl *Follower) Close() error {
	if fl.unwatch != nil {
		fl.unwatch()
		fl.unwatch = nil
	}
	return fl.closeFile()
}

func (fl *Follower) closeFile() error {
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
				e, err := fl.parser.Parse(line)
				if err == nil && e.TSValid && e.TS < fl.since {
					continue
				}
				return e, err
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
			if follow && !fl.lastPass {
				// Lines written before the container stopped may have come
				// after the last read.
				fl.lastPass = true
				continue
			}
			if fl.lr != nil && len(fl.lr.rest()) > 0 {
				// The container ended inside a line: the driver writes whole
				// lines, so it is not an entry.
				fl.lr.start = fl.lr.end
				return logstream.Entry{}, ErrMalformed
			}
			return logstream.Entry{}, io.EOF
		}
		if fl.lr == nil {
			if fl.missingAt.IsZero() {
				fl.missingAt = time.Now()
			} else if time.Since(fl.missingAt) > missingGrace {
				return logstream.Entry{}, ErrRemoved
			}
		}
		poll := PollInterval
		if fl.wake != nil && fl.lr != nil {
			poll = watchedPoll
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return logstream.Entry{}, ctx.Err()
		case <-fl.wake:
			t.Stop()
		case <-fl.stopWake:
			t.Stop()
		case <-t.C:
		}
	}
}

// WakeOnStop makes a follow waiting at the end of the log look again when c
// receives: a container's stop changes none of its log's files.
func (fl *Follower) WakeOnStop(c <-chan struct{}) { fl.stopWake = c }

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
		fl.closeFile()
	} else if fl.waiting {
		// It may have been created and rotated away since.
		fl.pending = fl.rotatedSince(fl.ino)
	}
	for len(fl.pending) > 0 {
		name := fl.pending[0]
		fl.pending = fl.pending[1:]
		if err := fl.open(name, false, 0); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// Rotated away meanwhile (renamed to the next number, or removed
		// past max-file): the next one in the list holds what follows.
	}
	err := fl.open(fl.path, true, 0)
	if errors.Is(err, os.ErrNotExist) {
		fl.waiting = true
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

// open opens file name at offset (uncompressed files only).
func (fl *Follower) open(name string, live bool, offset int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
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
	fl.missingAt, fl.waiting = time.Time{}, false
	fl.lr = newLineReader(src, fl.maxLine)
	return nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

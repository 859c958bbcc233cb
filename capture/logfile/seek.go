package logfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"strings"
	"time"
)

// Start says where a read of a log begins, as the logs API's since and
// tail do.
type Start struct {
	Since int64 // entries stamped at or after it (Unix nanoseconds); 0 for all
	Tail  int   // with Since 0: only the last Tail entries; -1 for all
}

// sinceSlack is how far out of order the driver may write two entries: the
// stdout and stderr copiers stamp a line before they take the file's lock.
// A seek to a time starts this much before it, and the rest is filtered.
const sinceSlack = int64(time.Second)

// seekStep is the span below which a binary search reads on rather than
// halving again.
const seekStep = 64 << 10

// where is the first file to read, and where in it.
type where struct {
	file   int   // index in files
	offset int64 // a line's start, in an uncompressed file
	skip   int   // lines to skip first (a compressed file's tail)
}

// locate finds where a read as s says begins among files (oldest first,
// the live one last).
func locate(files []string, s Start) (where, error) {
	switch {
	case s.Since > 0:
		return locateSince(files, s.Since-sinceSlack)
	case s.Tail >= 0:
		return locateTail(files, s.Tail)
	}
	return where{}, nil
}

// locateSince finds the last line stamped before ts, in the newest file
// whose first entry is before ts: nothing before it is stamped after.
func locateSince(files []string, ts int64) (where, error) {
	w := where{}
	for i, name := range files {
		first, ok, err := firstStamp(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return w, err
		}
		if ok && first < ts {
			w.file = i
		}
	}
	name := files[w.file]
	if strings.HasSuffix(name, ".gz") {
		return w, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return w, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return w, err
	}
	var p Parser
	lo, hi := int64(0), st.Size()
	for hi-lo > seekStep {
		mid := lo + (hi-lo)/2
		start, line, err := lineAfter(f, mid)
		if err != nil {
			hi = mid
			continue
		}
		if e, err := p.Parse(line); err == nil && e.TSValid && e.TS < ts {
			lo = start
		} else {
			hi = mid
		}
	}
	w.offset = lo
	return w, nil
}

// lineAfter returns the first whole line that starts after offset, and
// where it starts.
func lineAfter(f *os.File, offset int64) (int64, []byte, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, offset, 1<<62), seekStep)
	start := offset
	for {
		b, err := br.ReadSlice('\n')
		start += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		break
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return 0, nil, err
	}
	return start, bytes.TrimSuffix(line, []byte("\n")), nil
}

// firstStamp is the timestamp of a file's first entry; false when it has
// none that parses.
func firstStamp(name string) (int64, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	var src io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return 0, false, nil
		}
		src = gz
	}
	line, err := bufio.NewReaderSize(src, seekStep).ReadBytes('\n')
	if err != nil {
		return 0, false, nil
	}
	var p Parser
	e, err := p.Parse(bytes.TrimSuffix(line, []byte("\n")))
	return e.TS, err == nil && e.TSValid, nil
}

// locateTail finds the start of the last n whole lines across files,
// newest first: backwards in an uncompressed file, by counting in a
// compressed one.
func locateTail(files []string, n int) (where, error) {
	for i := len(files) - 1; i >= 0; i-- {
		name := files[i]
		if strings.HasSuffix(name, ".gz") {
			total, err := countLines(name)
			if err != nil {
				return where{}, err
			}
			if total >= n {
				return where{file: i, skip: total - n}, nil
			}
			n -= total
			continue
		}
		offset, found, err := lastLines(name, n)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return where{}, err
		}
		if found >= n {
			return where{file: i, offset: offset}, nil
		}
		n -= found
	}
	return where{}, nil
}

// lastLines finds where the last n whole lines of an uncompressed file
// start, reading it backwards; a last line still being written is not one.
// found is how many it has, up to n.
func lastLines(name string, n int) (offset int64, found int, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, seekStep)
	end := st.Size()
	newlines := 0 // the one ending the last whole line, then one per line before it
	for pos := end; pos > 0; {
		size := min(int64(len(buf)), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil {
			return 0, 0, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			if newlines == n {
				return pos + i + 1, n, nil
			}
			newlines++
		}
	}
	// Fewer than n+1 newlines: the file's every whole line is in the tail.
	return 0, newlines, nil
}

// countLines counts the whole lines of a compressed file.
func countLines(name string) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, seekStep)
	total := 0
	for {
		k, err := gz.Read(buf)
		total += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

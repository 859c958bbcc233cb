package ledger

// The checkpoint file keeps every container's position, so a restarted
// plugin resumes where it stopped. Writes are crash-safe: a temporary file
// is written and synced, then renamed over the old one, and the directory
// is synced, so the file is always one whole version.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

const (
	format  = "docker_logs.checkpoint"
	version = 2
)

type file struct {
	Format    string              `json:"format"`
	Version   int                 `json:"version"`
	Saved     int64               `json:"saved"` // Unix nanoseconds
	Positions map[string]Position `json:"positions"`
}

var containerID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// File is one checkpoint file. Position's JSON form reads version 1
// entries too.
type File struct {
	path string
}

// NewFile returns the checkpoint kept at path.
func NewFile(path string) *File { return &File{path: path} }

// Load reads the positions and when they were saved. A missing file is an
// empty one. A file that cannot be read as a checkpoint of this version is
// moved aside, and Load returns no positions with a warning saying where it
// went: the plugin then starts as if there had been none.
func (db *File) Load() (positions map[string]Position, saved time.Time, warning error) {
	db.removeTemporaries()
	b, err := os.ReadFile(db.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Position{}, time.Time{}, nil
	}
	if err == nil {
		var f file
		if err = decode(b, &f); err == nil {
			return f.Positions, time.Unix(0, f.Saved), nil
		}
	}
	aside := fmt.Sprintf("%s.corrupt-%s", db.path, time.Now().UTC().Format("20060102T150405.000000000"))
	if rerr := os.Rename(db.path, aside); rerr != nil {
		return map[string]Position{}, time.Time{}, fmt.Errorf("checkpoint %s unusable (%v) and could not be moved aside: %v; starting without it", db.path, err, rerr)
	}
	return map[string]Position{}, time.Time{}, fmt.Errorf("checkpoint %s unusable (%v); moved to %s, starting without it", db.path, err, aside)
}

func decode(b []byte, f *file) error {
	if err := json.Unmarshal(b, f); err != nil {
		return fmt.Errorf("not a checkpoint: %w", err)
	}
	if f.Format != format {
		return fmt.Errorf("not a checkpoint: format %q", f.Format)
	}
	if f.Version != version && f.Version != 1 {
		return fmt.Errorf("unknown checkpoint version %d", f.Version)
	}
	if f.Positions == nil {
		f.Positions = map[string]Position{}
	}
	for id := range f.Positions {
		if !containerID.MatchString(id) {
			return fmt.Errorf("bad entry for %q", id)
		}
	}
	return nil
}

// Save replaces the checkpoint with positions.
func (db *File) Save(positions map[string]Position) error {
	b, err := json.Marshal(file{Format: format, Version: version, Saved: time.Now().UnixNano(), Positions: positions})
	if err != nil {
		return err
	}
	dir := filepath.Dir(db.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(db.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), db.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeTemporaries deletes what a write cut short by a crash left behind.
func (db *File) removeTemporaries() {
	matches, _ := filepath.Glob(db.path + ".tmp-*")
	for _, m := range matches {
		os.Remove(m)
	}
}

package logfile

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Rotated returns the files the driver rotated from the live file path
// (max-size, max-file: path.N or path.N.gz), oldest (highest N) first.
func Rotated(path string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	base := filepath.Base(path)
	var out []string
	for _, name := range rotatedOldestFirst(base, names) {
		out = append(out, filepath.Join(filepath.Dir(path), name))
	}
	return out, nil
}

// rotatedOldestFirst picks base's rotated files from names: base.N and
// base.N.gz for N >= 1, highest N first. The driver compresses every file
// but the newest rotated one, and renames them all at each rotation.
func rotatedOldestFirst(base string, names []string) []string {
	type rotated struct {
		n    int
		name string
	}
	var rs []rotated
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, base+".")
		if !ok {
			continue
		}
		rest = strings.TrimSuffix(rest, ".gz")
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || strconv.Itoa(n) != rest {
			continue
		}
		rs = append(rs, rotated{n, name})
	}
	slices.SortFunc(rs, func(a, b rotated) int { return b.n - a.n })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.name
	}
	return out
}

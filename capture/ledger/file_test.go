package ledger

import (
	"docker_logs/capture/resume"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	idA = strings.Repeat("a", 64)
	idB = strings.Repeat("b", 64)
)

func TestSaveThenLoad(t *testing.T) {
	db := NewFile(filepath.Join(t.TempDir(), "positions.db"))
	want := map[string]Position{
		idA: {Anchor: 1700000000123456000, TS: 1700000000123456789, Skip: [3]int{3, 1, 0}},
		idB: resume.FromTime(1),
	}
	before := time.Now()
	if err := db.Save(want); err != nil {
		t.Fatal(err)
	}
	got, saved, warning := db.Load()
	if warning != nil {
		t.Fatalf("warning on a good file: %v", warning)
	}
	if len(got) != len(want) || got[idA] != want[idA] || got[idB] != want[idB] {
		t.Errorf("loaded %v, want %v", got, want)
	}
	if saved.Before(before) || saved.After(time.Now()) {
		t.Errorf("saved time %v not within the Save call", saved)
	}
	if m, _ := filepath.Glob(db.path + ".tmp-*"); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestMissingFileIsEmpty(t *testing.T) {
	got, saved, warning := NewFile(filepath.Join(t.TempDir(), "none.db")).Load()
	if len(got) != 0 || !saved.IsZero() || warning != nil {
		t.Errorf("got %v %v %v, want nothing", got, saved, warning)
	}
}

// A file that is not a usable checkpoint is moved aside with a warning, and
// loading goes on as if there were none.
func TestUnusableFileMovedAside(t *testing.T) {
	good := `{"format":"docker_logs.checkpoint","version":2,"saved":5,"positions":{"` + idA + `":{"anchor":9,"ts":10,"skip":[1,0,0]}}}`
	for _, tc := range []struct{ name, content, reason string }{
		{"garbage", "\xde\xad\xbe\xef{{{", "not a checkpoint"},
		{"cut in half", good[:len(good)/2], "not a checkpoint"},
		{"empty", "", "not a checkpoint"},
		{"other format", `{"format":"x","version":1}`, "format"},
		{"future version", `{"format":"docker_logs.checkpoint","version":3,"positions":{}}`, "version 3"},
		{"bad container id", `{"format":"docker_logs.checkpoint","version":1,"positions":{"abc":{"ts":1,"n":0}}}`, "bad entry"},
		{"negative count", `{"format":"docker_logs.checkpoint","version":1,"positions":{"` + idA + `":{"ts":1,"n":-1}}}`, "invalid position"},
		{"anchor after ts", `{"format":"docker_logs.checkpoint","version":2,"positions":{"` + idA + `":{"anchor":5,"ts":1,"skip":[0,0,0]}}}`, "invalid position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "positions.db")
			os.WriteFile(path, []byte(tc.content), 0o644)
			got, _, warning := NewFile(path).Load()
			if len(got) != 0 {
				t.Errorf("positions %v from an unusable file", got)
			}
			if warning == nil || !strings.Contains(warning.Error(), tc.reason) || !strings.Contains(warning.Error(), "moved to") {
				t.Errorf("warning %v, want one saying %q and where the file went", warning, tc.reason)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("unusable file still at %s", path)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files: %v, want one", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != tc.content {
				t.Errorf("moved-aside file changed")
			}
		})
	}
	// The good file itself loads.
	path := filepath.Join(t.TempDir(), "positions.db")
	os.WriteFile(path, []byte(good), 0o644)
	if got, _, warning := NewFile(path).Load(); warning != nil || got[idA] != (Position{Anchor: 9, TS: 10, Skip: [3]int{1, 0, 0}}) {
		t.Errorf("good file: %v %v", got, warning)
	}
	// A version 1 file loads: every entry stamped ts was handed over.
	v1 := `{"format":"docker_logs.checkpoint","version":1,"saved":5,"positions":{"` + idA + `":{"ts":10,"n":1}}}`
	os.WriteFile(path, []byte(v1), 0o644)
	if got, _, warning := NewFile(path).Load(); warning != nil || got[idA] != resume.FromTime(11) {
		t.Errorf("version 1 file: %v %v", got, warning)
	}
}

// A crash during a write leaves a temporary file and the previous version
// intact; the next load uses the previous version and removes the leftover.
func TestCrashMidWriteKeepsPreviousVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "positions.db")
	db := NewFile(path)
	if err := db.Save(map[string]Position{idA: resume.FromTime(7)}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".tmp-123", []byte(`{"format":"docker_logs.chec`), 0o644)
	got, _, warning := db.Load()
	if warning != nil || got[idA] != resume.FromTime(7) {
		t.Errorf("got %v %v, want the saved version", got, warning)
	}
	if _, err := os.Stat(path + ".tmp-123"); !os.IsNotExist(err) {
		t.Error("leftover temporary file not removed")
	}
}

func TestSaveFailsInMissingDirectory(t *testing.T) {
	if err := NewFile("/nonexistent-dir/x.db").Save(map[string]Position{}); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

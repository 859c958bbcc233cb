package config

import (
	"path"
	"slices"
	"strings"
)

// Match reports whether a container passes the filters. name has no
// leading slash.
func (c *Config) Match(name, image string, labels map[string]string) bool {
	if len(c.IncludeNames) > 0 && !anyGlob(c.IncludeNames, name) || anyGlob(c.ExcludeNames, name) {
		return false
	}
	if len(c.IncludeImages) > 0 && !anyImageGlob(c.IncludeImages, image) || anyImageGlob(c.ExcludeImages, image) {
		return false
	}
	if len(c.IncludeLabels) > 0 && !anyLabel(c.IncludeLabels, labels) || anyLabel(c.ExcludeLabels, labels) {
		return false
	}
	return true
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// anyImageGlob matches images as paths whose "*" crosses "/", so that
// registry/* matches registry/team/app: both sides have "/" swapped for a
// byte no image reference holds, which path.Match treats as any other.
func anyImageGlob(globs []string, image string) bool {
	image = strings.ReplaceAll(image, "/", "\x00")
	for _, g := range globs {
		if ok, _ := path.Match(strings.ReplaceAll(g, "/", "\x00"), image); ok {
			return true
		}
	}
	return false
}

// FiltersLabel reports whether include_labels or exclude_labels names key.
func (c *Config) FiltersLabel(key string) bool {
	has := func(fs []LabelFilter) bool {
		return slices.ContainsFunc(fs, func(f LabelFilter) bool { return f.Key == key })
	}
	return has(c.IncludeLabels) || has(c.ExcludeLabels)
}

func anyLabel(filters []LabelFilter, labels map[string]string) bool {
	for _, f := range filters {
		if v, ok := labels[f.Key]; ok && (!f.HasValue || v == f.Value) {
			return true
		}
	}
	return false
}

// The labels by which a container opts out, in the grammar of Fluent Bit's
// Kubernetes filter (its annotations fluentbit.io/exclude...).
const (
	ExcludeLabel       = "fluentbit.io/exclude"
	ExcludeStdoutLabel = "fluentbit.io/exclude_stdout"
	ExcludeStderrLabel = "fluentbit.io/exclude_stderr"
)

// OptOut is what a container's labels exclude from reading.
type OptOut struct {
	All            bool // the whole container
	Stdout, Stderr bool // one stream (a TTY's output counts as stdout)
}

// OptOutOf reads the opt-out labels: true, on, yes or 1 (any case) set one.
// Excluding both streams excludes the container.
func OptOutOf(labels map[string]string) OptOut {
	set := func(key string) bool {
		switch strings.ToLower(strings.TrimSpace(labels[key])) {
		case "true", "on", "yes", "1":
			return true
		}
		return false
	}
	o := OptOut{All: set(ExcludeLabel), Stdout: set(ExcludeStdoutLabel), Stderr: set(ExcludeStderrLabel)}
	o.All = o.All || o.Stdout && o.Stderr
	return o
}

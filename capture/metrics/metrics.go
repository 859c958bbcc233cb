// Package metrics holds the plugin's Prometheus series and the one HTTP
// endpoint all instances in a Fluent Bit process share.
package metrics

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Error reasons: a small fixed set, so the errors series stay few.
const (
	ReasonOpen     = "open"      // the logs request failed
	ReasonRead     = "read"      // the stream broke mid-read
	ReasonDecode   = "decode"    // bytes that are not a valid stream
	ReasonNotFound = "not_found" // the container is gone
	ReasonDaemon   = "daemon"    // the daemon reported an error
	ReasonEvents   = "events"    // the events stream failed
	ReasonList     = "list"      // listing or inspecting containers failed
	// ReasonNotReached: a stream still catching up on its position at its
	// hard limit (not a rotation).
	ReasonNotReached = "not_reached"
)

var (
	// Registry holds every series the endpoint serves.
	Registry = prometheus.NewRegistry()

	records   = newCounter("records_total", "Records handed to Fluent Bit.", "stream")
	bytes     = newCounter("bytes_total", "Bytes of log lines handed to Fluent Bit.", "stream")
	rotations = newCounter("stream_rotations_total",
		"Log streams reopened at their rotate_interval deadline.", "container_name")
	errorsTotal = newCounter("stream_errors_total",
		"Failed opens, reads, decodes and daemon errors, by reason.", "reason")
	truncated  = newCounter("lines_truncated_total", "Lines cut at max_line_size.")
	reconnects = newCounter("events_reconnects_total", "Reconnections of the Docker events stream.")
	ckptWrites = newCounter("checkpoint_writes_total", "Checkpoint DB writes.")
	ckptErrors = newCounter("checkpoint_errors_total", "Failed checkpoint DB writes.")
	windowMiss = newCounter("resume_window_misses_total",
		"Reopened streams whose tail window did not reach back to the position: reopened wider, then with since alone.")
	sinceScans = newCounter("resume_since_scans_total",
		"Streams that make the daemon read the container's whole log to find a position: since alone, or from the head.")
	replays = newCounter("replays_dropped_total",
		"Entries the daemon sent again on a stream (at json-file rotation) and that were dropped.")

	streamsActive = newGauge("streams_active", "Log streams open now.")
	bySource      = newGaugeVec("streams_by_source", "Log streams open now, by source: api (the logs API) or file (the json-file log).", "source")
	fallbacks     = newCounter("source_fallbacks_total",
		"Containers that source auto reads through the API rather than their log file, by reason: driver (not json-file), unreadable (the file cannot be opened: mount it).", "reason")
	watched    = newGauge("containers_watched", "Containers followed now (a new one from its create event).")
	unreadable = newGauge("containers_unreadable",
		"Containers whose logging driver keeps no log the API can read (driver none); tried again when they restart.")
	excluded = newGauge("containers_excluded",
		"Containers whose labels opt out (fluentbit.io/exclude, or both of _stdout and _stderr).")
	inotifyLimit = newGauge("daemon_inotify_limit",
		"fs.inotify.max_user_instances of the daemon's host, which bounds the log files it watches rather than polls; absent when the plugin cannot read it (a remote daemon).")
	stalled     = newGauge("streams_stalled", "Streams older than rotate_interval plus grace (watchdog).")
	bufferBytes = newGauge("buffer_bytes", "Bytes of records waiting for the next collect.")
	bufferLimit = newGauge("buffer_limit_bytes", "buffer_max_size.")
	paused      = newGauge("paused", "1 while Fluent Bit has paused the input.")
	dockerUp    = newGauge("docker_up", "1 when the Docker daemon answers.")
	ckptLag     = newGauge("checkpoint_lag_seconds", "Age of the oldest position not yet written to the DB.")

	buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "docker_logs_build_info", Help: "Build of the plugin.",
	}, []string{"version", "revision", "go_version"})
)

func newCounter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docker_logs_" + name, Help: help},
		append([]string{"input"}, labels...))
	Registry.MustRegister(v)
	return v
}

func newGauge(name, help string) *prometheus.GaugeVec { return newGaugeVec(name, help) }

func newGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_logs_" + name, Help: help},
		append([]string{"input"}, labels...))
	Registry.MustRegister(v)
	return v
}

func init() {
	Registry.MustRegister(buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version, revision, goVersion := "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// Input is the set of series of one plugin instance.
type Input struct {
	name            string
	containerLabels bool

	Records, Bytes                     [4]prometheus.Counter // by logstream.Stream
	Truncated, Reconnects              prometheus.Counter
	WindowMisses, SinceScans, Replays  prometheus.Counter
	CheckpointWrites, CheckpointErrors prometheus.Counter
	StreamsActive, Watched, Stalled    prometheus.Gauge
	Unreadable, Excluded               prometheus.Gauge
	BufferBytes, BufferLimit, Paused   prometheus.Gauge
	DockerUp, CheckpointLag            prometheus.Gauge
}

// Sources of a stream, and why source auto reads one through the API.
const (
	SourceAPI  = "api"
	SourceFile = "file"

	FallbackDriver     = "driver"
	FallbackUnreadable = "unreadable"
)

// StreamsBySource is the gauge of the streams open now from source.
func (m *Input) StreamsBySource(source string) prometheus.Gauge {
	return bySource.WithLabelValues(m.name, source)
}

// Fallback counts a container that source auto reads through the API.
func (m *Input) Fallback(reason string) { fallbacks.WithLabelValues(m.name, reason).Inc() }

// NewInput returns the series of the instance called name. With
// containerLabels off, per-container series carry an empty container_name.
func NewInput(name string, containerLabels bool) *Input {
	m := &Input{
		name: name, containerLabels: containerLabels,
		Truncated: truncated.WithLabelValues(name), Reconnects: reconnects.WithLabelValues(name),
		CheckpointWrites: ckptWrites.WithLabelValues(name), CheckpointErrors: ckptErrors.WithLabelValues(name),
		WindowMisses: windowMiss.WithLabelValues(name), SinceScans: sinceScans.WithLabelValues(name),
		Replays:       replays.WithLabelValues(name),
		StreamsActive: streamsActive.WithLabelValues(name), Watched: watched.WithLabelValues(name),
		Unreadable: unreadable.WithLabelValues(name), Excluded: excluded.WithLabelValues(name),
		Stalled: stalled.WithLabelValues(name), BufferBytes: bufferBytes.WithLabelValues(name),
		BufferLimit: bufferLimit.WithLabelValues(name), Paused: paused.WithLabelValues(name),
		DockerUp: dockerUp.WithLabelValues(name), CheckpointLag: ckptLag.WithLabelValues(name),
	}
	for s, label := range []string{1: "stdout", 2: "stderr", 3: "tty"} {
		if label != "" {
			m.Records[s] = records.WithLabelValues(name, label)
			m.Bytes[s] = bytes.WithLabelValues(name, label)
		}
	}
	for _, r := range []string{ReasonOpen, ReasonRead, ReasonDecode, ReasonNotFound, ReasonDaemon, ReasonEvents, ReasonList, ReasonNotReached} {
		errorsTotal.WithLabelValues(name, r) // every reason shows from the start, at 0
	}
	for _, r := range []string{FallbackDriver, FallbackUnreadable} {
		fallbacks.WithLabelValues(name, r)
	}
	for _, src := range []string{SourceAPI, SourceFile} {
		bySource.WithLabelValues(name, src)
	}
	return m
}

// SetInotifyLimit shows the daemon host's inotify limit.
func (m *Input) SetInotifyLimit(n int) { inotifyLimit.WithLabelValues(m.name).Set(float64(n)) }

// Error counts one error of the given reason.
func (m *Input) Error(reason string) { errorsTotal.WithLabelValues(m.name, reason).Inc() }

// Rotation counts one stream reopened at its deadline.
func (m *Input) Rotation(container string) {
	rotations.WithLabelValues(m.name, m.containerLabel(container)).Inc()
}

// ForgetContainer drops the series of a container that is gone.
func (m *Input) ForgetContainer(container string) {
	if m.containerLabels {
		rotations.DeleteLabelValues(m.name, container)
	}
}

func (m *Input) containerLabel(container string) string {
	if m.containerLabels {
		return container
	}
	return ""
}

// Close removes every series of the instance.
func (m *Input) Close() {
	match := prometheus.Labels{"input": m.name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		records, bytes, rotations, errorsTotal, truncated, reconnects, ckptWrites, ckptErrors,
		windowMiss, sinceScans, replays, fallbacks,
		streamsActive, bySource, watched, unreadable, excluded, inotifyLimit, stalled, bufferBytes, bufferLimit, paused, dockerUp, ckptLag,
	} {
		v.DeletePartialMatch(match)
	}
}

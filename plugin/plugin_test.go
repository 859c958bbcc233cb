package main

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// proxyDef mirrors struct flb_plugin_proxy_def (64-bit Linux), which
// Fluent Bit allocates zeroed for every registration.
type proxyDef struct {
	typ, proxy, flags int32
	name, description unsafe.Pointer
	eventType         int32
	configMap         unsafe.Pointer
}

// A hot reload registers again; Fluent Bit never frees a def's strings, so
// registering must not allocate new ones each time.
func TestRegisterAllocatesNamesOnce(t *testing.T) {
	var first, again proxyDef
	FLBPluginRegister(unsafe.Pointer(&first))
	FLBPluginUnregister(unsafe.Pointer(&first))
	FLBPluginRegister(unsafe.Pointer(&again))
	defer FLBPluginUnregister(unsafe.Pointer(&again))
	if first.typ != 1 || first.proxy != 11 {
		t.Fatalf("def type %d proxy %d, want an input (1) Go plugin (11)", first.typ, first.proxy)
	}
	if got := unsafe.String((*byte)(first.name), len("docker_logs")+1); got != "docker_logs\x00" {
		t.Fatalf("name %q", got)
	}
	if again.name != first.name || again.description != first.description {
		t.Errorf("a second registration allocated new strings (name %p then %p)", first.name, again.name)
	}
}

// Log messages wait for a Fluent Bit callback in a bounded queue; past the
// bound they are dropped, counted per input, and the next flush says so.
func TestLogQueueDropsPastItsBoundAndSaysSo(t *testing.T) {
	q := &logQueue{}
	before := testutil.ToFloat64(logsDropped.WithLabelValues("noisy"))
	for i := 0; i < logQueueLimit+5; i++ {
		q.add("noisy", 3, "line")
	}
	if got := testutil.ToFloat64(logsDropped.WithLabelValues("noisy")) - before; got != 5 {
		t.Errorf("docker_logs_log_messages_dropped_total grew by %v, want 5", got)
	}
	msgs := q.take()
	if len(msgs) != logQueueLimit+1 {
		t.Fatalf("took %d messages, want %d and a warning", len(msgs), logQueueLimit+1)
	}
	last := msgs[len(msgs)-1]
	if last.level != 2 || !strings.Contains(last.text, "docker_logs:noisy] 5 log messages dropped") {
		t.Errorf("last message %d %q, want a warning of 5 dropped", last.level, last.text)
	}
	if rest := q.take(); len(rest) != 0 {
		t.Errorf("queue not empty after take: %d", len(rest))
	}
}

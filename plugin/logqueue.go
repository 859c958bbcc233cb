package main

/*
#include "flb.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"docker_logs/capture/metrics"
)

// Fluent Bit's log_print takes a message into its logger (log_file, log
// counters) only on one of Fluent Bit's own threads; from a goroutine's
// thread it writes to stderr. So every message waits in logQueue and is
// written by the next Fluent Bit callback: init, collect (every second),
// pause, resume, pre-exit and exit.

// logQueueLimit bounds the messages waiting for a callback; past it they
// are dropped and counted.
const logQueueLimit = 1024

type logMessage struct {
	level C.int
	text  string
}

type logQueue struct {
	mu   sync.Mutex
	msgs []logMessage
	// dropped counts messages dropped since the last take, by input, for
	// the warning the next take writes.
	dropped map[string]int
}

var (
	pendingLogs = &logQueue{}

	logsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "docker_logs_log_messages_dropped_total",
		Help: "Plugin log messages dropped because too many waited for a Fluent Bit callback.",
	}, []string{"input"})
)

func init() { metrics.Registry.MustRegister(logsDropped) }

// add queues one message of input, or drops it when the queue is full.
func (q *logQueue) add(input string, level C.int, text string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) >= logQueueLimit {
		if q.dropped == nil {
			q.dropped = map[string]int{}
		}
		q.dropped[input]++
		logsDropped.WithLabelValues(input).Inc()
		return
	}
	q.msgs = append(q.msgs, logMessage{level, text})
}

// take empties the queue; a warning per input says how many were dropped.
func (q *logQueue) take() []logMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.msgs
	q.msgs = nil
	for input, n := range q.dropped {
		msgs = append(msgs, logMessage{2, fmt.Sprintf(
			"[input:docker_logs:%s] %d log messages dropped: more than %d waited for Fluent Bit's next callback",
			input, n, logQueueLimit)})
	}
	q.dropped = nil
	return msgs
}

// flushLogs writes the waiting messages through api. Call it only from a
// Fluent Bit callback, on Fluent Bit's thread.
func flushLogs(api *C.struct_flb_api) {
	if api == nil || api.log_print == nil {
		return
	}
	for _, m := range pendingLogs.take() {
		msg := C.CString(m.text)
		C.flb_input_log(api, m.level, msg)
		C.free(unsafe.Pointer(msg))
	}
}

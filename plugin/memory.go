package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"os"
	"runtime/debug"
	"unsafe"

	"docker_logs/capture"
)

// cMemory gives the engines C memory to encode records into, so the block a
// collect hands to Fluent Bit is the one the records were written to: no
// copy, and the cleanup callback frees it with free().
type cMemory struct{}

func (cMemory) Alloc(n int) []byte {
	p := C.malloc(C.size_t(n))
	if p == nil {
		panic("docker_logs: out of memory")
	}
	return unsafe.Slice((*byte)(p), n)[:0]
}

func (cMemory) Grow(b []byte, n int) []byte {
	l := len(b)
	p := C.realloc(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])), C.size_t(n))
	if p == nil {
		panic("docker_logs: out of memory")
	}
	return unsafe.Slice((*byte)(p), n)[:l]
}

func (cMemory) Free(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b[:cap(b)]))) }

// gcPercent is the plugin's GOGC. Records live in C memory, so the Go heap
// holds little besides the streams' state (about 25 KiB per followed
// container) and the per-line path allocates nothing: collecting at 25
// instead of 100 costs little CPU and keeps the heap's headroom, which
// shows in RSS for every idle container, a quarter as large. GOGC set in the
// environment wins.
const gcPercent = 25

func init() {
	capture.SetMemory(cMemory{})
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

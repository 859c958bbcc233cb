package main

/*
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/mman.h>

// A block is its own mapping, with its length in a header before the
// bytes: freeing it gives the memory back to the system at once, whatever
// malloc's heuristics. Freed malloc chunks of several MiB would raise
// glibc's mmap threshold for the whole process (Fluent Bit's chunks
// included), and what is freed below it stays in the heap.
#define BLOCK_HEADER 16

// A large block fills at a drain's pace: in huge pages it takes one page
// fault per 2 MiB rather than one per 4 KiB (a fault costs far more than
// writing the page, most of all in a VM).
#define HUGE_BLOCK (4 << 20)

static void huge(char *p, size_t len) {
	if (len >= HUGE_BLOCK) {
		madvise(p, len, MADV_HUGEPAGE);
	}
}

static void *block_alloc(size_t n) {
	size_t len = n + BLOCK_HEADER;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		return NULL;
	}
	huge(p, len);
	*(size_t *)p = len;
	return p + BLOCK_HEADER;
}

static void *block_grow(void *b, size_t n) {
	char *base = (char *)b - BLOCK_HEADER;
	size_t len = n + BLOCK_HEADER;
	char *p = mremap(base, *(size_t *)base, len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED) {
		return NULL;
	}
	huge(p, len);
	*(size_t *)p = len;
	return p + BLOCK_HEADER;
}

static void block_free(void *b) {
	char *base = (char *)b - BLOCK_HEADER;
	munmap(base, *(size_t *)base);
}
*/
import "C"

import (
	"os"
	"runtime/debug"
	"unsafe"
)

// cMemory gives the inputs C memory to encode records into, so the block a
// collect hands to Fluent Bit is the one the records were written to: no
// copy, and the cleanup callback frees it (freeBlock).
type cMemory struct{}

func (cMemory) Alloc(n int) []byte {
	p := C.block_alloc(C.size_t(n))
	if p == nil {
		panic("docker_logs: out of memory")
	}
	return unsafe.Slice((*byte)(p), n)[:0]
}

func (cMemory) Grow(b []byte, n int) []byte {
	l := len(b)
	p := C.block_grow(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])), C.size_t(n))
	if p == nil {
		panic("docker_logs: out of memory")
	}
	return unsafe.Slice((*byte)(p), n)[:l]
}

func (cMemory) Free(b []byte) { freeBlock(unsafe.Pointer(unsafe.SliceData(b[:cap(b)]))) }

// freeBlock gives back a block handed to Fluent Bit.
func freeBlock(p unsafe.Pointer) { C.block_free(p) }

// gcPercent is the plugin's GOGC. Records live in C memory, so the Go heap
// holds little besides the streams' state (about 25 KiB per followed
// container) and the per-line path allocates nothing: collecting at 25
// instead of 100 costs little CPU and keeps the heap's headroom, which
// shows in RSS for every idle container, a quarter as large. GOGC set in the
// environment wins.
const gcPercent = 25

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

package handover

// Memory provides the blocks records are encoded into. A block taken from
// the buffer belongs to its taker, who gives it back to the same Memory's
// Free (the plugin: to Fluent Bit, whose cleanup callback frees it).
type Memory interface {
	// Alloc returns a block of len 0 and cap n.
	Alloc(n int) []byte
	// Grow returns a block of cap n holding b's bytes; b is gone.
	Grow(b []byte, n int) []byte
	Free(b []byte)
}

// GoHeap is the Go heap, for a taker that copies the blocks it takes.
type GoHeap struct{}

func (GoHeap) Alloc(n int) []byte { return make([]byte, 0, n) }
func (GoHeap) Grow(b []byte, n int) []byte {
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}
func (GoHeap) Free([]byte) {}

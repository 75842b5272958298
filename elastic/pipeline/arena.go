package pipeline

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/wrxlabs/wrx/internal/offheap"
	"github.com/wrxlabs/wrx/storage"
)

// arena holds an executor's large buffers: blob buffers, activations, the
// preload buffer and the word rows. They live outside the collected heap
// (package offheap), so the memory an executor holds is what it allocated,
// counted once, and is given back when freed rather than when the
// collector next runs. The buffers of finished requests are kept for the
// next ones: at most keepBlobs blob buffers and keepActs activation
// buffers.
type arena struct {
	mu        sync.Mutex
	blobs     [][]byte // free blob buffers
	acts      [][]byte // free activation buffers
	live      map[*byte][]byte
	keepBlobs int
	keepActs  int
	released  bool
}

func newArena(keepBlobs, keepActs int) *arena {
	return &arena{live: map[*byte][]byte{}, keepBlobs: keepBlobs, keepActs: keepActs}
}

var errReleased = errors.New("executor memory released")

// bytes maps a buffer of n bytes, aligned for direct IO, with room for the
// whole sectors a direct read of n bytes writes.
func (a *arena) bytes(n int) ([]byte, error) {
	b, err := offheap.Bytes(int(storage.AlignUp(int64(max(n, 1)))))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.released {
		offheap.Free(b)
		return nil, errReleased
	}
	a.live[&b[0]] = b
	return b[:n], nil
}

// free unmaps a buffer from bytes.
func (a *arena) free(b []byte) {
	if cap(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	full, ok := a.live[&b[:1][0]]
	if !ok {
		return
	}
	delete(a.live, &full[0])
	offheap.Free(full)
}

// take returns a kept buffer of at least n bytes from list, or maps one.
func (a *arena) take(list *[][]byte, n int) ([]byte, error) {
	a.mu.Lock()
	for i, b := range *list {
		if cap(b) >= n {
			*list = append((*list)[:i], (*list)[i+1:]...)
			a.mu.Unlock()
			return b[:n], nil
		}
	}
	a.mu.Unlock()
	return a.bytes(n)
}

// keep puts b back on list for reuse, unless list holds keep buffers
// already: then the smaller of b and the smallest kept one is unmapped.
func (a *arena) keep(list *[][]byte, keep int, b []byte) {
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return
	}
	if len(*list) < keep {
		*list = append(*list, b)
		a.mu.Unlock()
		return
	}
	small := -1
	for i, f := range *list {
		if small < 0 || cap(f) < cap((*list)[small]) {
			small = i
		}
	}
	if small >= 0 && cap(b) > cap((*list)[small]) {
		b, (*list)[small] = (*list)[small], b
	}
	a.mu.Unlock()
	a.free(b)
}

// blob returns a buffer for a blob of n bytes; putBlob gives it back.
func (a *arena) blob(n int) ([]byte, error) { return a.take(&a.blobs, n) }
func (a *arena) putBlob(b []byte)           { a.keep(&a.blobs, a.keepBlobs, b) }

// floats returns n float32 values of scratch; putFloats gives them back.
func (a *arena) floats(n int) ([]float32, error) {
	b, err := a.take(&a.acts, 4*n)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

func (a *arena) putFloats(f []float32) {
	a.keep(&a.acts, a.keepActs, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*cap(f)))
}

// floatsOf views n float32 values as a fresh mapped buffer for keeps (the
// word rows), freed with freeFloats.
func (a *arena) newFloats(n int) ([]float32, error) {
	b, err := a.bytes(4 * n)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

func (a *arena) freeFloats(f []float32) {
	if cap(f) == 0 {
		return
	}
	a.free(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*cap(f)))
}

// release unmaps every buffer. Nothing may use them afterwards.
func (a *arena) release() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for p, b := range a.live {
		errs = append(errs, offheap.Free(b))
		delete(a.live, p)
	}
	a.blobs, a.acts, a.released = nil, nil, true
	return errors.Join(errs...)
}

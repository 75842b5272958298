// Package freelist keeps buffers between uses. Unlike a sync.Pool it keeps
// them across garbage collections: a program that bounds its heap
// collects often, and re-allocating pooled buffers after every collection
// would be most of what a request allocates.
package freelist

import "sync"

// List holds up to Max values for reuse. The zero value keeps none; it is
// safe for concurrent use.
type List[T any] struct {
	Max  int
	mu   sync.Mutex
	free []T
}

// Get returns a kept value, or the zero T and false when none is kept.
func (l *List[T]) Get() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v T
	n := len(l.free)
	if n == 0 {
		return v, false
	}
	v, l.free = l.free[n-1], l.free[:n-1]
	return v, true
}

// Put keeps v for a later Get, unless Max values are kept already.
func (l *List[T]) Put(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) < l.Max {
		l.free = append(l.free, v)
	}
}

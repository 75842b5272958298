package backend

// Threaded is implemented by backends with a fixed number of worker
// threads, such as native.
type Threaded interface{ Threads() int }

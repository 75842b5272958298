// Package pipeline executes plans over a shard store: it is the "execute"
// step of the elastic flow (convert → store → profile → plan → execute →
// backend).
//
// An Executor reads the blobs a plan lists, in the plan's order, into a
// bounded pool of aligned buffers on one IO goroutine, while the calling
// goroutine folds each arriving shard into the layer being computed
// (bert.Pass) and releases its buffer at once. A preload buffer of shard
// versions and word-embedding rows stays resident between requests.
package pipeline

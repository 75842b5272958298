// Package pipeline executes plans over a shard store: it is the "execute"
// step of the elastic flow (convert → store → profile → plan → execute →
// backend).
//
// An Executor reads the blobs a plan lists, in the plan's order, into a
// bounded pool of aligned buffers on one IO goroutine, while the calling
// goroutine folds each arriving shard into the layer being computed
// (bert.Pass) and releases its buffer at once. A preload buffer of shard
// versions and word-embedding rows stays resident between requests.
//
// By default each blob is one storage read. With ExecOptions.MaxReadBytes
// the IO goroutine reads a run of planned blobs that lie back to back in
// storage with one read, each blob still into its own buffer: the
// layer-at-a-time baselines read a whole layer that way. With
// ExecOptions.ReadQueue the IO side keeps several reads in flight at once,
// each on a goroutine of its own into its own buffer (within the same
// InFlight bound), and still hands the blobs to compute in plan order: a
// device that serves concurrent reads in parallel overlaps their latencies.
// The word rows of a request are then read as many at a time.
package pipeline

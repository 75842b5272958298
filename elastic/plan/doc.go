// Package plan is the elastic planner: it turns (target latency T, memory
// budget B, sequence length S, profiles) into a Plan: which shards run, at
// which fidelity, in which IO order, and which shard versions stay resident
// in the preload buffer.
//
// B here is the preload buffer's share of a classifier's memory budget.
// The total budget also pays for what every request needs (Footprint:
// resident parts, activations, scratch) and for the in-flight blob
// buffers; Divide splits it, choosing how many blobs stream ahead of
// compute and the highest fidelity they may have, and a budget below
// Footprint.Min is a *BudgetError.
//
// Planning is two calls, because the preload buffer must stay resident
// across requests of different lengths: Planner.Preload chooses the
// resident set from (T, B) alone, at a reference sequence length, and
// Planner.Plan plans one request around a given resident set.
//
// Timing model (Simulate implements it; both planners and the tests share
// it). All times are integer nanoseconds, so predictions are exact and
// deterministic.
//
//   - IO is one sequential stream starting at t=0. It first reads the S
//     word-embedding rows (one batched read, or S reads: Options.RowReads),
//     then every planned blob that is not preloaded, in IO order: layer by
//     layer, and within a layer the attention blobs (in head order) before
//     the FFN blobs. A read of b bytes takes ReadLatency + b/ReadBandwidth.
//   - The executor buffers at most K blobs (Options.InFlight): a blob's read
//     cannot start before the blob K places earlier in the stream has been
//     consumed, i.e. its compute has finished.
//   - Compute is one sequential stream. It starts when the embedding rows
//     have arrived, with the embedding time, then runs the layers in order
//     and ends with the pooler and classifier (head time). Predicted latency
//     is when the head finishes.
//   - A layer that runs n shards costs LayerTime(n) in total: the fixed part
//     LayerTime(0) (resident parts, LayerNorms), half after the attention
//     half of the layer and half after the FFN half, and
//     (LayerTime(n)-LayerTime(0))/n per shard, half for its attention blob
//     and half for its FFN blob, each scaled by the shard's dequantisation
//     factor. A streamed shard's half runs once its blob has arrived.
//     Both halves run the layer's shards in one order (LayerPlan.Shards):
//     the preloaded ones first (they need no IO, so they cover the wait
//     for the first blob), then the streamed ones in IO order (head
//     order). The FFN half needs the whole attention half, so it starts
//     after the attention half's fixed part.
//
// A plan is feasible when its predicted latency is at most T and its preload
// buffer holds at most B bytes. Neither planner ever returns an infeasible
// plan; when nothing fits they return an *InfeasibleError, which gives the
// smallest feasible target (and, under a loss ceiling, budget). Dropping
// every shard is always a plan, so without a ceiling only a target below
// that plan's latency is infeasible.
//
// Guarantees, for both planners: the predicted loss never increases with T
// for a fixed resident set (any sequence length), nor for the whole
// Preload-then-Plan flow at Options.PreloadSeqLen; the optimizer's loss is
// never above the paper planner's for the same resident set, nor for each
// one's own resident set at that length. A plan may leave resident shards
// unused (dropped), or read another fidelity of one instead.
//
// How good a plan is: LowerBound (and Plan.LossBound, with Options.Bound)
// gives a lower bound on the predicted loss of every plan for a request,
// from a Lagrangian relaxation of the timing model (bound.go); Plan.Gap is
// the share of a plan's loss that a better plan could still save by it.
// The bound ignores the K-blob buffer, so it is loosest when that binds.
//
// The package is pure: it imports no store, model or backend, so that a
// plan depends only on its inputs. It is the "plan" step of the elastic
// flow (convert → store → profile → plan → execute → backend).
package plan

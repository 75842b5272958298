// Package elastic serves classification requests with the elastic
// pipeline: every request is planned for its length under a latency target
// and a memory budget, and only the planned shard versions are streamed
// from the store while the layers they belong to compute.
//
// The work is split by job, and data flows one way:
//
//		convert → store → profile → plan → execute → backend
//
//	  - shardstore converts a model into a store of shard versions;
//	  - [github.com/wrxlabs/wrx/elastic/profile] measures what the planner
//	    needs (shard importance, device speed, token frequencies) and keeps
//	    it beside the store;
//	  - [github.com/wrxlabs/wrx/elastic/plan] turns profiles, shard sizes and
//	    a request into a Plan; it is pure and imports no store or model;
//	  - [github.com/wrxlabs/wrx/elastic/pipeline] executes a plan: an IO
//	    goroutine reads exactly Plan.IO while compute folds each shard into
//	    its layer on a backend;
//	  - this package's Runner joins them for serving: it divides its
//	    memory budget (DivideBudget), keeps the preload set resident, plans
//	    each request, runs it, and tracks how the device
//	    compares with its profile, its storage and its cores apart
//	    (Runner.Slacks), so that a slower disk and busier cores are
//	    planned for differently.
//
// The paper's baselines (hold-in-memory, load-then-exec, layerwise
// pipelining) are not part of the product; they live with the bench
// harness in bench/elastic and run on the same executor.
package elastic

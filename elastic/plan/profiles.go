package plan

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/wrxlabs/wrx/quant"
)

// This file holds the data the planner consumes: the model's shard sizes
// (Geometry), how much quality each shard version costs (ImportanceProfile)
// and how fast this device reads and computes (DeviceProfile). The profilers
// produce them; the planner only reads them. All of them are plain
// JSON-serialisable values so that they can live in a store's manifest.

// BlobSizes is the on-storage size, in bytes, of the two blobs of one shard
// version. The executor reads each blob with its own request, so each also
// costs one per-read latency.
type BlobSizes struct {
	Attn int64 `json:"attn"`
	FFN  int64 `json:"ffn"`
	// Held is what the shard version holds besides its blobs once
	// decoded (integer forms that do not view the blobs, scales,
	// outliers: quant.Matrix.HeldBytes), which a preloaded version keeps
	// for as long as its blobs. Zero when unknown.
	Held int64 `json:"held,omitempty"`
}

// Total is the size of both blobs.
func (b BlobSizes) Total() int64 { return b.Attn + b.FFN }

// Geometry is the shape of a sharded model as the planner sees it: how many
// layers and heads (one shard per head and layer), which fidelities are
// stored, and the size of every shard version.
type Geometry struct {
	Layers int `json:"layers"`
	Heads  int `json:"heads"`
	// Bits lists the stored fidelities in increasing order.
	Bits []quant.Fidelity `json:"bits"`
	// Sizes[layer][head][i] is the size of the shard version at Bits[i].
	// Sizes only differ between layers when their shapes differ; the planner
	// does not assume they are equal.
	Sizes [][][]BlobSizes `json:"sizes"`
	// EmbeddingRowBytes is the size of one word-embedding row record. A
	// request reads one row per token before the first layer can run.
	EmbeddingRowBytes int64 `json:"embedding_row_bytes"`
	// RowMemBytes is the memory one word row takes in the preload buffer;
	// zero means rows are never preloaded.
	RowMemBytes int64 `json:"row_mem_bytes,omitempty"`
	// Contiguous says the store lays each layer's blobs out by fidelity,
	// then part, then head, back to back (shardstore's layout since merged
	// reads), so that the heads a plan streams at one fidelity within a
	// part can be read with one read (Options.MaxReadBytes).
	Contiguous bool `json:"contiguous,omitempty"`
}

// UniformGeometry returns a Geometry whose every shard has the sizes
// size(bits) returns: the usual case, where all layers share one shape.
func UniformGeometry(layers, heads int, bits []quant.Fidelity, rowBytes int64, size func(quant.Fidelity) BlobSizes) *Geometry {
	g := &Geometry{Layers: layers, Heads: heads, Bits: slices.Clone(bits), EmbeddingRowBytes: rowBytes}
	g.Sizes = make([][][]BlobSizes, layers)
	for l := range g.Sizes {
		g.Sizes[l] = make([][]BlobSizes, heads)
		for h := range g.Sizes[l] {
			g.Sizes[l][h] = make([]BlobSizes, len(bits))
			for i, b := range bits {
				g.Sizes[l][h][i] = size(b)
			}
		}
	}
	return g
}

// Validate reports the first inconsistency in g.
func (g *Geometry) Validate() error {
	if g == nil {
		return errors.New("plan: geometry is missing")
	}
	if g.Layers <= 0 || g.Heads <= 0 {
		return fmt.Errorf("plan: geometry has %d layers and %d heads; both must be positive", g.Layers, g.Heads)
	}
	if err := validBits("geometry", g.Bits); err != nil {
		return err
	}
	if g.EmbeddingRowBytes < 0 {
		return fmt.Errorf("plan: geometry embedding row size %d is negative", g.EmbeddingRowBytes)
	}
	if len(g.Sizes) != g.Layers {
		return fmt.Errorf("plan: geometry sizes cover %d layers, want %d", len(g.Sizes), g.Layers)
	}
	for l, heads := range g.Sizes {
		if len(heads) != g.Heads {
			return fmt.Errorf("plan: geometry sizes of layer %d cover %d heads, want %d", l, len(heads), g.Heads)
		}
		for h, vs := range heads {
			if len(vs) != len(g.Bits) {
				return fmt.Errorf("plan: geometry sizes of layer %d head %d have %d fidelities, want %d", l, h, len(vs), len(g.Bits))
			}
			for i, v := range vs {
				if v.Attn <= 0 || v.FFN <= 0 {
					return fmt.Errorf("plan: geometry size of layer %d head %d at %d bits is %+v; both blobs must be positive", l, h, g.Bits[i], v)
				}
			}
		}
	}
	return nil
}

func validBits(what string, bits []quant.Fidelity) error {
	if len(bits) == 0 {
		return fmt.Errorf("plan: %s lists no fidelities", what)
	}
	for i, b := range bits {
		if b <= 0 {
			return fmt.Errorf("plan: %s fidelity %d is not positive", what, b)
		}
		if i > 0 && b <= bits[i-1] {
			return fmt.Errorf("plan: %s fidelities %v are not strictly increasing", what, bits)
		}
	}
	return nil
}

// ImportanceProfile says how much task quality each shard version costs.
// The planner minimises the sum of the per-shard losses of a plan: an
// additive approximation of the loss of the whole degraded model.
type ImportanceProfile struct {
	// Task and Metric describe what was measured, e.g. "sst2" and "kl"; the
	// planner ignores them.
	Task   string `json:"task,omitempty"`
	Metric string `json:"metric,omitempty"`
	// Samples is the number of profiling inputs.
	Samples int `json:"samples,omitempty"`
	Layers  int `json:"layers"`
	Heads   int `json:"heads"`
	// Bits lists the profiled fidelities in increasing order. It must cover
	// every fidelity of the Geometry; extra ones are ignored.
	Bits []quant.Fidelity `json:"bits"`
	// Shards[layer][head] is the profile of one shard.
	Shards [][]ShardImportance `json:"shards"`
}

// ShardImportance is the profile of one shard. Losses are measured with only
// this shard degraded and the rest of the model at full fidelity, e.g. as
// the mean KL divergence of the output distribution from the full model's:
// nonnegative, and about zero at 32 bits.
type ShardImportance struct {
	// Loss[i] is the loss with the shard at Bits[i].
	Loss []float64 `json:"loss"`
	// Dropped is the loss with the shard absent.
	Dropped float64 `json:"dropped"`
	// AccDelta[i] and DroppedAccDelta are the accuracy changes (as a
	// fraction, usually ≤ 0) for the same degradations. The planner does not
	// use them; they are kept for reports.
	AccDelta        []float64 `json:"acc_delta,omitempty"`
	DroppedAccDelta float64   `json:"dropped_acc_delta,omitempty"`
}

// Validate reports the first inconsistency in p.
func (p *ImportanceProfile) Validate() error {
	if p == nil {
		return errors.New("plan: importance profile is missing")
	}
	if err := validBits("importance profile", p.Bits); err != nil {
		return err
	}
	if len(p.Shards) != p.Layers {
		return fmt.Errorf("plan: importance profile covers %d layers, header says %d", len(p.Shards), p.Layers)
	}
	for l, heads := range p.Shards {
		if len(heads) != p.Heads {
			return fmt.Errorf("plan: importance profile of layer %d covers %d heads, header says %d", l, len(heads), p.Heads)
		}
		for h, s := range heads {
			if len(s.Loss) != len(p.Bits) {
				return fmt.Errorf("plan: importance of layer %d head %d has %d losses for %d fidelities", l, h, len(s.Loss), len(p.Bits))
			}
			if s.AccDelta != nil && len(s.AccDelta) != len(p.Bits) {
				return fmt.Errorf("plan: importance of layer %d head %d has %d accuracy deltas for %d fidelities", l, h, len(s.AccDelta), len(p.Bits))
			}
			for i, v := range s.Loss {
				if !finite(v) {
					return fmt.Errorf("plan: importance of layer %d head %d at %d bits is %v", l, h, p.Bits[i], v)
				}
			}
			if !finite(s.Dropped) {
				return fmt.Errorf("plan: importance of layer %d head %d when dropped is %v", l, h, s.Dropped)
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// DeviceProfile is what the planner knows about the device: how fast the
// store reads and how long the encoder takes to compute. It is measured by
// the device profiler, never assumed.
type DeviceProfile struct {
	// Host identifies the machine, system and kernels the profile was
	// measured on; timings from another host do not hold. Nil in profiles
	// made before hosts were recorded.
	Host *Host `json:"host,omitempty"`
	// Backend names the kernel backend the compute times were measured on.
	Backend string `json:"backend,omitempty"`
	// Threads is the backend's worker threads then, when it has a fixed
	// number (see backend.Threaded); 0 when unknown.
	Threads int `json:"threads,omitempty"`
	// ReadBandwidth is the store's sequential read bandwidth in bytes per
	// second.
	ReadBandwidth float64 `json:"read_bandwidth"`
	// ReadLatency is the fixed cost of one read request.
	ReadLatency time.Duration `json:"read_latency_ns"`
	// RowReadTime and RowReadFixed, when RowReadTime is set, time a
	// request's word rows read as the executor reads them, several at once
	// (shardstore.RowReaders): n rows take RowReadFixed + n·RowReadTime.
	// A row is a read of a few sectors, which costs the device's per-read
	// latency, and a device serves concurrent ones partly in parallel.
	// Zero (profiles made before): each row is a read of its own,
	// ReadTime(row bytes).
	RowReadTime  time.Duration `json:"row_read_ns,omitempty"`
	RowReadFixed time.Duration `json:"row_read_fixed_ns,omitempty"`
	// ReadQueue is how many reads the executor keeps in flight at once
	// (pipeline.ExecOptions.ReadQueue) for this profile: its reads were
	// measured that way, so ReadLatency and ReadBandwidth are effective
	// values, per read, at that depth: a read of b bytes among a stream of
	// them takes ReadLatency + b/ReadBandwidth of the stream's time, though
	// each one alone lasts longer. The first reads of a stream still wait
	// a whole latency, so a plan of a few reads runs somewhat slower than
	// the model says (elastic.Runner's IO slack covers that). 0 or 1: one
	// read at a time.
	ReadQueue int `json:"read_queue,omitempty"`
	// Depths, when measured, are the effective read times at depths up to
	// ReadQueue (1, 2, 4, …, increasing; the entry at ReadQueue, if any,
	// is ReadLatency and ReadBandwidth). A runner whose in-flight buffers
	// leave room for fewer reads than ReadQueue streams shallower, and its
	// planner plans with the times of the deepest depth within reach
	// (AtDepth). Without them (profiles made before), a shallower depth
	// bears more of ReadLatency, as AtDepth says.
	Depths []ReadDepth `json:"read_depths,omitempty"`
	// Decode lists, per fidelity, the time to check and decode one blob of
	// each part once it is read (its checksum, its matrices and their
	// integer forms), which the executor spends on its IO side before the
	// blob is handed to compute: the planner adds it to the blob's read
	// time. A missing fidelity costs nothing (profiles made before).
	Decode []DecodeTime `json:"decode,omitempty"`
	// Compute holds the measured compute times.
	Compute ComputeTable `json:"compute"`
	// Dequant optionally lists, per fidelity, a factor that scales the
	// per-shard compute time derived from Compute.Layer. Dequantization is
	// fused into the multiply, so the factors are expected to be near 1; a
	// missing fidelity has factor 1. The profiler reports them relative to
	// the fidelity Compute.Layer was measured at.
	Dequant []DequantFactor `json:"dequant,omitempty"`
}

// Host identifies where a device profile was measured: the timings of
// reads and kernels hold for this CPU, system, backend, kernel variant and
// thread count, and for no other.
type Host struct {
	CPU string `json:"cpu"` // CPU model name
	// CPUFlags is a digest of the CPU's feature flags: two CPUs of one
	// model name can still differ in what the kernels may use.
	CPUFlags string `json:"cpu_flags"`
	OS       string `json:"os"`     // GOOS/GOARCH
	Kernel   string `json:"kernel"` // OS kernel release
	Backend  string `json:"backend"`
	// Kernels is the backend's kernel variant, such as "avx512" or "go".
	Kernels string `json:"kernels,omitempty"`
	Threads int    `json:"threads,omitempty"`
}

// Diff lists the fields in which h and o differ, as "field a ≠ b".
func (h Host) Diff(o Host) []string {
	var d []string
	add := func(field, a, b string) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %q ≠ %q", field, a, b))
		}
	}
	add("cpu", h.CPU, o.CPU)
	add("cpu flags", h.CPUFlags, o.CPUFlags)
	add("os", h.OS, o.OS)
	add("kernel", h.Kernel, o.Kernel)
	add("backend", h.Backend, o.Backend)
	add("kernels", h.Kernels, o.Kernels)
	if h.Threads != o.Threads {
		d = append(d, fmt.Sprintf("threads %d ≠ %d", h.Threads, o.Threads))
	}
	return d
}

// DecodeTime is one entry of DeviceProfile.Decode.
type DecodeTime struct {
	Bits      quant.Fidelity `json:"bits"`
	Attention time.Duration  `json:"attention_ns"`
	FFN       time.Duration  `json:"ffn_ns"`
}

// DecodeTimes returns the decode times of a blob of each part at bits (see
// DeviceProfile.Decode).
func (d *DeviceProfile) DecodeTimes(bits quant.Fidelity) (attn, ffn time.Duration) {
	for _, t := range d.Decode {
		if t.Bits == bits {
			return t.Attention, t.FFN
		}
	}
	return 0, 0
}

// DequantFactor is the compute slowdown of shards stored at Bits.
type DequantFactor struct {
	Bits   quant.Fidelity `json:"bits"`
	Factor float64        `json:"factor"`
}

// ComputeTable holds compute times measured at a few sequence lengths and
// shard counts. All durations are JSON-encoded as integer nanoseconds.
//
// The planner interpolates it as follows:
//   - in the shard count n: linearly between measured counts, and beyond
//     the largest one along the last segment's slope. ShardCounts must
//     start at 0 and hold at least two counts. The result is made
//     nondecreasing in n.
//   - in the sequence length S: linearly between measured lengths, which
//     overestimates a time that grows like a + b·S + c·S² (a safe error);
//     below the smallest length it uses the smallest length's time, and
//     above the largest it scales the largest length's time by (S/Smax)²,
//     both of which also overestimate.
type ComputeTable struct {
	// SeqLens lists the measured sequence lengths in increasing order.
	SeqLens []int `json:"seq_lens"`
	// ShardCounts lists the measured shard counts in increasing order,
	// starting at 0.
	ShardCounts []int `json:"shard_counts"`
	// Layer[i][j] is the time of one encoder layer at SeqLens[i] running
	// ShardCounts[j] shards, including its resident parts (output biases,
	// residuals, LayerNorms): Layer[i][0] is what a layer costs with every
	// shard dropped.
	Layer [][]time.Duration `json:"layer_ns"`
	// Embed[i] is the time to build the first layer's input from the word
	// rows already read (position and type embeddings, LayerNorm).
	Embed []time.Duration `json:"embed_ns"`
	// Head[i] is the time of the pooler and the classifier.
	Head []time.Duration `json:"head_ns"`
}

// Validate reports the first inconsistency in d.
func (d *DeviceProfile) Validate() error {
	if d == nil {
		return errors.New("plan: device profile is missing")
	}
	if !(d.ReadBandwidth > 0) || math.IsInf(d.ReadBandwidth, 0) {
		return fmt.Errorf("plan: device read bandwidth %v bytes/s is not a positive number", d.ReadBandwidth)
	}
	if d.ReadLatency < 0 {
		return fmt.Errorf("plan: device read latency %v is negative", d.ReadLatency)
	}
	if d.RowReadTime < 0 || d.RowReadFixed < 0 {
		return fmt.Errorf("plan: device word row read time %v + %v per row is negative", d.RowReadFixed, d.RowReadTime)
	}
	if d.ReadQueue < 0 {
		return fmt.Errorf("plan: device read queue %d is negative", d.ReadQueue)
	}
	for i, r := range d.Depths {
		if r.Queue < 1 || r.Queue > max(d.ReadQueue, 1) || (i > 0 && r.Queue <= d.Depths[i-1].Queue) {
			return fmt.Errorf("plan: device read depths %v must increase within [1, %d]", d.Depths, max(d.ReadQueue, 1))
		}
		if !(r.Bandwidth > 0) || math.IsInf(r.Bandwidth, 0) || r.Latency < 0 {
			return fmt.Errorf("plan: device reads at depth %d: %v bytes/s and %v per read are not a positive bandwidth and latency", r.Queue, r.Bandwidth, r.Latency)
		}
	}
	for _, t := range d.Decode {
		if t.Attention < 0 || t.FFN < 0 {
			return fmt.Errorf("plan: device decode time at %d bits (%v, %v) is negative", t.Bits, t.Attention, t.FFN)
		}
	}
	c := &d.Compute
	if len(c.SeqLens) == 0 {
		return errors.New("plan: device compute table has no sequence lengths")
	}
	for i, s := range c.SeqLens {
		if s <= 0 || (i > 0 && s <= c.SeqLens[i-1]) {
			return fmt.Errorf("plan: device compute sequence lengths %v are not positive and strictly increasing", c.SeqLens)
		}
	}
	if len(c.ShardCounts) < 2 || c.ShardCounts[0] != 0 {
		return fmt.Errorf("plan: device compute shard counts %v must start at 0 and hold at least two counts", c.ShardCounts)
	}
	for i := 1; i < len(c.ShardCounts); i++ {
		if c.ShardCounts[i] <= c.ShardCounts[i-1] {
			return fmt.Errorf("plan: device compute shard counts %v are not strictly increasing", c.ShardCounts)
		}
	}
	if len(c.Layer) != len(c.SeqLens) || len(c.Embed) != len(c.SeqLens) || len(c.Head) != len(c.SeqLens) {
		return fmt.Errorf("plan: device compute table has %d layer rows, %d embed and %d head times for %d sequence lengths",
			len(c.Layer), len(c.Embed), len(c.Head), len(c.SeqLens))
	}
	for i, row := range c.Layer {
		if len(row) != len(c.ShardCounts) {
			return fmt.Errorf("plan: device compute row for sequence length %d has %d times for %d shard counts", c.SeqLens[i], len(row), len(c.ShardCounts))
		}
		for j, t := range row {
			if t < 0 {
				return fmt.Errorf("plan: device layer time at sequence length %d and %d shards is negative (%v)", c.SeqLens[i], c.ShardCounts[j], t)
			}
		}
		if c.Embed[i] < 0 || c.Head[i] < 0 {
			return fmt.Errorf("plan: device embed or head time at sequence length %d is negative", c.SeqLens[i])
		}
	}
	for i, f := range d.Dequant {
		if !(f.Factor > 0) || math.IsInf(f.Factor, 0) {
			return fmt.Errorf("plan: device dequant factor at %d bits is %v; it must be positive", f.Bits, f.Factor)
		}
		for _, g := range d.Dequant[:i] {
			if g.Bits == f.Bits {
				return fmt.Errorf("plan: device dequant factor at %d bits is listed twice", f.Bits)
			}
		}
	}
	return nil
}

// DequantFactor returns the compute factor of shards stored at bits (1 when
// the profile has none).
func (d *DeviceProfile) DequantFactor(bits quant.Fidelity) float64 {
	for _, f := range d.Dequant {
		if f.Bits == bits {
			return f.Factor
		}
	}
	return 1
}

// LayerTime is the interpolated time of one layer running n shards on a
// sequence of seqLen tokens (see ComputeTable for the rules).
func (d *DeviceProfile) LayerTime(n, seqLen int) time.Duration {
	c := &d.Compute
	row := func(i int) float64 { return interpShards(c.ShardCounts, c.Layer[i], n) }
	return roundDur(interpSeq(c.SeqLens, seqLen, row))
}

// EmbedTime is the interpolated embedding compute time at seqLen.
func (d *DeviceProfile) EmbedTime(seqLen int) time.Duration {
	c := &d.Compute
	return roundDur(interpSeq(c.SeqLens, seqLen, func(i int) float64 { return float64(c.Embed[i]) }))
}

// HeadTime is the interpolated pooler and classifier time at seqLen.
func (d *DeviceProfile) HeadTime(seqLen int) time.Duration {
	c := &d.Compute
	return roundDur(interpSeq(c.SeqLens, seqLen, func(i int) float64 { return float64(c.Head[i]) }))
}

// ReadDepth is the effective time of a read among a stream of them kept
// Queue at a time: Latency + bytes/Bandwidth (see DeviceProfile.ReadQueue).
type ReadDepth struct {
	Queue     int           `json:"queue"`
	Bandwidth float64       `json:"bandwidth_bps"`
	Latency   time.Duration `json:"latency_ns"`
}

// AtDepth returns d as an executor with q in-flight buffers, and so at
// most q reads in flight, sees it: ReadQueue q and the read times of the
// deepest of d's Depths within q. Without one (a profile made before
// depths were measured), the latency measured at ReadQueue is taken to be
// ReadQueue reads overlapped, so q of them hide ReadQueue/q times less of
// it, as a device that overlaps reads does (storage.Throttle emulates
// one); measured on this development machine's disk the overlap is less
// than that (61–76 µs one at a time, 33–38 µs four at a time), so the
// guess errs on the slow side. It returns d itself when q is at least
// ReadQueue.
func (d *DeviceProfile) AtDepth(q int) *DeviceProfile {
	q = max(q, 1)
	if q >= max(d.ReadQueue, 1) {
		return d
	}
	out := *d
	out.ReadQueue = q
	out.ReadLatency = d.ReadLatency * time.Duration(d.ReadQueue) / time.Duration(q)
	out.Depths = nil
	for _, r := range d.Depths {
		if r.Queue > q {
			break
		}
		out.ReadBandwidth, out.ReadLatency = r.Bandwidth, r.Latency
		out.Depths = append(out.Depths, r)
	}
	return &out
}

// WithReads returns a copy of d whose reads at ReadQueue run at bandwidth
// and latency, as measured again (on a device busier than when it was
// profiled, say), and its shallower Depths' times stretched by the same
// ratios.
func (d *DeviceProfile) WithReads(bandwidth float64, latency time.Duration) *DeviceProfile {
	out := *d
	out.ReadBandwidth, out.ReadLatency = bandwidth, latency
	out.Depths = slices.Clone(d.Depths)
	for i := range out.Depths {
		r := &out.Depths[i]
		r.Bandwidth *= bandwidth / d.ReadBandwidth
		if d.ReadLatency > 0 {
			r.Latency = time.Duration(float64(r.Latency) * float64(latency) / float64(d.ReadLatency))
		} else {
			r.Latency = latency
		}
	}
	return &out
}

// atDepth returns prof with its device as a planner with k in-flight
// buffers sees it (DeviceProfile.AtDepth): the executor keeps at most one
// read in flight per buffer. k ≤ 0 (no bound) leaves it.
func (prof *Profiles) atDepth(k int) *Profiles {
	if k <= 0 {
		return prof
	}
	dev := prof.Device.AtDepth(k)
	if dev == prof.Device {
		return prof
	}
	out := *prof
	out.Device = dev
	return &out
}

// ReadTime is the time of one read request of the given size.
func (d *DeviceProfile) ReadTime(bytes int64) time.Duration {
	return d.ReadLatency + time.Duration(math.Ceil(float64(bytes)*1e9/d.ReadBandwidth))
}

// RowsTime is the time n word rows of rowBytes each take to read, one
// request each, as the executor reads a request's rows (see RowReadTime).
func (d *DeviceProfile) RowsTime(n int, rowBytes int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if d.RowReadTime > 0 {
		return d.RowReadFixed + time.Duration(n)*d.RowReadTime
	}
	return time.Duration(n) * d.ReadTime(rowBytes)
}

func roundDur(ns float64) time.Duration {
	if ns <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(ns))
}

func interpSeq(lens []int, s int, at func(int) float64) float64 {
	last := len(lens) - 1
	switch {
	case s <= lens[0]:
		return at(0)
	case s >= lens[last]:
		r := float64(s) / float64(lens[last])
		return at(last) * r * r
	}
	i := 1
	for lens[i] < s {
		i++
	}
	x0, x1 := float64(lens[i-1]), float64(lens[i])
	t := (float64(s) - x0) / (x1 - x0)
	return at(i-1) + t*(at(i)-at(i-1))
}

func interpShards(counts []int, ts []time.Duration, n int) float64 {
	i := 1
	for i < len(counts)-1 && counts[i] < n {
		i++
	}
	x0, x1 := float64(counts[i-1]), float64(counts[i])
	y0, y1 := float64(ts[i-1]), float64(ts[i])
	return y0 + (float64(n)-x0)*(y1-y0)/(x1-x0)
}

// Profiles bundles what a planner needs.
type Profiles struct {
	Geometry   *Geometry          `json:"geometry"`
	Importance *ImportanceProfile `json:"importance"`
	Device     *DeviceProfile     `json:"device"`
	// Words, when set, lets the preload buffer keep the word rows of the
	// most frequent tokens.
	Words *WordProfile `json:"words,omitempty"`
}

// Validate checks each profile and that they describe the same model.
func (p *Profiles) Validate() error {
	if p == nil {
		return errors.New("plan: profiles are missing")
	}
	if err := p.Geometry.Validate(); err != nil {
		return err
	}
	if err := p.Importance.Validate(); err != nil {
		return err
	}
	if err := p.Device.Validate(); err != nil {
		return err
	}
	if p.Words != nil {
		if err := p.Words.Validate(0); err != nil {
			return err
		}
	}
	g, im := p.Geometry, p.Importance
	if im.Layers != g.Layers || im.Heads != g.Heads {
		return fmt.Errorf("plan: importance profile is for %d layers × %d heads, the model has %d × %d", im.Layers, im.Heads, g.Layers, g.Heads)
	}
	for _, b := range g.Bits {
		if !slices.Contains(im.Bits, b) {
			return fmt.Errorf("plan: importance profile has no losses at %d bits, which the model stores", b)
		}
	}
	return nil
}

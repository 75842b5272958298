package plan

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/wrxlabs/wrx/quant"
)

// synthOptions shapes a synthetic planning instance. The defaults follow
// wrx-sst2-small: hidden 384, 12 heads of 32, intermediate 1536 (128 per
// shard), a 100 MB/s store with 0.5 ms reads, and layers of a few ms.
type synthOptions struct {
	layers, heads    int
	hidden, headDim  int
	ffnSlice         int
	bandwidth        float64          // bytes/s
	latency          time.Duration    // per read
	layerFull        time.Duration    // one layer, all shards, at S=32
	fixedFrac        float64          // share of layerFull that does not depend on shards
	dequant          bool             // add per-fidelity dequantisation factors
	importanceSpread float64          // log-normal sigma of shard importance
	bits             []quant.Fidelity // nil: synthBits
	shardExponent    float64          // layer time grows like n^e; 0 means 1 (linear)
}

func smallModel() synthOptions {
	return synthOptions{
		layers: 6, heads: 12, hidden: 384, headDim: 32, ffnSlice: 128,
		bandwidth: 100e6, latency: 500 * time.Microsecond,
		layerFull: 4 * time.Millisecond, fixedFrac: 0.1, importanceSpread: 1,
	}
}

var synthBits = []quant.Fidelity{2, 3, 4, 5, 6, 8, 16, 32}

// qualityOf is the share of a shard's dropped loss that remains at bits.
var qualityOf = map[quant.Fidelity]float64{2: 0.6, 3: 0.3, 4: 0.12, 5: 0.05, 6: 0.02, 8: 0.005, 16: 0.0002, 32: 0}

// synthProfiles builds profiles for o; rng perturbs the importance (and
// nothing else when nil).
func synthProfiles(o synthOptions, rng *rand.Rand) *Profiles {
	bits := o.bits
	if bits == nil {
		bits = synthBits
	}
	attn := int64(4 * o.hidden * o.headDim)
	ffn := int64(2 * o.hidden * o.ffnSlice)
	geo := UniformGeometry(o.layers, o.heads, bits, int64(4*o.hidden+4), func(b quant.Fidelity) BlobSizes {
		// Dictionary codes plus a small table of centroids and outliers.
		return BlobSizes{Attn: attn*int64(b)/8 + 256, FFN: ffn*int64(b)/8 + 256}
	})
	im := &ImportanceProfile{Task: "synthetic", Metric: "kl", Layers: o.layers, Heads: o.heads, Bits: bits}
	im.Shards = make([][]ShardImportance, o.layers)
	for l := range im.Shards {
		im.Shards[l] = make([]ShardImportance, o.heads)
		for h := range im.Shards[l] {
			d := 0.01
			if rng != nil {
				d *= math.Exp(o.importanceSpread * rng.NormFloat64())
			}
			s := ShardImportance{Dropped: d, Loss: make([]float64, len(bits))}
			for i, b := range bits {
				noise := 1.0
				if rng != nil {
					noise = 0.5 + rng.Float64()
				}
				s.Loss[i] = d * qualityOf[b] * noise
			}
			im.Shards[l][h] = s
		}
	}
	seqs := []int{8, 16, 32, 64, 128}
	counts := []int{0, 1, 2, 4, 6, 8, o.heads}
	ct := ComputeTable{SeqLens: seqs, ShardCounts: counts}
	for _, s := range seqs {
		// Linear in S for the matmuls, quadratic for attention scores.
		scale := (0.3*float64(s) + 0.7*float64(s*s)/32) / 32
		full := float64(o.layerFull) * scale
		var row []time.Duration
		e := o.shardExponent
		if e == 0 {
			e = 1
		}
		for _, n := range counts {
			row = append(row, time.Duration(full*(o.fixedFrac+(1-o.fixedFrac)*math.Pow(float64(n)/float64(o.heads), e))))
		}
		ct.Layer = append(ct.Layer, row)
		ct.Embed = append(ct.Embed, time.Duration(float64(100*time.Microsecond)*float64(s)/32))
		ct.Head = append(ct.Head, 200*time.Microsecond)
	}
	dev := &DeviceProfile{Backend: "synthetic", ReadBandwidth: o.bandwidth, ReadLatency: o.latency, Compute: ct}
	if o.dequant {
		for _, b := range bits {
			f := 1.0
			if b < 16 {
				f = 1.05 + 0.02*float64(8-min(b, 8))
			}
			dev.Dequant = append(dev.Dequant, DequantFactor{Bits: b, Factor: f})
		}
	}
	return &Profiles{Geometry: geo, Importance: im, Device: dev}
}

// randomOptions draws a device and model around the small model: slow and
// fast stores, light and heavy compute.
func randomOptions(rng *rand.Rand) synthOptions {
	o := smallModel()
	o.bandwidth = 20e6 * math.Pow(50, rng.Float64())                                          // 20 MB/s … 1 GB/s
	o.latency = time.Duration(float64(time.Millisecond) * math.Pow(100, rng.Float64()) / 100) // 10 µs … 1 ms
	o.layerFull = time.Duration(float64(time.Millisecond) * (1 + 7*rng.Float64()))
	o.fixedFrac = 0.05 + 0.2*rng.Float64()
	o.dequant = rng.IntN(2) == 0
	o.importanceSpread = 0.3 + 1.2*rng.Float64()
	if rng.IntN(2) == 0 {
		o.shardExponent = 0.7 + 0.3*rng.Float64() // batching makes more shards cheaper each
	}
	return o
}

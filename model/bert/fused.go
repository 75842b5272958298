package bert

import (
	"fmt"
	"math"

	"github.com/wrxlabs/wrx/backend"
)

// fusedLayer is a whole layer's shards concatenated into the dense
// matrices Hugging Face stores, so that a layer held in memory with every
// shard runs as a few large matrix products instead of eight small ones per
// head. Each output element is the same dot product either way; only the
// sums over heads (output and down projections) are added in another order.
type fusedLayer struct {
	qkv     *backend.Dense // 3·Hidden × Hidden: every head's Q rows, then K, then V
	qkvBias []float32
	out     *backend.Dense // Hidden × Hidden
	up      *backend.Dense // Intermediate × Hidden
	upBias  []float32
	down    *backend.Dense // Hidden × Intermediate
}

// Fuse joins the shards of every layer whose shards are all present as
// float32 into a layer's dense matrices, and releases the shards: a fused
// layer always runs whole (see Pass.RunLayer), which is what a model held in
// memory wants. Layers with absent or encoded shards are left as they are.
func (m *Model) Fuse() error {
	for i := range m.Layers {
		if err := m.Layers[i].fuse(m.Config); err != nil {
			return fmt.Errorf("bert: fuse layer %d: %w", i, err)
		}
	}
	return nil
}

func (l *Layer) fuse(c *Config) error {
	if l.fused != nil {
		return nil
	}
	H, d, f, M := c.Hidden, c.HeadDim(), c.FFNSlice(), c.Heads
	if len(l.Attention) != M || len(l.FFN) != M {
		return nil
	}
	dense := func(m backend.Matrix) *backend.Dense {
		if dm, ok := m.(*backend.Dense); ok {
			return dm
		}
		return nil
	}
	fl := &fusedLayer{
		qkv: &backend.Dense{N: 3 * H, K: H, Data: make([]float32, 3*H*H)}, qkvBias: make([]float32, 3*H),
		out: &backend.Dense{N: H, K: H, Data: make([]float32, H*H)},
		up:  &backend.Dense{N: c.Intermediate, K: H, Data: make([]float32, c.Intermediate*H)}, upBias: make([]float32, c.Intermediate),
		down: &backend.Dense{N: H, K: c.Intermediate, Data: make([]float32, H*c.Intermediate)},
	}
	for h := range M {
		a, ff := l.Attention[h], l.FFN[h]
		if a == nil || ff == nil {
			return nil
		}
		q, k, v, o := dense(a.Query), dense(a.Key), dense(a.Value), dense(a.Output)
		up, down := dense(ff.Up), dense(ff.Down)
		if q == nil || k == nil || v == nil || o == nil || up == nil || down == nil {
			return nil // encoded shards run through the shard path
		}
		for part, src := range []*backend.Dense{q, k, v} {
			row := part*H + h*d
			copy(fl.qkv.Data[row*H:(row+d)*H], src.Data)
		}
		copy(fl.qkvBias[h*d:], a.QueryBias)
		copy(fl.qkvBias[H+h*d:], a.KeyBias)
		copy(fl.qkvBias[2*H+h*d:], a.ValueBias)
		for r := range H {
			copy(fl.out.Data[r*H+h*d:r*H+(h+1)*d], o.Data[r*d:(r+1)*d])
			copy(fl.down.Data[r*c.Intermediate+h*f:r*c.Intermediate+(h+1)*f], down.Data[r*f:(r+1)*f])
		}
		copy(fl.up.Data[h*f*H:(h+1)*f*H], up.Data)
		copy(fl.upBias[h*f:], ff.UpBias)
	}
	l.fused = fl
	clear(l.Attention)
	clear(l.FFN)
	return nil
}

// runFused runs a fused layer: the same computation as folding every shard.
func (p *Pass) runFused(l *Layer) {
	be, n, c := p.be, p.seq, p.cfg
	H, d := c.Hidden, c.HeadDim()
	fl := l.fused
	if len(p.qkv) < n*3*H {
		p.qkv = make([]float32, n*3*H)
		p.ctxAll = make([]float32, n*H)
		p.interAll = make([]float32, n*c.Intermediate)
	}
	qkv, ctxAll, inter := p.qkv[:n*3*H], p.ctxAll[:n*H], p.interAll[:n*c.Intermediate]
	be.MatMulT(qkv, p.x, fl.qkv.Data, n, H, 3*H, false)
	be.AddBias(qkv, fl.qkvBias, n, 3*H)
	scale := float32(1 / math.Sqrt(float64(d)))
	for h := range c.Heads {
		for i := range n {
			row := qkv[i*3*H:]
			copy(p.q[i*d:(i+1)*d], row[h*d:(h+1)*d])
			copy(p.k[i*d:(i+1)*d], row[H+h*d:H+(h+1)*d])
			for j := range d {
				p.vt[j*n+i] = row[2*H+h*d+j]
			}
		}
		be.MatMulT(p.scores, p.q, p.k, n, d, n, false)
		for i := range p.scores {
			p.scores[i] *= scale
		}
		be.Softmax(p.scores, n, n)
		be.MatMulT(p.ctxh, p.scores, p.vt, n, n, d, false)
		for i := range n {
			copy(ctxAll[i*H+h*d:i*H+(h+1)*d], p.ctxh[i*d:(i+1)*d])
		}
	}
	copy(p.acc, p.x)
	be.MatMulT(p.acc, ctxAll, fl.out.Data, n, H, H, true)
	p.EndAttention(&l.Resident)
	be.MatMulT(inter, p.x, fl.up.Data, n, H, c.Intermediate, false)
	be.AddBias(inter, fl.upBias, n, c.Intermediate)
	be.GELU(inter)
	be.MatMulT(p.acc, inter, fl.down.Data, n, c.Intermediate, H, true)
	p.EndLayer(&l.Resident)
}

// Bytes is the weight memory of the fused matrices.
func (fl *fusedLayer) bytes() int64 {
	n := len(fl.qkv.Data) + len(fl.qkvBias) + len(fl.out.Data) + len(fl.up.Data) + len(fl.upBias) + len(fl.down.Data)
	return 4 * int64(n)
}

// FusedBytes is the weight memory of the model's fused layers.
func (m *Model) FusedBytes() int64 {
	var n int64
	for i := range m.Layers {
		if fl := m.Layers[i].fused; fl != nil {
			n += fl.bytes()
		}
	}
	return n
}

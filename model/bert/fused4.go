package bert

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/wrxlabs/wrx/backend"
)

// FuseInt4 is FuseInt8 for 4-bit shards: it joins the shards of every
// layer whose shards are all present and held as backend.Int4 (a 4-bit
// store's, one dictionary per matrix) into the layer's four matrices, as
// backend.Int4 too, so that the layer runs as four products on the
// backend's integer kernels (backend.Int4Multiplier) and holds half a byte
// per weight. Nothing is requantized: every head's codes are copied and
// keep their dictionary (a table per panel of the Q, K, V and FFN up
// projections, whose rows are the heads' rows; a table per head's block of
// columns in the output and FFN down projections). A row's tables must
// share one grid, so in the output and down projections every head's
// centroids go on the grid of the head with the largest (Int4GridAt),
// rounding the others' up to half that step; the Q, K, V and up rows keep
// their own. Layers already fused, or whose shards are not all one-table
// Int4 with head sizes that are multiples of 16, are left as they are.
func (m *Model) FuseInt4() error {
	for i := range m.Layers {
		if err := m.Layers[i].fuseInt4(m.Config); err != nil {
			return fmt.Errorf("bert: fuse layer %d to int4: %w", i, err)
		}
	}
	return nil
}

func (l *Layer) fuseInt4(c *Config) error {
	if l.fused != nil || len(l.Attention) != c.Heads || len(l.FFN) != c.Heads {
		return nil
	}
	H, d, f := c.Hidden, c.HeadDim(), c.FFNSlice()
	if d%backend.Int8Panel != 0 || f%backend.Int8Panel != 0 || H%backend.Int8Panel != 0 {
		return nil
	}
	int4 := func(m backend.Matrix) *backend.Int4 {
		if q, ok := m.(backend.Int4Matrix); ok {
			if w := q.Int4(); w != nil && len(w.TableOf) == 0 && len(w.Tables) == 1 {
				return w
			}
		}
		return nil
	}
	var q, k, v, o, up, down []*backend.Int4
	for h := range c.Heads {
		a, ff := l.Attention[h], l.FFN[h]
		if a == nil || ff == nil {
			return nil
		}
		ms := []backend.Matrix{a.Query, a.Key, a.Value, a.Output, ff.Up, ff.Down}
		ws := make([]*backend.Int4, len(ms))
		for i, m := range ms {
			if ws[i] = int4(m); ws[i] == nil {
				return nil
			}
		}
		q, k, v, o, up, down = append(q, ws[0]), append(k, ws[1]), append(v, ws[2]), append(o, ws[3]), append(up, ws[4]), append(down, ws[5])
	}
	qkv, err := joinRows(3*H, H, slices.Concat(q, k, v))
	if err != nil {
		return fmt.Errorf("Q, K, V: %w", err)
	}
	ffUp, err := joinRows(c.Intermediate, H, up)
	if err != nil {
		return fmt.Errorf("FFN up: %w", err)
	}
	out, err := joinCols(H, H, o)
	if err != nil {
		return fmt.Errorf("attention output: %w", err)
	}
	ffDown, err := joinCols(H, c.Intermediate, down)
	if err != nil {
		return fmt.Errorf("FFN down: %w", err)
	}
	fl := &fusedLayer{qkv: qkv, out: out, up: ffUp, down: ffDown, qScaled: true}
	fl.qkvBias, fl.upBias = fusedBiases(l, c)
	// The score scale goes into the query rows, as FuseInt8 does, so the
	// attention does not scale every head's scores: the codes and grid
	// integers stay, the queries' row scales, centroids (their tables
	// are the first Heads, one per head) and outliers are multiplied by
	// it, and Finish recomputes the outliers' corrections.
	s := scoreScale(c)
	for j := range H {
		qkv.Scale[j] *= s
	}
	for t := range c.Heads {
		for i := range qkv.Tables[t].Centroids {
			qkv.Tables[t].Centroids[i] *= s
		}
	}
	for i := range qkv.Outliers {
		if int(qkv.Outliers[i].Row) < H {
			qkv.Outliers[i].Value *= s
		}
	}
	if err := qkv.Finish(); err != nil {
		return fmt.Errorf("Q, K, V: %w", err)
	}
	for i := range fl.qkvBias[:H] {
		fl.qkvBias[i] *= s
	}
	l.fused = fl
	clear(l.Attention)
	clear(l.FFN)
	return nil
}

// newInt4 allocates an n×k Int4 (n and k multiples of 16) to fill.
func newInt4(n, k int) *backend.Int4 {
	return &backend.Int4{N: n, K: k, Codes: make([]byte, n*k/2), Scale: make([]float32, n), Sum: make([]int32, n)}
}

// joinRows stacks the parts' rows (each part K columns, a multiple of 16
// rows) into one n×K Int4, each panel keeping its part's table and grid.
func joinRows(n, k int, parts []*backend.Int4) (*backend.Int4, error) {
	w := newInt4(n, k)
	w.KBlock = k
	r0 := 0
	for i, p := range parts {
		if p.K != k || p.N%backend.Int8Panel != 0 || r0+p.N > n {
			return nil, fmt.Errorf("part %d is %d×%d, rows [%d, %d) of %d×%d", i, p.N, p.K, r0, r0+p.N, n, k)
		}
		// Whole panels: the part's codes are the joined matrix's, moved.
		copy(w.Codes[r0*k/2:], p.Codes[:p.N*k/2])
		copy(w.Scale[r0:], p.Scale[:p.N])
		w.Tables = append(w.Tables, p.Tables[0])
		for range p.N / backend.Int8Panel {
			w.TableOf = append(w.TableOf, uint16(i))
		}
		for _, o := range p.Outliers {
			o.Row += int32(r0)
			w.Outliers = append(w.Outliers, o)
		}
		r0 += p.N
	}
	if r0 != n {
		return nil, fmt.Errorf("parts have %d rows, want %d", r0, n)
	}
	return w, w.Finish()
}

// joinCols puts the parts' columns (each part n rows, a multiple of 16
// columns) side by side into one n×k Int4, a table per part's block of
// columns, every part's centroids on the grid of the largest.
func joinCols(n, k int, parts []*backend.Int4) (*backend.Int4, error) {
	w := newInt4(n, k)
	if len(parts) == 0 || k%len(parts) != 0 {
		return nil, fmt.Errorf("%d parts for %d columns", len(parts), k)
	}
	kb := k / len(parts)
	w.KBlock = kb
	var s float32
	for _, p := range parts {
		s = max(s, p.Scale[0])
	}
	for i := range n {
		w.Scale[i] = s
	}
	for i, p := range parts {
		if p.N != n || p.K != kb || kb%backend.Int8KAlign != 0 {
			return nil, fmt.Errorf("part %d is %d×%d, want %d×%d", i, p.N, p.K, n, kb)
		}
		t := p.Tables[0]
		t.Q = backend.Int4GridAt(&t.Centroids, s)
		w.Tables = append(w.Tables, t)
		// Panel P of the part, 8 bytes per column, is the block of
		// columns [i·kb, (i+1)·kb) of the joined panel P.
		for P := range n / backend.Int8Panel {
			copy(w.Codes[P*8*k+8*i*kb:P*8*k+8*(i+1)*kb], p.Codes[P*8*kb:(P+1)*8*kb])
		}
		for _, o := range p.Outliers {
			o.Col += int32(i * kb)
			w.Outliers = append(w.Outliers, o)
		}
	}
	nb := len(parts)
	for range n / backend.Int8Panel {
		for b := range nb {
			w.TableOf = append(w.TableOf, uint16(b))
		}
	}
	slices.SortFunc(w.Outliers, func(a, b backend.Int4Outlier) int {
		return cmp.Or(cmp.Compare(a.Row, b.Row), cmp.Compare(a.Col, b.Col))
	})
	return w, w.Finish()
}

package shardstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/wrxlabs/wrx/internal/freelist"
	"github.com/wrxlabs/wrx/internal/offheap"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

// ErrCorrupt means a blob's contents do not match its manifest checksum.
var ErrCorrupt = errors.New("checksum mismatch")

// Store is an opened shard store. It is safe for concurrent use.
type Store struct {
	st  storage.Store
	man *Manifest
	id  string // content ID: a hash of the manifest
	// names holds the storage key of every shard version, built once at
	// Open: a request looks up the size of, and reads, every blob it
	// streams, and Key.String would allocate a new name each time.
	names map[Key]string
}

// Open reads and checks the manifest of st: its format, its checksum, and
// that every blob it lists is present with the recorded size, so that a
// truncated or partial store is refused here rather than mid-request.
func Open(ctx context.Context, st storage.Store) (*Store, error) {
	size, err := st.Size(ctx, ManifestKey)
	if err != nil {
		return nil, fmt.Errorf("open shard store: %w", err)
	}
	buf := make([]byte, size)
	if _, err := st.ReadAt(ctx, ManifestKey, buf, 0); err != nil {
		return nil, fmt.Errorf("open shard store: read manifest: %w", err)
	}
	man, err := decodeManifest(buf)
	if err != nil {
		return nil, fmt.Errorf("open shard store: %w", err)
	}
	sum := sha256.Sum256(buf)
	c := &man.Config
	s := &Store{st: st, man: man, id: hex.EncodeToString(sum[:12]),
		names: make(map[Key]string, c.Layers*c.Heads*2*len(man.Fidelities))}
	for l := range c.Layers {
		for h := range c.Heads {
			for _, p := range []Part{Attention, FFN} {
				for _, f := range man.Fidelities {
					k := Key{l, h, p, f}
					name := k.String()
					if _, ok := man.Blobs[name]; !ok {
						return nil, fmt.Errorf("open shard store: manifest lacks %s", k.Describe())
					}
					s.names[k] = name
				}
			}
		}
	}
	for _, k := range []string{ResidentKey, PositionKey, WordKey} {
		if _, ok := man.Blobs[k]; !ok {
			return nil, fmt.Errorf("open shard store: manifest lacks %s", k)
		}
	}
	if want := int64(c.VocabSize * man.WordRowBytes); man.Blobs[WordKey].Size != want {
		return nil, fmt.Errorf("open shard store: %s is %d bytes, want %d", WordKey, man.Blobs[WordKey].Size, want)
	}
	for key, b := range man.Blobs {
		got, err := st.Size(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("open shard store: %w", err)
		}
		if got != b.Size {
			return nil, fmt.Errorf("open shard store: blob %s is %d bytes, manifest says %d: store is truncated or damaged", key, got, b.Size)
		}
	}
	return s, nil
}

// OpenURI opens the storage at uri and the shard store in it. Closing the
// returned Store closes the storage.
func OpenURI(ctx context.Context, uri string) (*Store, error) {
	return OpenURIWith(ctx, uri, OpenOptions{})
}

// OpenOptions tunes OpenURIWith. The zero value reads the storage as it is.
type OpenOptions struct {
	// Throttle, if not zero, emulates a slower device under the store
	// (storage.Throttle).
	Throttle storage.ThrottleConfig
}

// OpenURIWith is OpenURI with options.
func OpenURIWith(ctx context.Context, uri string, opts OpenOptions) (*Store, error) {
	st, err := storage.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	if opts.Throttle != (storage.ThrottleConfig{}) {
		st = storage.Throttle(st, opts.Throttle)
	}
	s, err := Open(ctx, st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	return s, nil
}

// Close closes the underlying storage.
func (s *Store) Close() error { return s.st.Close() }

// Storage returns the underlying storage.
func (s *Store) Storage() storage.Store { return s.st }

// ContentID identifies the store's contents: a hash of its manifest, which
// records the size and checksum of every blob. Two stores with the same
// ContentID hold the same model; a converted-again store gets a new one.
// Data kept beside a store, such as its profiles, is keyed by it.
func (s *Store) ContentID() string { return s.id }

// Manifest returns the store's manifest. Callers must not modify it.
func (s *Store) Manifest() *Manifest { return s.man }

// Config returns the model architecture.
func (s *Store) Config() *bert.Config { return &s.man.Config }

// Tokenizer rebuilds the model's tokenizer from the manifest.
func (s *Store) Tokenizer() (*bert.Tokenizer, error) {
	t, err := bert.NewTokenizer(s.man.Vocab, s.man.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("shard store tokenizer: %w", err)
	}
	return t, nil
}

// name returns the storage key of shard version k.
func (s *Store) name(k Key) string {
	if n, ok := s.names[k]; ok {
		return n
	}
	return k.String() // absent, or a store not made by Open
}

// Size returns the stored size of a shard version, or -1 if it is absent.
func (s *Store) Size(k Key) int64 {
	b, ok := s.man.Blobs[s.name(k)]
	if !ok {
		return -1
	}
	return b.Size
}

// BufferSize is the capacity a buffer needs to read the shard version k
// with ReadShard: its size rounded up to storage.Align.
func (s *Store) BufferSize(k Key) int {
	return int(storage.AlignUp(max(s.Size(k), 0)))
}

// ReadBlob reads the blob under key into buf (grown, aligned, if too small)
// and verifies its checksum. It returns the blob, a prefix of buf. It reads
// with storage.ReadAligned, so a direct-IO store lands the whole blob in buf
// with no bounce copy, and the bytes of buf after the blob, up to its size
// rounded up to storage.Align, are overwritten with unspecified bytes.
func (s *Store) ReadBlob(ctx context.Context, key string, buf []byte) ([]byte, error) {
	b, ok := s.man.Blobs[key]
	if !ok {
		return nil, fmt.Errorf("read %s: not in manifest: %w", key, storage.ErrNotFound)
	}
	if int64(cap(buf)) < storage.AlignUp(b.Size) || !storage.IsAligned(buf) {
		buf = storage.AlignedBuffer(int(b.Size))
	}
	buf = buf[:b.Size]
	n, err := storage.ReadAligned(ctx, s.st, key, buf, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if n != len(buf) {
		return nil, fmt.Errorf("read %s: the store delivered %d of its %d bytes: %w", key, n, len(buf), io.ErrUnexpectedEOF)
	}
	if key != WordKey {
		if got := Checksum(buf); got != b.CRC {
			return nil, fmt.Errorf("read %s: crc32c %08x, manifest says %08x: %w", key, got, b.CRC, ErrCorrupt)
		}
	}
	return buf, nil
}

// Shard is one decoded blob of a shard version: its attention part or its
// FFN part, as Key.Part says; the other field is nil.
type Shard struct {
	Key       Key
	Attention *bert.AttentionShard
	FFN       *bert.FFNShard
}

// HeldBytes is the memory the decoded shard holds besides the buffer its
// matrices view: its decoding space (ShardSpace) and what its matrices
// copy or compute (quant.Matrix.HeldBytes).
func (sh Shard) HeldBytes() int64 {
	n := int64(unsafe.Sizeof(ShardSpace{}))
	var ms []backend.Matrix
	if a := sh.Attention; a != nil {
		ms = append(ms, a.Query, a.Key, a.Value, a.Output)
	}
	if f := sh.FFN; f != nil {
		ms = append(ms, f.Up, f.Down)
	}
	for _, m := range ms {
		if h, ok := m.(interface{ HeldBytes() int64 }); ok {
			n += h.HeldBytes()
		}
	}
	return n
}

// ReadShard reads the shard version k into buf (see ReadBlob) and decodes
// it. The shard's matrices view buf, so buf must not be reused while the
// shard is in use. Errors name the shard.
//
// The 4-bit matrices of the blob are repacked in buf, once read and
// checked (quant.RepackInt4), so that they view their codes in the layout
// the integer kernels read: the blob in buf no longer matches the store's
// checksum afterwards.
func (s *Store) ReadShard(ctx context.Context, k Key, buf []byte) (Shard, error) {
	blob, err := s.ReadBlob(ctx, s.name(k), buf)
	if err != nil {
		return Shard{}, fmt.Errorf("%s: %w", k.Describe(), err)
	}
	if err := repackShard(k, blob); err != nil {
		return Shard{}, err
	}
	return s.DecodeShard(k, blob)
}

// ReadShardIn is ReadShard decoding into sp (see ShardSpace): the shard
// is valid until sp decodes another, and reading it allocates nothing.
func (s *Store) ReadShardIn(ctx context.Context, k Key, buf []byte, sp *ShardSpace) (Shard, error) {
	blob, err := s.ReadShardBlob(ctx, k, buf)
	if err != nil {
		return Shard{}, err
	}
	return s.DecodeShardIn(k, blob, sp)
}

// ReadShardBlob reads and verifies the blob of shard version k into buf
// (ReadBlob), the first half of ReadShardIn; errors name k.
func (s *Store) ReadShardBlob(ctx context.Context, k Key, buf []byte) ([]byte, error) {
	blob, err := s.ReadBlob(ctx, s.name(k), buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Describe(), err)
	}
	return blob, nil
}

// DecodeShardIn is what ReadShardIn does once the blob of k is read and
// verified: it repacks 4-bit matrices in place (so blob is modified) and
// decodes the shard into sp's space. A device profile times it apart from
// the read.
func (s *Store) DecodeShardIn(k Key, blob []byte, sp *ShardSpace) (Shard, error) {
	if err := repackShard(k, blob); err != nil {
		return Shard{}, err
	}
	return s.decodeShardIn(k, blob, sp)
}

// repackShard rewrites the 4-bit matrices of a shard blob just read into
// the layout of backend.Int4 in place (quant.RepackInt4): decoding then
// views them there, rather than repacking them into memory of the
// matrices' own, so a held or preloaded 4-bit shard takes its blob's
// half byte per weight and no more.
func repackShard(k Key, blob []byte) error {
	if k.Fidelity != quant.Bits4 {
		return nil
	}
	// Attention blobs: Q, K, V, O then three biases; FFN: Up, Down, bias.
	want, mats := 7, 4
	if k.Part == FFN {
		want, mats = 3, 2
	}
	var arr [7][]byte // a shard is read per request: no section list on the heap
	secs, err := unpackSectionsIn(blob, k.Part, want, arr[:0])
	if err != nil {
		return fmt.Errorf("%s: %w", k.Describe(), err)
	}
	for i, sec := range secs[:mats] {
		if _, err := quant.RepackInt4(sec); err != nil {
			return fmt.Errorf("%s: matrix %d: %w", k.Describe(), i, err)
		}
	}
	return nil
}

// DecodeShard decodes a verified blob of shard version k.
func (s *Store) DecodeShard(k Key, blob []byte) (Shard, error) {
	return s.decodeShardIn(k, blob, new(ShardSpace))
}

func (s *Store) decodeShardIn(k Key, blob []byte, sp *ShardSpace) (Shard, error) {
	sh := Shard{Key: k}
	var err error
	if k.Part == Attention {
		sh.Attention, err = decodeAttentionIn(blob, s.Config(), sp)
	} else {
		sh.FFN, err = decodeFFNIn(blob, s.Config(), sp)
	}
	if err != nil {
		return Shard{}, fmt.Errorf("%s: %w", k.Describe(), err)
	}
	return sh, nil
}

// Skeleton returns the model with its resident parts loaded, word
// embeddings served row by row from the store, and every shard absent.
func (s *Store) Skeleton(ctx context.Context) (*bert.Model, error) {
	return s.SkeletonIn(ctx, SkeletonOptions{})
}

// SkeletonOptions tunes SkeletonIn. The zero value is Skeleton's.
type SkeletonOptions struct {
	// Alloc, if not nil, returns the buffers the resident parts are read
	// into: n bytes aligned for direct IO (storage.AlignedBuffer's
	// guarantee). The model's vectors view those buffers, so an executor
	// can keep them outside the collected heap and free them when it
	// closes. Nil allocates on the Go heap.
	Alloc func(n int) ([]byte, error)
	// MaxPositions, if positive, keeps only the position embeddings of
	// the first MaxPositions tokens, all a model that accepts no longer
	// sequences uses.
	MaxPositions int
}

// SkeletonIn is Skeleton as opts say.
func (s *Store) SkeletonIn(ctx context.Context, opts SkeletonOptions) (*bert.Model, error) {
	c := s.man.Config
	m := &bert.Model{Config: &c}
	alloc := opts.Alloc
	if alloc == nil {
		alloc = func(n int) ([]byte, error) { return storage.AlignedBuffer(n), nil }
	}
	read := func(key string, alloc func(int) ([]byte, error)) ([]byte, error) {
		buf, err := alloc(int(storage.AlignUp(s.man.Blobs[key].Size)))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		return s.ReadBlob(ctx, key, buf)
	}
	res, err := read(ResidentKey, alloc)
	if err != nil {
		return nil, err
	}
	if err := decodeResident(res, m); err != nil {
		return nil, fmt.Errorf("%s: %w", ResidentKey, err)
	}
	positions := c.MaxPosition
	if opts.MaxPositions > 0 && opts.MaxPositions < positions {
		positions = opts.MaxPositions
	}
	if positions == c.MaxPosition {
		pos, err := read(PositionKey, alloc)
		if err != nil {
			return nil, err
		}
		if m.Embeddings.Position, err = viewFloats(pos, c.MaxPosition*c.Hidden, PositionKey); err != nil {
			return nil, err
		}
	} else {
		// The whole blob is read, to check it, into memory given back at
		// once; the rows kept are copied into memory of their own.
		var tmp []byte
		pos, err := read(PositionKey, func(n int) ([]byte, error) {
			var err error
			tmp, err = offheap.Bytes(n)
			return tmp, err
		})
		if tmp != nil {
			defer offheap.Free(tmp)
		}
		if err != nil {
			return nil, err
		}
		if len(pos) != 4*c.MaxPosition*c.Hidden {
			return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errBlob, PositionKey, len(pos), 4*c.MaxPosition*c.Hidden)
		}
		keep, err := alloc(int(storage.AlignUp(int64(4 * positions * c.Hidden))))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", PositionKey, err)
		}
		keep = keep[:4*positions*c.Hidden]
		copy(keep, pos)
		if m.Embeddings.Position, err = viewFloats(keep, positions*c.Hidden, PositionKey); err != nil {
			return nil, err
		}
	}
	m.Embeddings.Word = s.WordRowsFrom(s.st)
	return m, nil
}

// ResidentBytes is the size of what Skeleton holds in memory.
func (s *Store) ResidentBytes() int64 {
	return s.man.Blobs[ResidentKey].Size + s.man.Blobs[PositionKey].Size
}

// ResidentBytesFor is the memory SkeletonIn holds with maxPositions
// position embeddings (0: all), each part rounded up to storage.Align as
// it is read.
func (s *Store) ResidentBytesFor(maxPositions int) int64 {
	c := s.man.Config
	pos := storage.AlignUp(s.man.Blobs[PositionKey].Size)
	if maxPositions > 0 && maxPositions < c.MaxPosition {
		pos = storage.AlignUp(int64(4 * maxPositions * c.Hidden))
	}
	return storage.AlignUp(s.man.Blobs[ResidentKey].Size) + pos
}

// Uniform returns the whole model with every shard at fidelity f, held in
// memory (the hold-in-memory baseline at f bits). At 32 bits the shards are
// plain float32 (*backend.Dense).
func (s *Store) Uniform(ctx context.Context, f quant.Fidelity) (*bert.Model, error) {
	return s.UniformWith(ctx, f, UniformOptions{})
}

// UniformOptions tunes UniformWith. The zero value is Uniform's.
type UniformOptions struct {
	// AfterLayer, if set, is called with the model so far each time a
	// layer's shards have all been read. A caller that fuses layers
	// (bert.Model.Fuse, FuseInt8, which fuse the complete layers and
	// release their shards) does it here, so that one layer's shards at
	// most are held besides the fused layers, rather than the whole
	// model twice.
	AfterLayer func(m *bert.Model) error
}

// FuseEachLayer returns an UniformOptions.AfterLayer that fuses the
// model's complete layers as they are read (bert.Model.Fuse, or FuseInt8
// when int8 is set) and collects the shards each fuse releases: the
// process then holds the fused layers and one layer's shards at most,
// not the model twice.
func FuseEachLayer(int8 bool) func(*bert.Model) error {
	if int8 {
		return FuseEachLayerWith((*bert.Model).FuseInt8)
	}
	return FuseEachLayerWith((*bert.Model).Fuse)
}

// FuseEachLayerWith is FuseEachLayer with the fusing method given, such
// as bert.Model.FuseInt4 for 4-bit shards.
func FuseEachLayerWith(fuse func(*bert.Model) error) func(*bert.Model) error {
	return func(m *bert.Model) error {
		if err := fuse(m); err != nil {
			return err
		}
		runtime.GC()
		return nil
	}
}

// UniformWith is Uniform as opts say.
func (s *Store) UniformWith(ctx context.Context, f quant.Fidelity, opts UniformOptions) (*bert.Model, error) {
	if !s.man.HasFidelity(f) {
		return nil, fmt.Errorf("store has no shard versions at %d bits (has %v)", int(f), s.man.Fidelities)
	}
	m, err := s.Skeleton(ctx)
	if err != nil {
		return nil, err
	}
	c := m.Config
	for l := range c.Layers {
		for h := range c.Heads {
			for _, p := range []Part{Attention, FFN} {
				sh, err := s.ReadShard(ctx, Key{l, h, p, f}, nil)
				if err != nil {
					return nil, err
				}
				if v := sh.Attention; v != nil {
					if f == quant.FP32 {
						v.Query, v.Key, v.Value, v.Output = toDense(v.Query), toDense(v.Key), toDense(v.Value), toDense(v.Output)
					}
					m.Layers[l].Attention[h] = v
				}
				if v := sh.FFN; v != nil {
					if f == quant.FP32 {
						v.Up, v.Down = toDense(v.Up), toDense(v.Down)
					}
					m.Layers[l].FFN[h] = v
				}
			}
		}
		if opts.AfterLayer != nil {
			if err := opts.AfterLayer(m); err != nil {
				return nil, fmt.Errorf("layer %d: %w", l, err)
			}
		}
	}
	return m, nil
}

// toDense copies a matrix out into plain float32: at 32 bits that is
// lossless, releases the IO buffer and lets Model.Fuse join the shards.
func toDense(m backend.Matrix) *backend.Dense {
	n, k := m.Dims()
	d := &backend.Dense{N: n, K: k, Data: make([]float32, n*k)}
	m.DecodeRows(d.Data, 0, n)
	return d
}

// WordTable reads the whole word embedding table into memory, verifying
// every row, for modes that hold the entire model.
func (s *Store) WordTable(ctx context.Context) (*bert.DenseWordEmbeddings, error) {
	c := &s.man.Config
	t := &bert.DenseWordEmbeddings{Hidden: c.Hidden, Data: make([]float32, c.VocabSize*c.Hidden)}
	err := s.wordRowsChunked(ctx, func(id int, row []float32) error {
		copy(t.Data[id*c.Hidden:], row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// WordRowsFrom returns the word rows of the store as requests read them
// (one read per distinct token, shardstore.RowReaders at once, each row
// checked), read from st, which must hold the store's blobs: the store's
// own storage seen through a wrapper, such as a throttle, so that a
// profile times the device requests will read from.
func (s *Store) WordRowsFrom(st storage.Store) bert.WordEmbeddings {
	return &wordRows{s: s, st: st, bufs: freelist.List[[]byte]{Max: 8}, seen: freelist.List[map[int]int]{Max: 8}, jobs: freelist.List[*rowJob]{Max: 8}}
}

// wordRowsChunked reads the word table a chunk of rows at a time, checks
// each row and gives it to use: the table is never in memory twice.
func (s *Store) wordRowsChunked(ctx context.Context, use func(id int, row []float32) error) error {
	c, rec := &s.man.Config, s.man.WordRowBytes
	H, vocab := c.Hidden, c.VocabSize
	const chunk = 1024 // rows per read
	buf := make([]byte, chunk*rec)
	row := make([]float32, H)
	for r0 := 0; r0 < vocab; r0 += chunk {
		n := min(chunk, vocab-r0)
		b := buf[:n*rec]
		if _, err := s.st.ReadAt(ctx, WordKey, b, int64(r0)*int64(rec)); err != nil {
			return fmt.Errorf("read %s rows %d to %d: %w", WordKey, r0, r0+n, err)
		}
		for i := range n {
			id := r0 + i
			if err := decodeWordRow(row, b[i*rec:(i+1)*rec], id); err != nil {
				return err
			}
			if err := use(id, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// WordTableInt8 reads the word embedding table, verifying every row, and
// holds it at 8 bits (bert.Int8WordEmbeddings): a quarter of WordTable's
// memory. It reads the table in chunks of rows, so the float32 table is
// never in memory whole.
func (s *Store) WordTableInt8(ctx context.Context) (*bert.Int8WordEmbeddings, error) {
	c := &s.man.Config
	H, vocab := c.Hidden, c.VocabSize
	t := &bert.Int8WordEmbeddings{Hidden: H, Q: make([]int8, vocab*H), Scale: make([]float32, vocab)}
	err := s.wordRowsChunked(ctx, func(id int, row []float32) error {
		sc, err := backend.QuantizeRowInt8(t.Q[id*H:(id+1)*H], row)
		if err != nil {
			return fmt.Errorf("word embedding row %d: %w", id, err)
		}
		t.Scale[id] = sc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// decodeWordRow checks a row record (CRC32C, then the fp32 row) and
// decodes it into dst.
func decodeWordRow(dst []float32, rec []byte, id int) error {
	if got, want := Checksum(rec[4:]), binary.LittleEndian.Uint32(rec); got != want {
		return fmt.Errorf("%s row %d (word embedding): crc32c %08x, recorded %08x: %w", WordKey, id, got, want, ErrCorrupt)
	}
	for j := range dst {
		dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(rec[4+4*j:]))
	}
	return nil
}

// RowReaders is how many word-row reads a request keeps in flight at
// once. A row is one sector-sized read, which costs the device's per-read
// latency and almost no transfer; on the development machine's virtual
// disk two concurrent 4 KiB direct reads took 30 µs each against 63 µs one
// at a time, and more than two gave no more (an NVMe or UFS device queues
// deeper). The device profile times rows read this way
// (plan.DeviceProfile.RowReads).
const RowReaders = 4

// wordRows serves word embedding rows from the store, one read per
// distinct token, up to RowReaders at once, each row verified against its
// own CRC.
type wordRows struct {
	s    *Store
	st   storage.Store         // holds s's blobs: s's own storage, or a view of it
	bufs freelist.List[[]byte] // row buffers kept between calls
	// seen holds the maps of first positions Rows dedupes tokens with,
	// kept between calls: every request needs one.
	seen freelist.List[map[int]int]
	// jobs keep the lists of a call's distinct rows between calls.
	jobs freelist.List[*rowJob]
}

// rowJob is the distinct rows of one call: token ids, where each goes, and
// what reading it returned.
type rowJob struct {
	ids  []int
	dst  [][]float32
	errs []error
	next atomic.Int64
	wg   sync.WaitGroup
}

// buffer returns an aligned buffer for one row record.
func (w *wordRows) buffer(rec int) []byte {
	if b, ok := w.bufs.Get(); ok {
		return b
	}
	return storage.AlignedBuffer(rec)
}

// Rows implements bert.WordEmbeddings.
func (w *wordRows) Rows(ctx context.Context, ids []int, dst []float32) error {
	c := &w.s.man.Config
	H := c.Hidden
	seen, ok := w.seen.Get()
	if !ok {
		seen = make(map[int]int, len(ids))
	}
	defer func() {
		clear(seen)
		w.seen.Put(seen)
	}()
	job := w.job()
	defer w.putJob(job)
	for i, id := range ids {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("word embedding: token id %d out of range [0,%d)", id, c.VocabSize)
		}
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = i
		job.ids = append(job.ids, id)
		job.dst = append(job.dst, dst[i*H:(i+1)*H])
	}
	if err := w.read(ctx, job); err != nil {
		return err
	}
	for i, id := range ids {
		if j := seen[id]; j != i {
			copy(dst[i*H:(i+1)*H], dst[j*H:(j+1)*H])
		}
	}
	return nil
}

// RowsInto reads the word embedding row of ids[i] into rows[i], each of
// Hidden values, the ids distinct, up to RowReaders at once. It lets a
// caller that holds some rows itself (the executor's preload buffer) read
// the others with one call.
func (w *wordRows) RowsInto(ctx context.Context, ids []int, rows [][]float32) error {
	c := &w.s.man.Config
	if len(ids) != len(rows) {
		return fmt.Errorf("word embedding: %d ids for %d rows", len(ids), len(rows))
	}
	job := w.job()
	defer w.putJob(job)
	for i, id := range ids {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("word embedding: token id %d out of range [0,%d)", id, c.VocabSize)
		}
		if len(rows[i]) != c.Hidden {
			return fmt.Errorf("word embedding: row %d of token %d has room for %d values, want %d", i, id, len(rows[i]), c.Hidden)
		}
	}
	job.ids = append(job.ids, ids...)
	job.dst = append(job.dst, rows...)
	return w.read(ctx, job)
}

func (w *wordRows) job() *rowJob {
	if j, ok := w.jobs.Get(); ok {
		return j
	}
	return new(rowJob)
}

func (w *wordRows) putJob(j *rowJob) {
	clear(j.dst) // drop the references to the caller's rows
	clear(j.errs)
	j.ids, j.dst, j.errs = j.ids[:0], j.dst[:0], j.errs[:0]
	w.jobs.Put(j)
}

// read reads job's rows, the calling goroutine and up to RowReaders−1
// others taking the next unread one in turn. Every reader has returned
// when it does; the error is the one of the earliest row that failed.
func (w *wordRows) read(ctx context.Context, job *rowJob) error {
	n := len(job.ids)
	if n == 0 {
		return nil
	}
	job.errs = slices.Grow(job.errs[:0], n)[:n]
	job.next.Store(0)
	for range min(RowReaders, n) - 1 {
		job.wg.Add(1)
		go func() {
			defer job.wg.Done()
			w.readRows(ctx, job)
		}()
	}
	w.readRows(ctx, job)
	job.wg.Wait()
	for _, err := range job.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readRows reads rows of job until none is left or one fails.
func (w *wordRows) readRows(ctx context.Context, job *rowJob) {
	rec := w.s.man.WordRowBytes
	buf := w.buffer(rec)
	defer w.bufs.Put(buf)
	for {
		i := int(job.next.Add(1) - 1)
		if i >= len(job.ids) {
			return
		}
		if job.errs[i] = w.readRow(ctx, job.ids[i], job.dst[i], buf[:rec]); job.errs[i] != nil {
			job.next.Store(int64(len(job.ids))) // the others stop at their next row
			return
		}
	}
}

// readRow reads and checks the row of token id into dst, through b.
func (w *wordRows) readRow(ctx context.Context, id int, dst []float32, b []byte) error {
	rec := len(b)
	if n, err := w.st.ReadAt(ctx, WordKey, b, int64(id)*int64(rec)); err != nil || n != rec {
		if err == nil {
			err = fmt.Errorf("the store delivered %d of %d bytes: %w", n, rec, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("%s row %d (word embedding): %w", WordKey, id, err)
	}
	return decodeWordRow(dst, b, id)
}

// Package quant encodes float32 weight matrices at a Fidelity (2 to 32 bits
// per weight) into self-describing blobs, and decodes them into a
// backend.Matrix that expands any range of rows on demand, so the backend
// multiplies packed weights tile by tile without expanding whole matrices.
// An 8-bit blob decodes to a matrix that is also a backend.Int8Matrix,
// which backends with integer kernels multiply as stored; a 2-, 3- or
// 4-bit one to a backend.Int4Matrix, which they multiply without
// expanding it to float32; a 5- or 6-bit one to a backend.Int8Matrix too,
// its weights quantized to int8 per row when decoded; and an fp32 one to
// a backend.DenseMatrix over the blob's floats.
//
// # Codecs
//
//   - 8 bits: int8, each output row quantized symmetrically with its own
//     scale (max|w|/127, round to nearest even) and stored in
//     backend.Int8's panel layout, the one the integer kernels read, with
//     the row scales and the row sums the kernels need. Measured on
//     wrx-sst2-small held at 8 bits and run on native's int8 kernels
//     (activations quantized per token), SST-2 dev accuracy is 0.8154 from
//     an int8 store, the same as float32, and 0.8165 from a store of the
//     8-bit dictionary below (requantized to int8 when loaded); labels
//     agree with float32 on 100 % and 99.89 % of the 872 sentences, mean
//     |Δlogit| 0.0021 and 0.0022. The int8 codec needs no requantization
//     when loaded and no decoding when multiplied, so Encode writes it at
//     8 bits since format version 2 (see below).
//   - 2, 3, 4, 5 and 6 bits (and 8 bits in stores written before the int8
//     codec): outlier-aware dictionary quantization in
//     the spirit of GOBO (Zadeh et al., MICRO 2020). A Gaussian (mean, std)
//     is fitted to the matrix. Weights farther than OutlierSigma·std from
//     the mean are outliers, kept exactly as (position, float32) in a list
//     sorted by position. The others become b-bit indices into 2^b
//     centroids, initialised on quantiles of the inliers' companded density
//     p^(1/3) and refined by 1-D Lloyd (k-means) iterations run over the
//     sorted inliers with prefix sums, so an iteration costs O(2^b·log n)
//     instead of O(n). On Gaussian data the result matches the Lloyd–Max
//     optimum (TestDictionaryAccuracy). Encoding all eight fidelities of
//     wrx-sst2-small's 10.6 M shard weights takes about 3 s on one core.
//     DefaultOutlierSigma gives the threshold and how it was chosen.
//   - 8 bits also has a per-row linear codec (asymmetric uint8 between
//     each row's min and max). Measured on the 432 head-shard matrices of
//     wrx-sst2-small (scripts/quant-report), the 256-entry dictionary is
//     slightly more accurate (mean relative error 0.006204 against
//     0.006208), smaller (1.047 against 1.055 bytes per weight: one
//     centroid table instead of a scale pair per row) and faster to decode
//     (a table lookup instead of a multiply-add), so Encode wrote the
//     dictionary at 8 bits until the int8 codec. Decode reads both; their
//     encoders live in the tests, which check and measure the codecs.
//   - 16: IEEE fp16, round to nearest even, subnormals kept, overflow to Inf.
//   - 32: raw fp32, bit-exact.
//
// # Blob layout
//
// All integers and floats are little-endian. A 36-byte header:
//
//	off size field
//	 0   4   magic "WRXQ"
//	 4   1   format version (2 for the int8 codec, 1 for the others)
//	 5   1   fidelity in bits
//	 6   1   codec (1 fp32, 2 fp16, 3 dictionary, 4 linear8, 5 int8)
//	 7   1   flags, always 0 (bit 0 once meant lz4: see below)
//	 8   4   N rows
//	12   4   K columns
//	16   4   centroid count (2^b for the dictionary, else 0)
//	20   4   outlier count (dictionary only, else 0)
//	24   4   payload length
//	28   4   stored payload length, equal to the payload length (the
//	         blob is exactly 36 + this)
//	32   4   CRC32C of bytes 0–31
//
// followed by the payload:
//
//	fp32:       N·K float32
//	fp16:       N·K binary16
//	dictionary: centroids float32[2^b] (ascending), outlier positions
//	            uint32[O] (row-major index, strictly increasing), outlier
//	            values float32[O], then N rows of ceil(K·b/8) bytes, each
//	            row's indices packed LSB-first from the row's first byte
//	linear8:    N pairs (lo, step float32), then N·K bytes; w = lo + q·step
//	int8:       with N' and K' the dimensions padded by backend.Int8Dims
//	            (multiples of 16): scales float32[N'], sums int32[N'], then
//	            N'·K' int8 in backend.Int8's panel layout (see
//	            backend.Int8Panel); the padding is zero; w = scale·q
//
// Decode reads every blob in place, without copying it (an int8 blob's
// scales and sums, N'·8 bytes, are copied), except a 4-bit dictionary
// blob: its codes are repacked, when decoded, into backend.Int4's panel
// layout (the order the integer kernels read, two codes per byte), its 16
// centroids put on an int8 grid and its outliers copied, so that the
// decoded Matrix is a backend.Int4Matrix that no longer references the
// blob and holds the same half byte per weight (plus 8 bytes per row and
// 16 per outlier). The stored format is unchanged: the grid is derived
// from the centroids (see backend.Int4), and repacking costs about as
// much as one decode of the matrix to float32, which the integer path no
// longer does at every multiply. 2- and 3-bit codes are spread into the
// same layout (so their decoded Matrix holds more than their blob: half a
// byte per weight), their 4 or 8 centroids padded to 16 with zeros; a 5-
// or 6-bit Matrix keeps its blob view, for DecodeRows's exact weights,
// and an int8 form of its own beside it (a byte per weight).
//
// The int8 codec came with format version 2: a blob of it says version 2,
// so a reader from before it refuses the blob by its version ("format
// version 2, this build reads version 1") instead of misreading it, while
// every other codec's blob stays version 1, which every reader reads. Stores
// written before it hold 8-bit dictionary blobs, which Decode still reads
// (and the held-in-memory int8 path requantizes when loading).
//
// Version 1 also allowed the payload to be stored as one lz4 block, marked
// by flags bit 0, with the two lengths above before and after compression.
// Encode never compressed by default and no longer can: measured on
// wrx-sst2-small (scripts/quant-report), lz4 left every fidelity 0.4 %
// larger, because weights have no repeated 4-byte sequences to match and
// packed dictionary indices are near-uniform, and it added 0.03–0.16 ns
// per weight to Decode. Decode rejects a blob with the flag set, with an
// error saying it is lz4-compressed; such a blob must be re-encoded.
//
// Each row of the dictionary codecs starts on a byte boundary so DecodeRows(r0, r1) reads only its
// rows, and the outliers of a row range are found by binary search. Every
// array starts 4-byte aligned relative to the blob.
//
// The payload has no checksum of its own: the store keeps a CRC32C over the
// whole blob one level up. The header has one because it is cheap (32
// bytes) and some header corruptions are otherwise consistent: K=17 and K=19
// pack into the same row length at 2 bits. Decode validates every field, so
// a corrupted or truncated blob gives an error, never a panic or an
// out-of-range read; corrupted payload values inside valid ranges are the
// outer checksum's to catch.
package quant

package quant_test

import (
	"fmt"
	"log"

	"github.com/wrxlabs/wrx/quant"
)

// Encode a weight matrix at 4 bits, decode it, and expand one row, as the
// backend does tile by tile.
func ExampleEncode() {
	const n, k = 2, 4
	w := []float32{
		0.10, -0.20, 0.05, 0.00,
		-0.10, 0.20, 0.15, 9.00, // 9 is far from the rest: kept exactly
	}
	blob, err := quant.Encode(w, n, k, quant.Bits4, quant.EncodeOptions{OutlierSigma: 2})
	if err != nil {
		log.Fatal(err)
	}
	m, err := quant.Decode(blob) // m reads blob in place: keep blob alive
	if err != nil {
		log.Fatal(err)
	}
	row := make([]float32, k)
	m.DecodeRows(row, 1, 2)
	fmt.Println(len(blob), "bytes; row 1 ends with", row[3])
	// Output: 112 bytes; row 1 ends with 9
}

func ExampleParseFidelities() {
	fs, err := quant.ParseFidelities("32,4,2,16")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fs)
	// Output: [2 4 16 32]
}

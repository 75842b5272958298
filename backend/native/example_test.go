package native_test

import (
	"fmt"

	"github.com/wrxlabs/wrx/backend/native"
)

// A linear layer with 3 inputs and 2 outputs applied to 2 tokens: the
// weight is stored as 2 rows of 3 values, as Hugging Face stores it.
func Example() {
	b := native.New(native.Options{})
	act := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{
		1, 0, 0,
		1, 1, 1,
	}
	out := make([]float32, 2*2)
	b.MatMulT(out, act, w, 2, 3, 2, false)
	b.AddBias(out, []float32{0.5, -1}, 2, 2)
	fmt.Println(out)
	// Output: [1.5 5 4.5 14]
}

package backend_test

import (
	"fmt"

	"github.com/wrxlabs/wrx/backend"
	_ "github.com/wrxlabs/wrx/backend/native" // registers "native"
)

// Open a registered backend by name with options, without importing its
// package for anything but registration, and run a linear layer with 3
// inputs and 2 outputs on 2 tokens. Results do not depend on Threads.
func ExampleOpen() {
	b, err := backend.Open("native", backend.Config{Threads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	act := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2 rows of 3 weights, as Hugging Face stores them
		1, 0, 0,
		1, 1, 1,
	}
	out := make([]float32, 2*2)
	b.MatMulT(out, act, w, 2, 3, 2, false)
	fmt.Println(b.Name(), out)

	_, err = backend.Open("native", backend.Config{Threads: -1})
	fmt.Println(err)
	// Output:
	// native [1 6 4 15]
	// backend "native": Config.Threads is -1; want 0 (the backend's default) or more
}

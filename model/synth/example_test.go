package synth_test

import (
	"fmt"

	"github.com/wrxlabs/wrx/model/synth"
)

func ExampleConfig() {
	c, err := synth.Config("bert-base")
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Layers, c.Heads, c.Hidden, c.Intermediate, c.VocabSize)
	// Output: 12 12 768 3072 30522
}

func ExampleModel() {
	c, err := synth.Config("wrx-sst2-small")
	if err != nil {
		panic(err)
	}
	m, err := synth.Model(c, 1) // 22.7M random weights, the same for seed 1 every time
	if err != nil {
		panic(err)
	}
	n, k := m.Layers[0].Attention[0].Query.Dims()
	fmt.Println(len(m.Layers), len(m.Layers[0].Attention), n, k)
	// Output: 6 12 32 384
}

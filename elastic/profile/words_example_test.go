package profile_test

import (
	"fmt"

	"github.com/wrxlabs/wrx/elastic/profile"
)

// ExampleProfileWords counts which tokens profiling requests contain and
// picks the word rows worth keeping in a preload buffer. In practice the
// requests are a training set tokenized by the store's tokenizer (wrx
// profile words), and the planner's Preload decides how much of the budget
// the rows get.
func ExampleProfileWords() {
	requests := [][]int{
		{101, 1996, 3185, 2003, 2204, 102}, // [CLS] the movie is good [SEP]
		{101, 1996, 5436, 2003, 6659, 102},
		{101, 2019, 6429, 3185, 102},
	}
	p, err := profile.ProfileWords("three reviews", requests)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("most frequent:", p.Top[:3])
	// Rows of 1536 bytes (hidden 384, float32) within 6 KiB.
	fmt.Println("rows to preload:", p.HotRows(6<<10, 1536))
	// Output:
	// most frequent: [{101 3} {102 3} {1996 2}]
	// rows to preload: [101 102 1996 2003]
}

package shardstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/wrxlabs/wrx/shardstore"
	_ "github.com/wrxlabs/wrx/storage/flatfile" // registers file:
)

// Verify a store offline, as "wrx verify" does: every blob is read and
// checked, and every problem is listed. (It needs a store made by wrx
// convert, so it is compiled but not run.)
func ExampleVerifyURI() {
	r, err := shardstore.VerifyURI(context.Background(), "file:/data/models/sst2")
	if err != nil {
		log.Fatal(err) // no store there, or the context ended
	}
	for _, p := range r.Problems {
		fmt.Printf("%s: %s\n", p.Key, p.Error)
	}
	fmt.Printf("%d blobs, %d word rows checked, sound: %v\n", r.Blobs, r.WordRows, r.OK())
}

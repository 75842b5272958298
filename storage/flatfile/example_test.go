package flatfile_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/wrxlabs/wrx/storage"
	_ "github.com/wrxlabs/wrx/storage/flatfile" // registers file:
)

func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "flatfile-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	uri := "file:" + filepath.Join(tmp, "model.wrx")

	w, err := storage.Create(ctx, uri, storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort()
	if err := w.Put(ctx, "L00/H00/attn/q4", make([]byte, 98_304)); err != nil {
		log.Fatal(err)
	}
	if err := w.Put(ctx, "manifest", []byte(`{"version":1}`)); err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	s, err := storage.Open(ctx, uri)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// An aligned buffer makes each whole-blob read one direct read.
	buf, err := storage.ReadAll(ctx, s, "L00/H00/attn/q4", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(buf), storage.IsAligned(buf))
	// Output: 98304 true
}

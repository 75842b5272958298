package storage_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/wrxlabs/wrx/storage"
)

// A store is written once through a Writer; nothing is visible until Commit.
func ExampleCreate() {
	ctx := context.Background()
	defer storage.DeleteMem("example-create")

	w, err := storage.Create(ctx, "mem:example-create", storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // does nothing once Commit has succeeded
	for _, key := range []string{"L00/H00/attn/q4", "L00/H00/ffn/q4", "manifest"} {
		if err := w.Put(ctx, key, []byte("blob of "+key)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	s, err := storage.Open(ctx, "mem:example-create")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	keys, err := s.Keys(ctx, "L00/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(keys)
	// Output: [L00/H00/attn/q4 L00/H00/ffn/q4]
}

// Reading whole blobs through ReadAll lets one aligned buffer serve a stream
// of reads; with a file: store each read is then a single direct-IO read.
func ExampleOpen() {
	ctx := context.Background()
	defer storage.DeleteMem("example-open")
	w, err := storage.Create(ctx, "mem:example-open", storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	w.Put(ctx, "emb/rows", []byte("row0row1row2"))
	w.Put(ctx, "manifest", []byte(`{"version":1}`))
	if err := w.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	s, err := storage.Open(ctx, "mem:example-open")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	var buf []byte
	for _, key := range []string{"manifest", "emb/rows"} {
		buf, err = storage.ReadAll(ctx, s, key, buf)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s\n", key, buf)
	}

	// Part of a blob: the third 4-byte row.
	row := make([]byte, 4)
	if _, err := s.ReadAt(ctx, "emb/rows", row, 2*4); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("row 2: %s\n", row)
	// Output:
	// manifest: {"version":1}
	// emb/rows: row0row1row2
	// row 2: row2
}

// A device description as the CLI's --throttle flag takes it.
func ExampleParseThrottle() {
	cfg, err := storage.ParseThrottle("150MB/s,1ms")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg, cfg.ReadTime(300_000))
	// Output: 150MB/s,1ms 3ms
}

// An interrupted write, as a test of a converter would inject it: the third
// Put fails, the caller aborts, and nothing opens.
func ExampleFaultyWrites() {
	ctx := context.Background()
	w, err := storage.Create(ctx, "mem:example-faulty", storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fw := storage.FaultyWrites(w, storage.Fault{Op: storage.OpPut, Call: 3})
	for _, key := range []string{"a", "b", "c", "d"} {
		if err := fw.Put(ctx, key, []byte(key)); err != nil {
			fmt.Println(err)
			fw.Abort()
			break
		}
	}
	_, err = storage.Open(ctx, "mem:example-faulty")
	fmt.Println(err)
	// Output:
	// faulty: put "c": injected fault
	// storage: open mem:example-faulty: file does not exist
}

// Sidecars hold small mutable metadata beside an immutable store, by URI.
func ExampleWriteSidecar() {
	ctx := context.Background()
	defer storage.DeleteMem("example-sidecar")
	w, err := storage.Create(ctx, "mem:example-sidecar", storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	const uri = "mem:example-sidecar"
	if err := storage.WriteSidecar(ctx, uri, "profile.json", []byte(`{"bandwidth":85e6}`)); err != nil {
		log.Fatal(err)
	}
	b, err := storage.ReadSidecar(ctx, uri, "profile.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	_, err = storage.ReadSidecar(ctx, uri, "other.json")
	fmt.Println(errors.Is(err, storage.ErrNotFound))
	// Output:
	// {"bandwidth":85e6}
	// true
}

// A flaky device, as a test of a reader would make one: about one read in
// ten fails and one in five stalls for a millisecond, the same reads for
// the same seeds.
func ExampleFaulty() {
	ctx := context.Background()
	defer storage.DeleteMem("example-flaky")
	w, err := storage.Create(ctx, "mem:example-flaky", storage.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Put(ctx, "blob", []byte("contents")); err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	s, err := storage.Open(ctx, "mem:example-flaky")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	flaky := storage.Faulty(s,
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultError, Rate: 0.1, Seed: 1},
		storage.Fault{Op: storage.OpRead, Kind: storage.FaultDelay, Delay: time.Millisecond, Rate: 0.2, Seed: 2},
	)
	failed := 0
	for range 100 {
		if _, err := flaky.ReadAt(ctx, "blob", make([]byte, 8), 0); errors.Is(err, storage.ErrInjected) {
			failed++
		}
	}
	fmt.Println(failed > 0 && failed < 100, flaky.Fired() >= failed)
	// Output: true true
}

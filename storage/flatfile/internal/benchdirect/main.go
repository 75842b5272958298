// Command benchdirect builds a flat-file store of shard-sized random blobs
// and streams it back through storage/flatfile, for
// scripts/bench-directio.sh, which compares the stream with dd iflag=direct
// on the same data file.
//
//	benchdirect build -store DIR -mb 500
//	benchdirect stream -store DIR [-depth N]
//	benchdirect count -store DIR
//
// The blobs imitate every shard version of a BERT-base-sized model (hidden
// 768, 12 heads, FFN 3072): per layer and head an attention blob of 196,608
// weights and an FFN blob of 393,216, at 2, 3, 4, 5, 6, 8, 16 and 32 bits,
// plus up to 4 KiB of outliers and dictionary so sizes are not aligned.
// That is 48 KB to 1.5 MB per blob, written in key order, so streaming in
// key order reads the data file front to back.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/flatfile"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchdirect build|stream -store DIR [-mb N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("store", "", "store directory")
	mb := fs.Int("mb", 500, "approximate store size in MB (build)")
	depth := fs.Int("depth", 1, "reads in flight (stream)")
	fs.Parse(os.Args[2:])
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "benchdirect: -store is required")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(context.Background(), *dir, int64(*mb)*1e6)
	case "count":
		err = count(context.Background(), *dir)
	case "stream":
		err = stream(context.Background(), *dir, *depth)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdirect:", err)
		os.Exit(1)
	}
}

func build(ctx context.Context, dir string, target int64) error {
	w, err := storage.Create(ctx, "file:"+dir, storage.CreateOptions{Overwrite: true})
	if err != nil {
		return err
	}
	defer w.Abort()
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 2<<20)
	var total int64
	var blobs int
	for layer := 0; total < target; layer++ {
		for head := 0; head < 12 && total < target; head++ {
			for _, part := range []struct {
				name    string
				weights int
			}{{"attn", 196_608}, {"ffn", 393_216}} {
				for _, bits := range []int{2, 3, 4, 5, 6, 8, 16, 32} {
					n := part.weights*bits/8 + r.IntN(4096)
					buf = buf[:n]
					for i := 0; i+8 <= n; i += 8 {
						v := r.Uint64()
						for j := range 8 {
							buf[i+j] = byte(v >> (8 * j))
						}
					}
					key := fmt.Sprintf("L%02d/H%02d/%s/q%02d", layer, head, part.name, bits)
					if err := w.Put(ctx, key, buf); err != nil {
						return err
					}
					total += int64(n)
					blobs++
				}
			}
		}
	}
	if err := w.Commit(ctx); err != nil {
		return err
	}
	fmt.Printf("built %s: %d blobs, %s\n", dir, blobs, units.FormatBytes(total))
	return nil
}

// count prints the number of blobs.
func count(ctx context.Context, dir string) error {
	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	keys, err := s.Keys(ctx, "")
	if err != nil {
		return err
	}
	fmt.Println(len(keys))
	return nil
}

// stream reads every blob, in key order, with direct IO required, and
// prints "BYTES SECONDS". With depth 1 (what the script measures) it reads
// one blob at a time into one reused aligned buffer, as WRX's single IO
// goroutine does; a larger depth keeps that many reads in flight, to see
// what queue depth would buy on a given device.
func stream(ctx context.Context, dir string, depth int) error {
	s, err := flatfile.Open(ctx, dir, storage.OpenOptions{Direct: storage.DirectRequired})
	if err != nil {
		return err
	}
	defer s.Close()
	keys, err := s.Keys(ctx, "")
	if err != nil {
		return err
	}
	var total int64
	start := time.Now()
	if depth <= 1 {
		var buf []byte
		for _, k := range keys {
			buf, err = storage.ReadAll(ctx, s, k, buf)
			if err != nil {
				return err
			}
			total += int64(len(buf))
		}
	} else {
		type res struct {
			n   int
			err error
		}
		next := make(chan string)
		out := make(chan res, depth)
		go func() {
			for _, k := range keys {
				next <- k
			}
			close(next)
		}()
		var wg sync.WaitGroup
		for range depth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf []byte
				for k := range next {
					var err error
					buf, err = storage.ReadAll(ctx, s, k, buf)
					out <- res{len(buf), err}
				}
			}()
		}
		go func() { wg.Wait(); close(out) }()
		for r := range out {
			if r.err != nil {
				return r.err
			}
			total += int64(r.n)
		}
	}
	el := time.Since(start)
	fmt.Printf("%d %.6f\n", total, el.Seconds())
	return nil
}

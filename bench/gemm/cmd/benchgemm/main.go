// Command benchgemm prints the GEMM throughput of WRX backends (see package
// bench/gemm) as a table, or as JSON with --json:
//
//	go run ./bench/gemm/cmd/benchgemm --json
//	go run ./bench/gemm/cmd/benchgemm --backends native --m 1,128 --kn 768x3072 --threads 2
//	go run ./bench/gemm/cmd/benchgemm --backends native,native-int8-amx,native-int8-avx2 --threads 1
//	go run ./bench/gemm/cmd/benchgemm --backends native-int4,native-int4-registers,native-int4-scratch --threads 1
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/wrxlabs/wrx/backend/native"
	"github.com/wrxlabs/wrx/bench/gemm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchgemm:", err)
		os.Exit(1)
	}
}

func run() error {
	jsonOut := flag.Bool("json", false, `print [{"backend","m","k","n","gflops"}] instead of a table`)
	backends := flag.String("backends", strings.Join(gemm.DefaultBackends, ","), "comma-separated backends to measure")
	ms := flag.String("m", "", "comma-separated row counts (default 1,8,32,128)")
	kns := flag.String("kn", "", "comma-separated KxN weight shapes, e.g. 768x3072 (default: BERT-small and BERT-base layers)")
	threads := flag.Int("threads", 0, "threads for the native backend (0 = GOMAXPROCS)")
	rounds := flag.Int("rounds", 0, "timed rounds per shape, best reported (default 5)")
	listInt8 := flag.Bool("list-int8", false, "print the int8 kernel families of this CPU (for --backends native-int8-NAME), one per line, and exit")
	listInt4 := flag.Bool("list-int4", false, "print the 4-bit product's backends this CPU runs (native-int4 and its paths), one per line, and exit")
	flag.Parse()
	if *listInt4 {
		fmt.Println(gemm.NativeInt4)
		if !strings.HasPrefix(native.New(native.Options{}).Int4Kernels(), "scratch") {
			fmt.Println(gemm.NativeInt4 + "-registers")
		}
		fmt.Println(gemm.NativeInt4 + "-scratch")
		return nil
	}
	if *listInt8 {
		for _, n := range native.Int8KernelNames() {
			fmt.Println(n)
		}
		return nil
	}
	opts := gemm.Options{Backends: strings.Split(*backends, ","), Threads: *threads, Rounds: *rounds}
	if *ms != "" {
		for _, f := range strings.Split(*ms, ",") {
			m, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("--m: %w", err)
			}
			opts.M = append(opts.M, m)
		}
	}
	if *kns != "" {
		for _, f := range strings.Split(*kns, ",") {
			var k, n int
			if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d", &k, &n); err != nil {
				return fmt.Errorf("--kn %q: want KxN: %w", f, err)
			}
			opts.KN = append(opts.KN, [2]int{k, n})
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := gemm.Run(ctx, opts)
	if err != nil {
		return err
	}
	if *jsonOut {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tm\tk\tn\tGFLOP/s\t")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t\n", r.Backend, r.M, r.K, r.N, r.GFLOPS)
	}
	return tw.Flush()
}

package gemm

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunShapes(t *testing.T) {
	opts := Options{
		Backends:  []string{NativeSIMD, NativePureGo, "gorgonia", NativeInt8, NativeInt8 + "-go"},
		M:         []int{1, 3},
		KN:        [][2]int{{16, 8}},
		RoundTime: time.Millisecond,
		Rounds:    1,
	}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5*2 {
		t.Fatalf("got %d results, want 10: %+v", len(res), res)
	}
	for i, r := range res {
		if want := opts.Backends[i/2]; r.Backend != want || r.M != opts.M[i%2] || r.K != 16 || r.N != 8 {
			t.Errorf("result %d = %+v, want backend %s m=%d k=16 n=8", i, r, want, opts.M[i%2])
		}
		if !(r.GFLOPS > 0) {
			t.Errorf("result %d: GFLOPS = %v, want > 0", i, r.GFLOPS)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), Options{Backends: []string{"no-such-backend"}}); err == nil {
		t.Error("unknown backend: no error")
	}
	if _, err := Run(context.Background(), Options{Backends: []string{NativeInt8 + "-no-such-kernels"}}); err == nil {
		t.Error("unknown int8 kernels: no error")
	}
	if _, err := Run(context.Background(), Options{Backends: []string{NativeSIMD}, M: []int{0}}); err == nil {
		t.Error("m=0: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Options{Backends: []string{NativeSIMD}, M: []int{1}, KN: [][2]int{{8, 8}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
}

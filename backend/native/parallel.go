package native

import "sync"

// parallelFor calls fn over [0, n) split into at most threads contiguous
// ranges whose boundaries are multiples of grain (except the last). It runs
// fn inline when one range covers everything, so small calls pay no
// goroutine cost.
func parallelFor(n, grain, threads int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if threads > chunks {
		threads = chunks
	}
	if threads <= 1 {
		fn(0, n)
		return
	}
	per := (chunks + threads - 1) / threads * grain
	var wg sync.WaitGroup
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+per, n))
	}
	fn(0, min(per, n))
	wg.Wait()
}

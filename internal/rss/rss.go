// Package rss reads the process's resident set size as the operating
// system counts it: memory is shown by measurement, never only by summing
// WRX's own bookkeeping.
package rss

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Current is the process's resident set in bytes (VmRSS), or 0 where the
// system does not say (only Linux's /proc is read).
func Current() int64 { return field("VmRSS") }

// Peak is the process's peak resident set in bytes so far (VmHWM), or 0
// where the system does not say.
func Peak() int64 { return field("VmHWM") }

func field(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	v, _ := StatusField(b, name)
	return v
}

// StatusField reads a memory field ("VmHWM", "VmRSS", ...) of a
// /proc/PID/status text, in bytes (the kernel's "kB" are KiB).
func StatusField(status []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != name {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status field %s: unexpected value %q", name, rest)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status field %s: %w", name, err)
		}
		return n * 1024, nil
	}
	return 0, errors.New("status field " + name + " not found")
}

// HeapHeadroom is the headroom programs give LimitHeap: the garbage the
// heap may hold beyond what was live when the classifier opened. A warm
// streaming request leaves about 12 KB (its plan, its tokens, its
// answer), so the heap is collected every two or three requests. In 1,800
// wrx-bench requests (11 and 24 ms; 2, 4 and 8 MB; GODEBUG=gctrace=1)
// there were 680 collections, 0–2% of the CPU; 2,088 with the limit only
// the collector's margin above what was held, whose heap goal is then
// what is live; 3,419 when, besides, the integer kernels kept their
// scratch in sync.Pools, which every collection empties (200 KB allocated
// again a request, bringing the next collection sooner).
const HeapHeadroom = 256 << 10

// LimitOpening bounds the heap's garbage while a program opens its
// classifier, before LimitHeap can be set from what the open classifier
// holds: it sets the collector's GOGC to openGCPercent and returns a
// function that sets it back. By default the heap may grow to twice what
// is live before a collection, and the pages that growth touched stay
// resident after it, in the peak resident set that the model's memory is
// measured by. Like LimitHeap it sets process-wide state, so only
// programs call it.
func LimitOpening() (restore func()) {
	old := debug.SetGCPercent(openGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// openGCPercent is LimitOpening's GOGC: garbage up to a tenth of what is
// live, about half a megabyte for wrx-sst2-small's streaming classifier.
const openGCPercent = 10

// LimitHeap collects garbage and sets the Go runtime's memory limit
// (debug.SetMemoryLimit) to the memory it holds now plus headroom plus the
// margin the collector keeps below a limit (the larger of 1 MiB and 3% of
// it: memoryLimitMinHeapGoalHeadroom and memoryLimitHeapGoalHeadroomPercent
// in runtime/mgcpacer.go), and returns that limit. A program calls it once
// its classifier is open: the collector then keeps the garbage of requests
// within headroom, where by default it lets the heap grow to twice what is
// live, so that the process's resident set stays within the model's budget
// (the model's own memory lives outside the collected heap). It sets
// process-wide state, so only programs call it, never the library.
func LimitHeap(headroom int64) int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	held := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	limit := held + headroom + max(1<<20, (held+headroom)*3/97)
	debug.SetMemoryLimit(limit)
	return limit
}

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

// HeapHeadroom is the headroom programs give LimitHeap. The collector
// keeps its heap goal at least 1 MiB below the limit
// (memoryLimitMinHeapGoalHeadroom in runtime/mgcpacer.go), so with this
// headroom the goal is what is live and the heap is collected about once
// a request: 1,579 collections in an 872-sentence wrx eval at a 4 MB
// budget, 7% of the CPU (GODEBUG=gctrace=1). That keeps the model RSS
// low (4.35–4.61 MB at 4 MB, against 4.70–5.39 MB with 2 MiB, which left
// the heap about 1 MiB of room) and costs tail latency. A warm streaming
// request leaves about 6 KB of garbage; a limit with the collector's
// margin added and a small real headroom is the next thing to measure.
const HeapHeadroom = 1 << 20

// LimitHeap collects garbage and sets the Go runtime's memory limit
// (debug.SetMemoryLimit) to the memory it holds now plus headroom, and
// returns that limit. A program calls it once its classifier is open: the
// collector then keeps the garbage of requests within headroom, where by
// default it lets the heap grow to twice what is live, so that the
// process's resident set stays within the model's budget (the model's own
// memory lives outside the collected heap). It sets process-wide state,
// so only programs call it, never the library.
func LimitHeap(headroom int64) int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	limit := int64(s[0].Value.Uint64()-s[1].Value.Uint64()) + headroom
	debug.SetMemoryLimit(limit)
	return limit
}

package rss

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestStatusField(t *testing.T) {
	status := []byte("Name:\twrx\nVmPeak:\t  200000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\nThreads:\t5\n")
	for name, want := range map[string]int64{"VmHWM": 51234 * 1024, "VmRSS": 40000 * 1024} {
		if got, err := StatusField(status, name); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", name, got, err, want)
		}
	}
	for _, bad := range []string{"Threads", "VmSwap"} {
		if _, err := StatusField(status, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestPeakSeesAnAllocation touches 32 MiB and checks that the measured
// peak grew by about that much.
func TestPeakSeesAnAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident sets are read from Linux's /proc")
	}
	before := Peak()
	b := make([]byte, 32<<20)
	for i := range b {
		b[i] = 1
	}
	after := Peak()
	runtime.KeepAlive(b)
	if after-before < 30<<20 || Current() <= 0 {
		t.Errorf("peak %d → %d after touching 32 MiB (current %d)", before, after, Current())
	}
}

// TestLimitOpeningSetsAndRestoresGOGC: while a program opens its
// classifier the collector runs at openGCPercent, and afterwards at what
// it ran at before.
func TestLimitOpeningSetsAndRestoresGOGC(t *testing.T) {
	before := debug.SetGCPercent(70)
	defer debug.SetGCPercent(before)
	restore := LimitOpening()
	if got := debug.SetGCPercent(openGCPercent); got != openGCPercent {
		t.Errorf("GOGC %d while opening, want %d", got, openGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(70); got != 70 {
		t.Errorf("GOGC %d after restoring, want 70", got)
	}
}

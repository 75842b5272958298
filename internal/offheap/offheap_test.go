package offheap

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/wrxlabs/wrx/internal/rss"
)

func TestBytesAlignedZeroedAndFreed(t *testing.T) {
	for _, n := range []int{1, 4095, 4096, 1 << 20} {
		b, err := Bytes(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n || uintptr(unsafe.Pointer(&b[0]))%4096 != 0 {
			t.Fatalf("Bytes(%d): len %d, address %p", n, len(b), &b[0])
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("Bytes(%d)[%d] = %d, want zero", n, i, v)
			}
		}
		b[n-1] = 7
		if err := Free(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Bytes(-1); err == nil {
		t.Error("Bytes(-1): no error")
	}
	if err := Free(nil); err != nil {
		t.Errorf("Free(nil): %v", err)
	}
}

// TestMappedMemoryLeavesTheHeapAlone touches 64 MiB of mapped memory: the
// resident set grows by that much, the collector's heap does not, and
// freeing gives it back.
func TestMappedMemoryLeavesTheHeapAlone(t *testing.T) {
	if !Mapped || runtime.GOOS != "linux" {
		t.Skip("measured with Linux's resident sets and anonymous maps")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rss0 := rss.Current()
	b, err := Bytes(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	rss1 := rss.Current()
	runtime.ReadMemStats(&after)
	if err := Free(b); err != nil {
		t.Fatal(err)
	}
	rss2 := rss.Current()
	if grew := rss1 - rss0; grew < 60<<20 {
		t.Errorf("resident set grew %d bytes for 64 MiB touched", grew)
	}
	if heap := int64(after.HeapSys) - int64(before.HeapSys); heap > 8<<20 {
		t.Errorf("the collected heap grew %d bytes", heap)
	}
	if back := rss1 - rss2; back < 60<<20 {
		t.Errorf("Free gave back %d bytes of 64 MiB", back)
	}
}

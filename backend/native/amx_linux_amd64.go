//go:build !purego

package native

import (
	"sync"
	"syscall"
)

// amxPermitted asks Linux, once per process, for permission to use the
// AMX tile data registers (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA, Linux 5.16 and later); without it the first AMX
// instruction faults. The AMX kernels are Go assembly, which the runtime
// never preempts asynchronously, so a kernel runs on one thread from its
// tile configuration to its TILERELEASE.
var amxPermitted = sync.OnceValue(func() bool {
	const archReqXcompPerm, xfeatureXTileData = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0)
	return errno == 0
})

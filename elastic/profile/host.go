package profile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"runtime"
	"strings"

	"github.com/wrxlabs/wrx/backend"
	"github.com/wrxlabs/wrx/elastic/plan"
)

// CurrentHost identifies this machine and be, for recording in a device
// profile and checking one against.
func CurrentHost(be backend.Backend) plan.Host {
	h := plan.Host{OS: runtime.GOOS + "/" + runtime.GOARCH, Kernel: kernelRelease(), Backend: be.Name()}
	h.CPU, h.CPUFlags = cpuIdentity()
	if k, ok := be.(interface{ Kernels() string }); ok {
		h.Kernels = k.Kernels()
	}
	if t, ok := be.(backend.Threaded); ok {
		h.Threads = t.Threads()
	}
	return h
}

// cpuIdentity reads the CPU's model name and a digest of its feature flags
// from /proc/cpuinfo; elsewhere it falls back to the architecture.
func cpuIdentity() (model, flags string) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, ""
	}
	model = runtime.GOARCH
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name", "Model", "cpu model":
			model = strings.TrimSpace(val)
		case "flags", "Features":
			if flags == "" {
				sum := sha256.Sum256([]byte(strings.TrimSpace(val)))
				flags = hex.EncodeToString(sum[:8])
			}
		}
	}
	return model, flags
}

// kernelRelease is the OS kernel's release, or "" when unknown.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

//go:build !amd64 || purego

package quant

// decodeHalves converts len(dst) binary16 values from src.
func decodeHalves(dst []float32, src []byte) { decodeHalvesGo(dst, src) }

#!/usr/bin/env bash
# Builds wrx binaries with CGO_ENABLED=0 for the edge targets, stripped
# (-s -w) and without local paths (-trimpath), and prints their sizes. The
# linux ones are static: no libc, nothing to install beside them; a macOS
# binary always links the system's libSystem dynamically, as every Go
# binary there does.
#
#   scripts/build-release.sh [OUTDIR]            # default: dist
#   TARGETS="linux/arm64" scripts/build-release.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist}
targets=${TARGETS:-"linux/amd64 linux/arm64 darwin/arm64"}
mkdir -p "$out"
for t in $targets; do
	os=${t%/*} arch=${t#*/}
	bin="$out/wrx-$os-$arch"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags="-s -w" -o "$bin" ./cmd/wrx
	size=$(wc -c <"$bin")
	printf '%-28s %s bytes (%s MB)\n' "$bin" "$size" "$(awk -v n="$size" 'BEGIN { printf "%.1f", n / 1e6 }')"
done

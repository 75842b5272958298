#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one at a time on one worker
# (-parallel 1), for the time given (default 10m each), and prints a
# table: target, seconds, execs, result. A failing target's crasher is
# left in its package's testdata/fuzz directory, as go test does.
#
#   scripts/fuzz.sh           # 10 minutes per target
#   scripts/fuzz.sh 3s        # a smoke run (what .ci/run does)
#   scripts/fuzz.sh 10m FuzzManifest   # only the targets whose names match
set -uo pipefail
cd "$(dirname "$0")/.."
time=${1:-10m}
only=${2:-}
logs=${FUZZ_LOGS:-$(mktemp -d)}
mkdir -p "$logs"

# package target, one per line: every func FuzzX in a _test.go file.
targets=$(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |$pkg |"
done)

status=0
printf '%-22s %-28s %8s %12s  %s\n' package target seconds execs result
while read -r pkg name; do
	[ -z "$name" ] && continue
	if [ -n "$only" ] && [[ "$name" != *$only* ]]; then continue; fi
	log="$logs/$name.log"
	start=$(date +%s)
	fuzz() { go test -run XXX -fuzz "^$name\$" -fuzztime "$time" -parallel 1 "$pkg" >"$log" 2>&1; }
	if fuzz; then
		result=ok
	elif grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log" && fuzz; then
		# The fuzzing engine's own deadline, with no failing input: a
		# slow target (FuzzDecodeShard runs ~20 inputs a second) can end
		# its time mid-input on a loaded machine. Run once more.
		result="ok (second run: the first hit the engine's deadline, no failing input)"
	else
		result="FAIL (see $log)"
		status=1
	fi
	secs=$(( $(date +%s) - start ))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	printf '%-22s %-28s %8s %12s  %s\n' "$pkg" "$name" "$secs" "${execs:-?}" "$result"
done <<<"$targets"
exit $status

#!/usr/bin/env bash
# Prints the import graph of WRX's own packages (tests left out), one
# package a line with the WRX packages it imports, lowest layer first.
# The layering test (arch_test.go) checks that no arrow runs back up.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}' ./... |
	awk -v mod="$mod/" '
	{
		pkg = $1; sub(mod, "", pkg); if (pkg == substr(mod, 1, length(mod) - 1)) pkg = "wrx"
		deps = ""
		for (i = 2; i <= NF; i++) if (index($i, mod) == 1 || $i == substr(mod, 1, length(mod) - 1)) {
			d = $i; if (d == substr(mod, 1, length(mod) - 1)) d = "wrx"; else sub(mod, "", d); deps = deps " " d
		}
		n = split(deps, a, " ")
		printf "%d\t%-28s →%s\n", n, pkg, deps
	}' | sort -n -k1,1 -k2,2 | cut -f2-

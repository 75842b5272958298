//go:build ignore

// Testsummary reads "go test -json" from standard input and prints what
// plain "go test" would: a line per package, and the output of every
// test that failed. It then counts the tests that were skipped, names
// them, and exits with status 1 if any test failed or, with -no-skips,
// if any was skipped: under CI every test must run, so that a renamed
// fixture cannot turn failing tests into silent skips.
//
//	go test -json ./... | go run .ci/testsummary.go -no-skips
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	noSkips := flag.Bool("no-skips", false, "fail if any test was skipped")
	flag.Parse()
	type key struct{ pkg, test string }
	output := map[key]*strings.Builder{}
	var skipped, failed []string
	var packages, passed int
	failedPkg := false
	r := bufio.NewReaderSize(os.Stdin, 1<<20)
	dec := json.NewDecoder(r)
	for {
		var e event
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary: reading go test -json:", err)
			os.Exit(2)
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			b := output[k]
			if b == nil {
				b = &strings.Builder{}
				output[k] = b
			}
			b.WriteString(e.Output)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, e.Package+" "+e.Test+": "+lastLine(output[k]))
			} else {
				packages++
				fmt.Printf("?   \t%s\t[no test files]\n", e.Package)
			}
		case "fail":
			if e.Test != "" {
				failed = append(failed, e.Package+" "+e.Test)
				fmt.Print(text(output[k]))
				continue
			}
			packages++
			failedPkg = true
			// The package's own output: build errors, panics, the FAIL line.
			fmt.Print(text(output[k]))
		case "pass":
			if e.Test != "" {
				passed++
			}
			if e.Test == "" {
				packages++
				fmt.Printf("ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
		}
		if e.Action != "output" && e.Action != "run" && e.Action != "pause" && e.Action != "cont" && e.Action != "start" {
			if e.Action != "fail" {
				delete(output, k)
			}
		}
	}
	sort.Strings(skipped)
	fmt.Printf("\n%d packages\n", packages)
	for _, s := range skipped {
		fmt.Println("  skipped:", s)
	}
	// The closing line in the plain form CI reads.
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, len(failed), len(skipped))
	switch {
	case failedPkg || len(failed) > 0:
		os.Exit(1)
	case *noSkips && len(skipped) > 0:
		fmt.Println("FAIL: tests were skipped; under CI every test must run")
		os.Exit(1)
	}
}

func text(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	return b.String()
}

// lastLine is the last non-empty line of a test's output that is not its
// "--- SKIP" line: the reason it gave.
func lastLine(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return ""
}

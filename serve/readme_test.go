package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/serve"
)

// readmeExample is a curl command of README.md and the JSON it shows.
type readmeExample struct {
	path, body, want string
}

// readmeExamples extracts from README.md every line
// "curl -s 127.0.0.1:8080/PATH [-d 'BODY']" in a sh block that is
// followed by a json block, the answer it shows.
func readmeExamples(t *testing.T) []readmeExample {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	curl := regexp.MustCompile("(?m)^curl -s 127\\.0\\.0\\.1:8080(/\\S*)(?: -d '([^']*)')?\\n```\\n```json\\n(.*)\\n```")
	var out []readmeExample
	for _, m := range curl.FindAllStringSubmatch(string(b), -1) {
		out = append(out, readmeExample{m[1], m[2], m[3]})
	}
	return out
}

// TestReadmeExamples sends every curl command README.md shows to the
// handler serving the model README serves (wrx serve --model
// ../shared/models/wrx-sst2-small) and checks that it answers the JSON
// README shows: the same structure and strings, numbers within 1e-5.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	if len(examples) < 7 {
		t.Fatalf("found %d curl examples with answers in README.md; the section changed shape", len(examples))
	}
	c, err := wrx.Open(context.Background(), shared.Path(t, "models", "wrx-sst2-small"), wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{}))
	defer srv.Close()

	for _, ex := range examples {
		method := "GET"
		if ex.body != "" {
			method = "POST"
		}
		r := do(t, srv.Client(), method, srv.URL+ex.path, ex.body)
		var got, want any
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Errorf("%s %s: %v: %s", ex.path, ex.body, err, r.body)
			continue
		}
		if err := json.Unmarshal([]byte(ex.want), &want); err != nil {
			t.Errorf("README's answer to %s %s is not JSON: %v", ex.path, ex.body, err)
			continue
		}
		if d := jsonDiff(got, want, ""); d != "" {
			t.Errorf("%s %s: the server answers\n%s\nREADME shows\n%s\n(%s)", ex.path, ex.body, strings.TrimSpace(string(r.body)), ex.want, d)
		}
	}
}

// jsonDiff says where two decoded JSON values differ, with numbers equal
// within 1e-5, or "" when they do not.
func jsonDiff(got, want any, at string) string {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-5 {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
		for i := range w {
			if d := jsonDiff(g[i], w[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
		for k := range w {
			if d := jsonDiff(g[k], w[k], at+"."+k); d != "" {
				return d
			}
		}
	default:
		if got != want {
			return fmt.Sprintf("%s: %v, want %v", at, got, want)
		}
	}
	return ""
}

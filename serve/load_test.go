package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/shared"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/serve"
)

// loadSize is the load test's clients × requests per client:
// $WRX_LOAD_CLIENTS and $WRX_LOAD_REQUESTS, else 4 × 16 (2 × 6 with
// -short).
func loadSize(t *testing.T) (clients, requests int) {
	clients, requests = 4, 16
	if testing.Short() {
		clients, requests = 2, 6
	}
	for _, v := range []struct {
		env string
		n   *int
	}{{"WRX_LOAD_CLIENTS", &clients}, {"WRX_LOAD_REQUESTS", &requests}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 10000 {
				t.Fatalf("%s=%q: want a count from 1 to 10000", v.env, s)
			}
			*v.n = n
		}
	}
	return clients, requests
}

// loadTexts are texts of mixed lengths, from 1 word to more than the 128
// tokens a request is truncated to.
func loadTexts() []string {
	words := strings.Fields("a gorgeous , witty , seductive movie . the acting is bad and the plot is thin " +
		"but unflinchingly bleak and desperate moments make it worth seeing twice")
	var texts []string
	for i, n := range []int{1, 3, 5, 8, 13, 21, 34, 55, 89, 144} {
		var b strings.Builder
		for j := range n {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[(i*7+j)%len(words)])
		}
		texts = append(texts, b.String())
	}
	return texts
}

// loadRequest is one request of the load: a text, alone or as the first
// of a pair, and the request target it asks for.
type loadRequest struct {
	text, pair string
	target     time.Duration
}

func (r loadRequest) body() string {
	in, _ := json.Marshal(r.text)
	if r.pair != "" {
		p, _ := json.Marshal(r.pair)
		in = []byte("[" + string(in) + "," + string(p) + "]")
	}
	params := `"return_logits": true`
	if r.target > 0 {
		params += fmt.Sprintf(`, "target": %q`, r.target.String())
	}
	return fmt.Sprintf(`{"inputs": [%s], "parameters": {%s}}`, in, params)
}

// loadResult is what one run of the load measured.
type loadResult struct {
	mode                      string
	clients, requests         int
	ok, refused, late, errors int
	elapsed                   time.Duration
	p50, p95, p99             time.Duration
	firstError                string
	throughput                float64
	mismatches                int
	firstMismatch             string
}

// TestLoad runs N concurrent clients of M requests each against the
// handler over loopback, with texts and pairs of mixed lengths, held in
// memory and under a target (some requests asking a tighter one), and
// checks every answer against wrx.Classifier.ClassifyPairWith on the same
// input. It logs a table: throughput, latency percentiles, refusals (429)
// deadline refusals (504: the elastic runner's admission control found
// that the queue ahead and the fastest plan need more than the target) and
// errors (anything else that is not 200), which must be 0.
//
//	WRX_LOAD_CLIENTS=8 WRX_LOAD_REQUESTS=100 go test -run TestLoad -v ./serve
func TestLoad(t *testing.T) {
	clients, requests := loadSize(t)
	texts := loadTexts()
	var reqs []loadRequest
	for i, text := range texts {
		reqs = append(reqs, loadRequest{text: text})
		reqs = append(reqs, loadRequest{text: text, pair: texts[(i+3)%len(texts)]})
	}

	type mode struct {
		name   string
		c      *wrx.Classifier
		target time.Duration // asked by every other request
	}
	modes := []mode{
		{"tiny-bert in memory", openTiny(t, 0), 0},
		{"tiny-bert target 200ms", openTiny(t, 200*time.Millisecond), 0},
		{"tiny-bert target 200ms, half ask 50ms", openTiny(t, 200*time.Millisecond), 50 * time.Millisecond},
	}
	if os.Getenv("WRX_LOAD_SST2") == "1" {
		c, err := wrx.Open(context.Background(), shared.Path(t, "models", "wrx-sst2-small"), wrx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		modes = append(modes, mode{"wrx-sst2-small in memory", c, 0})
	}

	var results []loadResult
	for _, m := range modes {
		// Every input's answer, computed directly, before any load.
		want := map[loadRequest][]serve.Label{}
		all := reqs
		if m.target > 0 {
			all = nil
			for i, r := range reqs {
				if i%2 == 1 {
					r.target = m.target
				}
				all = append(all, r)
			}
		}
		for _, r := range all {
			want[r] = want1(t, m.c, r)
		}
		res := runLoad(t, m.c, all, want, clients, requests)
		res.mode = m.name
		results = append(results, res)
		if res.errors > 0 {
			t.Errorf("%s: %d unexpected errors, the first: %s", m.name, res.errors, res.firstError)
		}
		if res.mismatches > 0 {
			t.Errorf("%s: %d answers differ from Classify, the first: %s", m.name, res.mismatches, res.firstMismatch)
		}
		if res.ok+res.refused+res.late+res.errors != clients*requests {
			t.Errorf("%s: %d outcomes for %d requests", m.name, res.ok+res.refused+res.late+res.errors, clients*requests)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n| mode | clients × requests | answered/s | p50 | p95 | p99 | refused (429) | deadline (504) | errors |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d × %d | %.1f | %v | %v | %v | %d | %d | %d |\n", r.mode, r.clients, r.requests,
			r.throughput, r.p50.Round(10*time.Microsecond), r.p95.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.refused, r.late, r.errors)
	}
	t.Log(b.String())
}

func want1(t *testing.T, c *wrx.Classifier, r loadRequest) []serve.Label {
	return want(t, c, r.text, r.pair, wrx.RequestOptions{Target: r.target})
}

func runLoad(t *testing.T, c *wrx.Classifier, reqs []loadRequest, want map[loadRequest][]serve.Label, clients, requests int) loadResult {
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{QueueTimeout: 2 * time.Second}))
	defer srv.Close()
	client := srv.Client()
	client.Timeout = time.Minute // bounds every request

	res := loadResult{clients: clients, requests: requests}
	var mu sync.Mutex
	var latencies []time.Duration
	record := func(d time.Duration, status int, body []byte, r loadRequest, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			res.errors++
			if res.firstError == "" {
				res.firstError = err.Error()
			}
			return
		case status == http.StatusTooManyRequests:
			res.refused++
			return
		case status == http.StatusGatewayTimeout && strings.Contains(string(body), "target"):
			// The elastic runner refused: the queue ahead and the
			// fastest plan need more than the target (wrx.ErrDeadline).
			res.late++
			return
		case status != http.StatusOK:
			res.errors++
			if res.firstError == "" {
				res.firstError = fmt.Sprintf("%d %s", status, body)
			}
			return
		}
		res.ok++
		latencies = append(latencies, d)
		var got [][]serve.Label
		if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 || !sameLabels(got[0], want[r], true) {
			res.mismatches++
			if res.firstMismatch == "" {
				res.firstMismatch = fmt.Sprintf("%q: got %s", r.text, body)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for j := range requests {
				r := reqs[(i*31+j*7)%len(reqs)]
				req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/classify", bytes.NewBufferString(r.body()))
				if err != nil {
					record(0, 0, nil, r, err)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					record(0, 0, nil, r, err)
					continue
				}
				var body bytes.Buffer
				_, err = body.ReadFrom(resp.Body)
				resp.Body.Close()
				record(time.Since(t0), resp.StatusCode, body.Bytes(), r, err)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("the load ran out of time")
	}
	res.throughput = float64(res.ok) / res.elapsed.Seconds()
	res.p50, res.p95, res.p99 = stats.Quantile(latencies, 0.5), stats.Quantile(latencies, 0.95), stats.Quantile(latencies, 0.99)
	return res
}

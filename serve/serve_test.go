package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/serve"
)

var stores atomic.Int64

// openTiny opens the shared tiny-bert fixture, converted into a mem: store
// with hand-made profiles (internal/profiletest): held in memory at 32
// bits, or with a target through the elastic pipeline.
func openTiny(t testing.TB, target time.Duration) *wrx.Classifier {
	t.Helper()
	uri := fmt.Sprintf("mem:serve-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), stores.Add(1))
	profiletest.Store(t, uri)
	opts := wrx.Options{Fidelity: 32}
	if target > 0 {
		opts = wrx.Options{Target: target, Budget: 1 << 20}
	}
	c, err := wrx.Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, client *http.Client, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// want is the answer the handler must give for one input: the
// classifier's own prediction, labels sorted by score.
func want(t testing.TB, c *wrx.Classifier, text, pair string, ro wrx.RequestOptions) []serve.Label {
	t.Helper()
	p, err := c.ClassifyPairWith(context.Background(), text, pair, ro)
	if err != nil {
		t.Fatal(err)
	}
	var out []serve.Label
	for i, l := range c.Labels() {
		logit := p.Logits[i]
		out = append(out, serve.Label{Label: l, Score: p.Scores[l], Logit: &logit})
	}
	slices.SortStableFunc(out, func(a, b serve.Label) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

func sameLabels(got, want []serve.Label, logits bool) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Label != want[i].Label || got[i].Score != want[i].Score {
			return false
		}
		if logits && (got[i].Logit == nil || *got[i].Logit != *want[i].Logit) {
			return false
		}
		if !logits && got[i].Logit != nil {
			return false
		}
	}
	return true
}

func TestClassifyShapes(t *testing.T) {
	c := openTiny(t, 0)
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{}))
	defer srv.Close()
	url := srv.URL + "/classify"
	ro := wrx.RequestOptions{}

	a, b := "a gorgeous , witty , seductive movie .", "the movie is bad ."
	for _, tc := range []struct {
		name, body string
		inputs     [][2]string
		logits     bool
		topK       int
	}{
		{"text", `{"inputs": "` + a + `"}`, [][2]string{{a, ""}}, false, 0},
		{"texts", `{"inputs": ["` + a + `", "` + b + `"]}`, [][2]string{{a, ""}, {b, ""}}, false, 0},
		{"pairs", `{"inputs": [["` + a + `", "` + b + `"], ["` + b + `", "` + a + `"]]}`, [][2]string{{a, b}, {b, a}}, false, 0},
		{"pair object", `{"inputs": {"text": "` + a + `", "text_pair": "` + b + `"}}`, [][2]string{{a, b}}, false, 0},
		{"mixed list", `{"inputs": ["` + a + `", {"text": "` + b + `"}, ["` + b + `", "` + a + `"]]}`, [][2]string{{a, ""}, {b, ""}, {b, a}}, false, 0},
		{"logits", `{"inputs": "` + a + `", "parameters": {"return_logits": true}}`, [][2]string{{a, ""}}, true, 0},
		{"top_k", `{"inputs": ["` + a + `"], "parameters": {"top_k": 1}, "options": {"wait_for_model": true}}`, [][2]string{{a, ""}}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, srv.Client(), "POST", url, tc.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got [][]serve.Label
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			if len(got) != len(tc.inputs) {
				t.Fatalf("%d answers for %d inputs: %s", len(got), len(tc.inputs), r.body)
			}
			for i, in := range tc.inputs {
				w := want(t, c, in[0], in[1], ro)
				if tc.topK > 0 {
					w = w[:tc.topK]
				}
				if !sameLabels(got[i], w, tc.logits) {
					t.Errorf("input %d: got %s, want %+v", i, r.body, w)
				}
			}
		})
	}
}

func TestClassifyDetailsAndTarget(t *testing.T) {
	const target = 200 * time.Millisecond
	c := openTiny(t, target)
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{MinTarget: time.Millisecond}))
	defer srv.Close()
	text := "unflinchingly bleak and desperate"

	r := do(t, srv.Client(), "POST", srv.URL+"/classify", `{"inputs": ["`+text+`"], "parameters": {"details": true, "return_logits": true, "target": "20ms"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got []serve.Details
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if len(got) != 1 || got[0].Run == nil || got[0].Run.Plan == nil {
		t.Fatalf("no run info: %s", r.body)
	}
	d := got[0]
	enc, err := c.Tokenizer().Encode(text, "", wrx.DefaultMaxLen)
	if err != nil {
		t.Fatal(err)
	}
	if d.Tokens != len(enc.InputIDs) {
		t.Errorf("tokens %d, the tokenizer gives %d", d.Tokens, len(enc.InputIDs))
	}
	run := d.Run
	// The runner plans for the request's target divided by its slack (≥ 1).
	if run.Plan.PlannedTargetMS <= 0 || run.Plan.PlannedTargetMS > 20 {
		t.Errorf("planned for %vms; the request asked for 20ms", run.Plan.PlannedTargetMS)
	}
	if run.LatencyMS <= 0 || run.PeakWeightBytes < run.ResidentBytes || len(run.Plan.Bits) != c.Config().Layers {
		t.Errorf("implausible run info: %s", r.body)
	}
	for _, layer := range run.Plan.Bits {
		for _, b := range layer {
			if b != 0 && !slices.Contains(quant.AllFidelities(), quant.Fidelity(b)) {
				t.Errorf("plan runs a shard at %d bits: %s", b, r.body)
			}
		}
	}
	if len(d.Labels) != len(c.Labels()) || d.Labels[0].Logit == nil {
		t.Errorf("labels %+v", d.Labels)
	}
}

// errorCase is a request the handler must refuse, and how.
type errorCase struct {
	name, method, path, body string
	status                   int
	msg                      string // in the error message
}

func checkError(t *testing.T, client *http.Client, base string, tc errorCase) {
	t.Helper()
	r := do(t, client, tc.method, base+tc.path, tc.body)
	if r.status != tc.status {
		t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: the body is not a JSON error: %q (%v)", tc.name, r.body, err)
	}
	if !strings.Contains(e.Error, tc.msg) {
		t.Errorf("%s: error %q does not say %q", tc.name, e.Error, tc.msg)
	}
	if tc.status == http.StatusTooManyRequests || tc.status == http.StatusServiceUnavailable {
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.name)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	dense := openTiny(t, 0)
	srv := httptest.NewServer(serve.NewHandler(dense, serve.Options{MaxBodyBytes: 400, MaxInputs: 3, MaxTextBytes: 50}))
	defer srv.Close()
	elastic := openTiny(t, 100*time.Millisecond)
	esrv := httptest.NewServer(serve.NewHandler(elastic, serve.Options{MinTarget: 10 * time.Millisecond}))
	defer esrv.Close()

	long := strings.Repeat("a ", 30)
	for _, tc := range []errorCase{
		{"malformed", "POST", "/classify", `{"inputs": "x"`, 400, "malformed JSON"},
		{"not an object", "POST", "/classify", `["x"]`, 400, "malformed JSON"},
		{"two values", "POST", "/classify", `{"inputs": "x"} {}`, 400, "more than one value"},
		{"no inputs", "POST", "/classify", `{}`, 400, `"inputs" is missing`},
		{"null inputs", "POST", "/classify", `{"inputs": null}`, 400, `"inputs" must be`},
		{"empty list", "POST", "/classify", `{"inputs": []}`, 400, "empty list"},
		{"empty text", "POST", "/classify", `{"inputs": ""}`, 400, "input 0: empty text"},
		{"blank text", "POST", "/classify", `{"inputs": ["ok", "  \t"]}`, 400, "input 1: empty text"},
		{"number", "POST", "/classify", `{"inputs": [3]}`, 400, "an input is a text"},
		{"triple", "POST", "/classify", `{"inputs": [["a", "b", "c"]]}`, 400, "a pair has two texts, not 3"},
		{"unknown parameter", "POST", "/classify", `{"inputs": "x", "parameters": {"retrun_logits": true}}`, 400, "retrun_logits"},
		{"unknown field", "POST", "/classify", `{"input": "x"}`, 400, `unknown field "input"`},
		{"negative top_k", "POST", "/classify", `{"inputs": "x", "parameters": {"top_k": -1}}`, 400, "top_k"},
		{"target without pipeline", "POST", "/classify", `{"inputs": "x", "parameters": {"target": "10ms"}}`, 400, "runs no latency target"},
		{"body too large", "POST", "/classify", `{"inputs": "` + strings.Repeat("x", 500) + `"}`, 413, "over the limit of 400 bytes"},
		{"too many inputs", "POST", "/classify", `{"inputs": ["a", "b", "c", "d"]}`, 413, "4 inputs: the limit is 3"},
		{"text too long", "POST", "/classify", `{"inputs": ["` + long + `"]}`, 413, "a text of 60 bytes: the limit is 50"},
		{"pair too long", "POST", "/classify", `{"inputs": [["a", "` + long + `"]]}`, 413, "a text of 60 bytes"},
		{"GET classify", "GET", "/classify", ``, 405, "use POST"},
		{"POST metrics", "POST", "/metrics", ``, 405, "use GET"},
		{"unknown path", "GET", "/predict", ``, 404, "/predict"},
	} {
		checkError(t, srv.Client(), srv.URL, tc)
	}
	for _, tc := range []errorCase{
		{"bad target", "POST", "/classify", `{"inputs": "x", "parameters": {"target": "soon"}}`, 400, "parameters.target"},
		{"looser target", "POST", "/classify", `{"inputs": "x", "parameters": {"target": "1s"}}`, 400, "looser than the server's target 100ms"},
		{"tighter than allowed", "POST", "/classify", `{"inputs": "x", "parameters": {"target": "1ms"}}`, 400, "tighter than the server allows (10ms)"},
		{"zero target", "POST", "/classify", `{"inputs": "x", "parameters": {"target": "0s"}}`, 400, "target"},
	} {
		checkError(t, esrv.Client(), esrv.URL, tc)
	}
}

// TestDeadline: a request whose deadline passes before it is classified
// answers 504.
func TestDeadline(t *testing.T) {
	c := openTiny(t, 0)
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{Timeout: time.Nanosecond}))
	defer srv.Close()
	checkError(t, srv.Client(), srv.URL, errorCase{"deadline", "POST", "/classify", `{"inputs": "a gorgeous movie"}`, 504, "deadline"})
}

func TestReadiness(t *testing.T) {
	h := serve.NewHandler(nil, serve.Options{RetryAfter: 2500 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if r := do(t, srv.Client(), "GET", srv.URL+"/healthz", ""); r.status != 200 {
		t.Errorf("healthz while loading: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/readyz", "/classify"} {
		method := "GET"
		if path == "/classify" {
			method = "POST"
		}
		checkError(t, srv.Client(), srv.URL, errorCase{"loading " + path, method, path, `{"inputs": "x"}`, 503, "loading"})
	}
	if r := do(t, srv.Client(), "GET", srv.URL+"/readyz", ""); r.header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q for 2.5s, want 3", r.header.Get("Retry-After"))
	}
	h.SetClassifier(openTiny(t, 0))
	if r := do(t, srv.Client(), "GET", srv.URL+"/readyz", ""); r.status != 200 || !strings.Contains(string(r.body), "ready") {
		t.Errorf("readyz once loaded: %d %s", r.status, r.body)
	}
	if r := do(t, srv.Client(), "POST", srv.URL+"/classify", `{"inputs": "x"}`); r.status != 200 {
		t.Errorf("classify once loaded: %d %s", r.status, r.body)
	}
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(t testing.TB, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// value returns the value of family name's series whose labels include
// labels ("k=v" pairs).
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !slices.ContainsFunc(m.Label, func(p *dto.LabelPair) bool { return p.GetName() == k && p.GetValue() == v }) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	const target = 100 * time.Millisecond
	c := openTiny(t, target)
	srv := httptest.NewServer(serve.NewHandler(c, serve.Options{}))
	defer srv.Close()

	before := scrape(t, srv.Client(), srv.URL)
	if v := value(t, before, "wrx_requests_total", "outcome=ok"); v != 0 {
		t.Errorf("%v ok requests before any", v)
	}
	const ok, bad = 5, 2
	var ioBytes int64
	for i := range ok {
		r := do(t, srv.Client(), "POST", srv.URL+"/classify", fmt.Sprintf(`{"inputs": "the movie number %d is bad .", "parameters": {"details": true}}`, i))
		var d []serve.Details
		if r.status != 200 || json.Unmarshal(r.body, &d) != nil || d[0].Run == nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		ioBytes += d[0].Run.IOBytes
	}
	for range bad {
		do(t, srv.Client(), "POST", srv.URL+"/classify", `{"inputs": ""}`)
	}
	fams := scrape(t, srv.Client(), srv.URL)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wrx_requests_total", []string{"outcome=ok"}, ok},
		{"wrx_requests_total", []string{"outcome=bad_request"}, bad},
		{"wrx_requests_total", []string{"outcome=refused"}, 0},
		{"wrx_request_duration_seconds", nil, ok + bad},
		{"wrx_read_bytes_total", nil, float64(ioBytes)},
		{"wrx_queue_depth", nil, 0},
		{"wrx_in_flight", nil, 0},
		{"wrx_ready", nil, 1},
		{"wrx_target_seconds", nil, target.Seconds()},
		{"wrx_deadline_misses_total", []string{"kind=request"}, 0},
	} {
		if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if v := value(t, fams, "wrx_model_weight_bytes"); v <= 0 {
		t.Errorf("model weight bytes %v", v)
	}
	if v := value(t, fams, "wrx_request_peak_weight_bytes"); v < value(t, fams, "wrx_model_weight_bytes") {
		t.Errorf("peak weight bytes %v below the resident ones", v)
	}
	if _, ok := fams["process_resident_memory_bytes"]; ok {
		if v := value(t, fams, "process_resident_memory_bytes"); v <= 0 {
			t.Errorf("RSS %v", v)
		}
	}
}

// Package serve classifies text over HTTP with a [wrx.Classifier], in the
// JSON shapes of Hugging Face's Inference API, with admission control,
// deadlines and Prometheus metrics. "wrx serve" runs it; a Go program can
// mount it in its own http.ServeMux:
//
//	h := serve.NewHandler(c, serve.Options{})
//	mux.Handle("/wrx/", http.StripPrefix("/wrx", h))
//
// The handler answers, relative to where it is mounted:
//
//	POST /classify  {"inputs": "text"}, {"inputs": ["a", "b"]} or pairs
//	                {"inputs": [["premise", "hypothesis"]]}; per input a list
//	                of {"label", "score"}, most likely first
//	GET  /healthz   200 while the process serves
//	GET  /readyz    200 once a classifier is loaded, 503 before
//	GET  /metrics   Prometheus text format, from a registry of its own
//
// Optional "parameters" of a classify request:
//
//	top_k          keep the k most likely labels
//	return_logits  add each label's raw "logit"
//	details        answer per input {"labels", "tokens", "run"} instead
//	               of the bare list; "run" (with a target) is the elastic
//	               pipeline's plan, latency, bytes read and weight memory
//	target         a tighter latency target for this request ("25ms"),
//	               within the server's: Options.MinTarget up to the
//	               classifier's target
//
// Errors answer {"error": "..."} with status 400 (malformed JSON, empty
// text, a bad parameter), 413 (body, input count or text length over the
// limits), 429 (no request slot freed within Options.QueueTimeout), 503
// (no classifier yet), or 504 (the request's deadline passed, or the
// classifier reported wrx.ErrDeadline); 429 and 503 carry Retry-After.
package serve

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/internal/units"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxBodyBytes = 1_000_000
	DefaultMaxInputs    = 64
	DefaultMaxTextBytes = 16 << 10
	DefaultQueueTimeout = 250 * time.Millisecond
	DefaultTimeout      = 30 * time.Second
	DefaultRetryAfter   = time.Second
)

// Options configures a Handler. The zero value takes the defaults above,
// GOMAXPROCS request slots and a queue of four times as many.
type Options struct {
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInputs bounds the inputs of one request; 0 means
	// DefaultMaxInputs.
	MaxInputs int
	// MaxTextBytes bounds each text, and each sentence of a pair; 0 means
	// DefaultMaxTextBytes.
	MaxTextBytes int
	// MaxInFlight is how many requests classify at once; 0 means
	// GOMAXPROCS. Each request classifies its inputs one after another.
	MaxInFlight int
	// MaxQueue is how many more requests may wait for a slot; a request
	// past it is refused at once. 0 means 4×MaxInFlight; negative, none.
	MaxQueue int
	// QueueTimeout is how long a request waits for a slot before it is
	// refused with 429; 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Timeout is each request's deadline, queueing included; past it the
	// answer is 504. 0 means DefaultTimeout.
	Timeout time.Duration
	// MinTarget is the tightest latency target a request may ask for;
	// 0 allows any.
	MinTarget time.Duration
	// RetryAfter is what 429 and 503 answers tell clients to wait; 0 means
	// DefaultRetryAfter. It is sent in whole seconds, at least 1.
	RetryAfter time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxInputs <= 0 {
		o.MaxInputs = DefaultMaxInputs
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = runtime.GOMAXPROCS(0)
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 4 * o.MaxInFlight
	} else if o.MaxQueue < 0 {
		o.MaxQueue = 0
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = DefaultQueueTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	return o
}

// Handler serves a classifier over HTTP. It is safe for concurrent use.
type Handler struct {
	opts    Options
	c       atomic.Pointer[wrx.Classifier]
	slots   chan struct{}
	waiting atomic.Int64
	mux     *http.ServeMux
	reg     *prometheus.Registry
	m       metrics
}

// NewHandler returns a handler for c. With a nil c it answers /readyz and
// /classify with 503 until SetClassifier, so a server can listen while it
// loads its model.
func NewHandler(c *wrx.Classifier, opts Options) *Handler {
	h := &Handler{opts: opts.withDefaults(), reg: prometheus.NewRegistry()}
	h.slots = make(chan struct{}, h.opts.MaxInFlight)
	h.m = newMetrics(h.reg, h)
	if c != nil {
		h.SetClassifier(c)
	}
	h.mux = http.NewServeMux()
	h.mux.Handle("/classify", h.method(http.MethodPost, http.HandlerFunc(h.classify)))
	h.mux.Handle("/healthz", h.method(http.MethodGet, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})))
	h.mux.Handle("/readyz", h.method(http.MethodGet, http.HandlerFunc(h.ready)))
	h.mux.Handle("/metrics", h.method(http.MethodGet, promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{})))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, fmt.Sprintf("no %s: POST /classify, GET /healthz, /readyz or /metrics", r.URL.Path))
	})
	return h
}

// method answers requests of other methods than m (and HEAD for GET) with
// 405 and a JSON error.
func (h *Handler) method(m string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && (m != http.MethodGet || r.Method != http.MethodHead) {
			w.Header().Set("Allow", m)
			h.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, m))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetClassifier makes the handler ready to classify with c (and replaces
// the classifier it had, which the caller still owns and closes).
func (h *Handler) SetClassifier(c *wrx.Classifier) {
	h.c.Store(c)
	h.m.target.Set(c.Target().Seconds())
}

// Registry returns the handler's Prometheus registry, which /metrics
// serves, so a program can add its own collectors or gather from it.
func (h *Handler) Registry() *prometheus.Registry { return h.reg }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.c.Load() == nil {
		h.retryAfter(w)
		h.fail(w, http.StatusServiceUnavailable, "the model is loading")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Parameters are the optional "parameters" of a classify request.
type Parameters struct {
	// TopK keeps the k most likely labels; 0 keeps them all.
	TopK int `json:"top_k,omitempty"`
	// ReturnLogits adds each label's raw logit.
	ReturnLogits bool `json:"return_logits,omitempty"`
	// Details answers each input with an object (Details) instead of the
	// bare list of labels.
	Details bool `json:"details,omitempty"`
	// Target is a tighter latency target for this request, such as "25ms".
	Target string `json:"target,omitempty"`
}

// Request is the body of POST /classify.
type Request struct {
	// Inputs is a text, a list of texts, or a list of pairs, each a
	// two-element list or {"text": ..., "text_pair": ...}; Input
	// describes one.
	Inputs     json.RawMessage `json:"inputs"`
	Parameters *Parameters     `json:"parameters,omitempty"`
	// Options are the Inference API's (wait_for_model, use_cache); they
	// are accepted and ignored.
	Options json.RawMessage `json:"options,omitempty"`
}

// Input is one text to classify, or a sentence pair.
type Input struct {
	Text     string `json:"text"`
	TextPair string `json:"text_pair,omitempty"`
}

// UnmarshalJSON reads "text", ["text", "pair"] or {"text", "text_pair"}.
func (in *Input) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case '"':
		*in = Input{}
		return json.Unmarshal(b, &in.Text)
	case '[':
		var pair []string
		if err := json.Unmarshal(b, &pair); err != nil {
			return err
		}
		if len(pair) != 2 {
			return fmt.Errorf("a pair has two texts, not %d", len(pair))
		}
		*in = Input{Text: pair[0], TextPair: pair[1]}
		return nil
	case '{':
		type plain Input
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var p plain
		if err := dec.Decode(&p); err != nil {
			return err
		}
		*in = Input(p)
		return nil
	}
	return errors.New("an input is a text, a [text, pair] list or a {\"text\", \"text_pair\"} object")
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// inputs parses a request's "inputs".
func (r *Request) inputs() ([]Input, error) {
	switch firstByte(r.Inputs) {
	case 0:
		return nil, errors.New(`"inputs" is missing`)
	case '"', '{':
		var in Input
		if err := json.Unmarshal(r.Inputs, &in); err != nil {
			return nil, fmt.Errorf(`"inputs": %w`, err)
		}
		return []Input{in}, nil
	case '[':
		var ins []Input
		if err := json.Unmarshal(r.Inputs, &ins); err != nil {
			return nil, fmt.Errorf(`"inputs": %w`, err)
		}
		if len(ins) == 0 {
			return nil, errors.New(`"inputs" is an empty list`)
		}
		return ins, nil
	}
	return nil, errors.New(`"inputs" must be a text, a list of texts, or a list of [text, pair] lists`)
}

// Label is one label's score in an answer.
type Label struct {
	Label string  `json:"label"`
	Score float32 `json:"score"`
	// Logit is set with return_logits.
	Logit *float32 `json:"logit,omitempty"`
}

// Details is the answer for one input with "details": true.
type Details struct {
	Labels []Label `json:"labels"`
	// Tokens the model saw, [CLS] and [SEP] included.
	Tokens int `json:"tokens"`
	// Run is set when the classifier runs the elastic pipeline.
	Run *Run `json:"run,omitempty"`
}

// Run describes how one input ran in the elastic pipeline.
type Run struct {
	// TargetMS is the target the input ran under: the request's, or the
	// server's.
	TargetMS float64 `json:"target_ms"`
	// LatencyMS is from the text to its logits: tokenizing, waiting for
	// the device (QueuedMS), planning (PlanningMS) and executing
	// (ExecMS).
	LatencyMS       float64 `json:"latency_ms"`
	QueuedMS        float64 `json:"queued_ms"`
	PlanningMS      float64 `json:"planning_ms"`
	ExecMS          float64 `json:"exec_ms"`
	IOBytes         int64   `json:"io_bytes"`
	Reads           int     `json:"reads"`
	PeakWeightBytes int64   `json:"peak_weight_bytes"`
	ResidentBytes   int64   `json:"resident_bytes"`
	PreloadBytes    int64   `json:"preload_bytes"`
	// Late: no plan could meet the deadline and the fastest ran
	// (Options.BestEffort).
	Late bool     `json:"late,omitempty"`
	Plan *RunPlan `json:"plan,omitempty"`
}

// RunPlan summarises the plan a request ran.
type RunPlan struct {
	Strategy           string  `json:"strategy"`
	PlannedTargetMS    float64 `json:"planned_target_ms"`
	PredictedLatencyMS float64 `json:"predicted_latency_ms"`
	PredictedLoss      float64 `json:"predicted_loss"`
	// Bits holds, per layer and head, the fidelity the shard ran at
	// (0: dropped).
	Bits [][]int `json:"bits"`
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) error {
	return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf(format, args...)}
}

func (h *Handler) classify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := h.serveClassify(w, r)
	h.m.observe(status, time.Since(start))
}

// parse reads and checks a request.
func (h *Handler) parse(w http.ResponseWriter, r *http.Request) (*Request, []Input, Parameters, error) {
	var p Parameters
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			return nil, nil, p, tooLarge("the body is over the limit of %d bytes", h.opts.MaxBodyBytes)
		}
		return nil, nil, p, badRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, nil, p, badRequest("malformed JSON: more than one value in the body")
	}
	ins, err := req.inputs()
	if err != nil {
		return nil, nil, p, badRequest("%v", err)
	}
	if len(ins) > h.opts.MaxInputs {
		return nil, nil, p, tooLarge("%d inputs: the limit is %d per request", len(ins), h.opts.MaxInputs)
	}
	for i, in := range ins {
		if strings.TrimSpace(in.Text) == "" {
			return nil, nil, p, badRequest("input %d: empty text", i)
		}
		if n := max(len(in.Text), len(in.TextPair)); n > h.opts.MaxTextBytes {
			return nil, nil, p, tooLarge("input %d: a text of %d bytes: the limit is %d", i, n, h.opts.MaxTextBytes)
		}
	}
	if req.Parameters != nil {
		p = *req.Parameters
	}
	if p.TopK < 0 {
		return nil, nil, p, badRequest("parameters.top_k is %d; want 0 (all labels) or more", p.TopK)
	}
	return &req, ins, p, nil
}

// requestTarget checks a request's target against the server's limits.
func (h *Handler) requestTarget(c *wrx.Classifier, p Parameters) (time.Duration, error) {
	if p.Target == "" {
		return 0, nil
	}
	t, err := units.ParseDuration(p.Target)
	if err != nil {
		return 0, badRequest("parameters.target: %v", err)
	}
	switch {
	case c.Target() == 0:
		return 0, badRequest("parameters.target: this server holds its model in memory and runs no latency target")
	case t <= 0:
		return 0, badRequest("parameters.target %s is not positive", p.Target)
	case t > c.Target():
		return 0, badRequest("parameters.target %s is looser than the server's target %v", p.Target, c.Target())
	case t < h.opts.MinTarget:
		return 0, badRequest("parameters.target %s is tighter than the server allows (%v)", p.Target, h.opts.MinTarget)
	}
	return t, nil
}

// serveClassify answers a classify request and returns its status.
func (h *Handler) serveClassify(w http.ResponseWriter, r *http.Request) int {
	c := h.c.Load()
	if c == nil {
		h.retryAfter(w)
		return h.fail(w, http.StatusServiceUnavailable, "the model is loading")
	}
	_, ins, p, err := h.parse(w, r)
	var target time.Duration
	if err == nil {
		target, err = h.requestTarget(c, p)
	}
	if err != nil {
		var he *httpError
		errors.As(err, &he)
		return h.fail(w, he.status, he.msg)
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	if err := h.admit(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			h.m.deadlineMisses.WithLabelValues("request").Inc()
			return h.fail(w, http.StatusGatewayTimeout, "the request's deadline passed while it queued")
		}
		if r.Context().Err() != nil {
			return h.fail(w, statusClientClosed, "the client went away")
		}
		h.retryAfter(w)
		return h.fail(w, http.StatusTooManyRequests, err.Error())
	}
	defer h.release()

	answers := make([]any, len(ins))
	for i, in := range ins {
		pred, err := c.ClassifyPairWith(ctx, in.Text, in.TextPair, wrx.RequestOptions{Target: target})
		if err != nil {
			return h.classifyError(w, r, i, err)
		}
		h.m.run(pred.Run, target, c.Target())
		answers[i] = answer(c, pred, p, cmp.Or(target, c.Target()))
	}
	writeJSON(w, http.StatusOK, answers)
	return http.StatusOK
}

// statusClientClosed is recorded (not seen by anyone) when the client
// goes away first, as nginx logs it.
const statusClientClosed = 499

func (h *Handler) classifyError(w http.ResponseWriter, r *http.Request, i int, err error) int {
	msg := fmt.Sprintf("input %d: %v", i, err)
	switch {
	case wrx.IsEmptyText(err):
		return h.fail(w, http.StatusBadRequest, msg)
	case errors.Is(err, wrx.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		h.m.deadlineMisses.WithLabelValues("request").Inc()
		return h.fail(w, http.StatusGatewayTimeout, msg)
	case r.Context().Err() != nil:
		return h.fail(w, statusClientClosed, "the client went away")
	}
	return h.fail(w, http.StatusInternalServerError, msg)
}

// admit takes a request slot, waiting at most QueueTimeout behind at most
// MaxQueue others.
func (h *Handler) admit(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if n := h.waiting.Add(1); n > int64(h.opts.MaxQueue) {
		h.waiting.Add(-1)
		return fmt.Errorf("overloaded: %d requests classifying and %d queued", h.opts.MaxInFlight, h.opts.MaxQueue)
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.opts.QueueTimeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("overloaded: no request slot freed within %v", h.opts.QueueTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Handler) release() { <-h.slots }

func (h *Handler) retryAfter(w http.ResponseWriter) {
	secs := int(math.Ceil(h.opts.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}

func (h *Handler) fail(w http.ResponseWriter, status int, msg string) int {
	if status == statusClientClosed {
		return status // nobody is listening
	}
	writeJSON(w, status, errorBody{Error: msg})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// answer shapes one prediction as the request's parameters ask.
func answer(c *wrx.Classifier, pred wrx.Prediction, p Parameters, target time.Duration) any {
	labels := make([]Label, len(pred.Logits))
	for i, name := range c.Labels() {
		labels[i] = Label{Label: name, Score: pred.Scores[name]}
		if p.ReturnLogits {
			l := pred.Logits[i]
			labels[i].Logit = &l
		}
	}
	slices.SortStableFunc(labels, func(a, b Label) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	if p.TopK > 0 && p.TopK < len(labels) {
		labels = labels[:p.TopK]
	}
	if !p.Details {
		return labels
	}
	return Details{Labels: labels, Tokens: pred.Tokens, Run: runJSON(pred.Run, target, c.Config().Layers, c.Config().Heads)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runJSON(r *elastic.RunInfo, target time.Duration, layers, heads int) *Run {
	if r == nil {
		return nil
	}
	out := &Run{
		TargetMS:  ms(target),
		LatencyMS: ms(r.Total), QueuedMS: ms(r.Queued), PlanningMS: ms(r.Planning), ExecMS: ms(r.Latency),
		IOBytes: r.IOBytes, Reads: r.Reads,
		PeakWeightBytes: r.PeakWeightBytes, ResidentBytes: r.ResidentBytes, PreloadBytes: r.PreloadBytes,
		Late: r.Late,
	}
	if p := r.Plan; p != nil {
		rp := &RunPlan{
			Strategy: string(p.Strategy), PlannedTargetMS: ms(p.Target),
			PredictedLatencyMS: ms(p.PredictedLatency), PredictedLoss: p.PredictedLoss,
			Bits: make([][]int, layers),
		}
		for l := range rp.Bits {
			rp.Bits[l] = make([]int, heads)
		}
		for _, lp := range p.Layers {
			for _, s := range lp.Shards {
				if lp.Layer < layers && s.Head < heads {
					rp.Bits[lp.Layer][s.Head] = int(s.Bits)
				}
			}
		}
		out.Plan = rp
	}
	return out
}

// metrics are the handler's Prometheus collectors.
type metrics struct {
	requests       *prometheus.CounterVec
	latency        prometheus.Histogram
	deadlineMisses *prometheus.CounterVec
	readBytes      prometheus.Counter
	weightBytes    prometheus.Gauge
	peakWeight     prometheus.Gauge
	target         prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, h *Handler) metrics {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrx_requests_total",
			Help: "Classify requests by outcome: ok, bad_request, too_large, refused, unavailable, deadline, canceled, error.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wrx_request_duration_seconds",
			Help:    "Time to answer a classify request, queueing included, whatever its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1ms to 16s
		}),
		deadlineMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wrx_deadline_misses_total",
			Help: `Deadline misses: "request" answered 504; "target" answered, but its elastic run took longer than its target.`,
		}, []string{"kind"}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wrx_read_bytes_total",
			Help: "Shard bytes the elastic pipeline streamed from storage.",
		}),
		weightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wrx_model_weight_bytes",
			Help: "Weight memory kept between requests by the elastic pipeline: resident parts and the preload buffer (as of the last request).",
		}),
		peakWeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wrx_request_peak_weight_bytes",
			Help: "Peak weight memory of the last elastic request: resident parts, preload buffer and streaming buffers.",
		}),
		target: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wrx_target_seconds",
			Help: "The classifier's latency target; 0 when it holds its model in memory.",
		}),
	}
	for _, o := range []string{"ok", "bad_request", "too_large", "refused", "unavailable", "deadline", "canceled", "error"} {
		m.requests.WithLabelValues(o) // every outcome shows, at 0
	}
	for _, k := range []string{"request", "target"} {
		m.deadlineMisses.WithLabelValues(k)
	}
	reg.MustRegister(m.requests, m.latency, m.deadlineMisses, m.readBytes, m.weightBytes, m.peakWeight, m.target,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wrx_queue_depth",
			Help: "Requests waiting for a request slot.",
		}, func() float64 { return float64(h.waiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wrx_in_flight",
			Help: "Requests classifying now.",
		}, func() float64 { return float64(len(h.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wrx_model_rss_bytes",
			Help: "The model's measured memory: the process's peak resident set since the classifier opened, less what it was before the weights loaded (wrx.Classifier.ModelRSS; 0 where not measured).",
		}, func() float64 {
			if c := h.c.Load(); c != nil {
				return float64(c.ModelRSS())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wrx_ready",
			Help: "1 once a classifier is loaded.",
		}, func() float64 {
			if h.c.Load() == nil {
				return 0
			}
			return 1
		}),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func outcome(status int) string {
	switch status {
	case http.StatusOK:
		return "ok"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "refused"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "deadline"
	case statusClientClosed:
		return "canceled"
	}
	return "error"
}

func (m *metrics) observe(status int, d time.Duration) {
	m.requests.WithLabelValues(outcome(status)).Inc()
	m.latency.Observe(d.Seconds())
}

// run records one input's elastic run.
func (m *metrics) run(r *elastic.RunInfo, reqTarget, target time.Duration) {
	if r == nil {
		return
	}
	m.readBytes.Add(float64(r.IOBytes))
	m.weightBytes.Set(float64(r.ResidentBytes + r.PreloadBytes))
	m.peakWeight.Set(float64(r.PeakWeightBytes))
	if reqTarget > 0 {
		target = reqTarget
	}
	if target > 0 && r.Total > target {
		m.deadlineMisses.WithLabelValues("target").Inc()
	}
}

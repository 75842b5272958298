package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/quant"
	"github.com/wrxlabs/wrx/storage"
)

func synthetic(t *testing.T) *wrx.Classifier {
	t.Helper()
	ctx := context.Background()
	name := "serve-internal-" + t.Name()
	t.Cleanup(func() { storage.DeleteMem(name) })
	_, err := wrx.Synthesize(ctx, "mem:"+name, wrx.SynthOptions{Like: synth.Tiny, Fidelities: []quant.Fidelity{32}, NoImportance: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wrx.Open(ctx, "mem:"+name, wrx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func post(h http.Handler, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/classify", strings.NewReader(body)))
	return w
}

// TestAdmission: with every slot taken, a request waits QueueTimeout and is
// refused with 429 and Retry-After; past MaxQueue it is refused at once;
// once a slot frees it is served.
func TestAdmission(t *testing.T) {
	c := synthetic(t)
	h := NewHandler(c, Options{MaxInFlight: 1, MaxQueue: 1, QueueTimeout: 50 * time.Millisecond})
	h.slots <- struct{}{} // a request is classifying

	// One request waits in the queue; meanwhile a second finds it full.
	waited := make(chan *httptest.ResponseRecorder)
	go func() { waited <- post(h, `{"inputs": "queued"}`) }()
	for h.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	full := post(h, `{"inputs": "refused at once"}`)
	queued := <-waited
	for name, w := range map[string]*httptest.ResponseRecorder{"queue full": full, "queue timeout": queued} {
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
			t.Errorf("%s: %d, Retry-After %q: %s", name, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if !strings.Contains(full.Body.String(), "1 queued") || !strings.Contains(queued.Body.String(), "within 50ms") {
		t.Errorf("refusals do not say why: %s / %s", full.Body, queued.Body)
	}

	h.release()
	if w := post(h, `{"inputs": "served"}`); w.Code != http.StatusOK {
		t.Errorf("with a free slot: %d %s", w.Code, w.Body)
	}
	if len(h.slots) != 0 || h.waiting.Load() != 0 {
		t.Errorf("%d slots held, %d waiting after every request ended", len(h.slots), h.waiting.Load())
	}
}

// TestClassifyErrorStatus: what the classifier reports maps to a status:
// wrx.ErrDeadline and context.DeadlineExceeded to 504, empty text to 400.
func TestClassifyErrorStatus(t *testing.T) {
	h := NewHandler(nil, Options{})
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("wrx: classify: %w", wrx.ErrDeadline), http.StatusGatewayTimeout},
		{fmt.Errorf("wrx: classify: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{fmt.Errorf("wrx: tokenize: %w", wrx.ErrEmptyText), http.StatusBadRequest},
		{errors.New("wrx: shard L00/H01 checksum mismatch"), http.StatusInternalServerError},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/classify", nil)
		if got := h.classifyError(w, r, 2, tc.err); got != tc.status || w.Code != tc.status {
			t.Errorf("%v: status %d (written %d), want %d", tc.err, got, w.Code, tc.status)
		}
		if !strings.Contains(w.Body.String(), `"error":"input 2: `) {
			t.Errorf("%v: body %s", tc.err, w.Body)
		}
	}
	// A client that went away is not answered.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/classify", nil).WithContext(ctx)
	if got := h.classifyError(w, r, 0, fmt.Errorf("wrx: %w", context.Canceled)); got != statusClientClosed || w.Body.Len() != 0 {
		t.Errorf("canceled: %d, body %q", got, w.Body)
	}
}

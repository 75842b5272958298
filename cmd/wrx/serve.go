package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "classify over HTTP: POST /classify, GET /healthz, /readyz, /metrics",
		Description: `Listens on --addr (loopback by default) and answers, in the JSON shapes of
Hugging Face's Inference API:

  curl -s 127.0.0.1:8080/classify -d '{"inputs": "a gorgeous , witty , seductive movie ."}'
  [[{"label":"positive","score":0.99...},{"label":"negative","score":0.00...}]]

"inputs" is a text, a list of texts, or a list of [text, pair] lists;
"parameters" may ask for top_k, return_logits, details (tokens and, with
--target, the elastic run: plan, latency, bytes read, weight memory), and a
tighter "target" than the server's (down to --min-target).

Errors answer {"error": "..."}: 400 malformed JSON or empty text, 413 over a
limit, 429 (with Retry-After) when no request slot frees within
--queue-timeout, 503 while the model loads, 504 past --timeout. /readyz
answers 200 once the model is loaded. SIGTERM or SIGINT stops accepting
connections and drains the requests in flight (for at most --drain).`,
		Flags: append(modelFlags(),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT` (port 0: any free port)"},
			&cli.IntFlag{Name: "max-in-flight", Usage: "`N` requests classifying at once (0: one per CPU)"},
			&cli.IntFlag{Name: "max-queue", Usage: "refuse at once a request that finds `N` others waiting for a slot (0: 4 × --max-in-flight, -1: none)"},
			&cli.DurationFlag{Name: "queue-timeout", Value: serve.DefaultQueueTimeout, Usage: "refuse a request (429) that waits longer than `D` for a slot"},
			&cli.DurationFlag{Name: "timeout", Value: serve.DefaultTimeout, Usage: "answer 504 to a request not answered within `D`, queueing included"},
			&cli.DurationFlag{Name: "min-target", Usage: "the tightest `LATENCY` target a request may ask for (0: any)"},
			&cli.StringFlag{Name: "max-body", Value: units.FormatBytes(serve.DefaultMaxBodyBytes), Usage: "largest request body, in `BYTES`"},
			&cli.IntFlag{Name: "max-inputs", Value: serve.DefaultMaxInputs, Usage: "at most `N` inputs in one request"},
			&cli.IntFlag{Name: "max-text", Value: serve.DefaultMaxTextBytes, Usage: "longest text (each of a pair), in `BYTES`"},
			&cli.DurationFlag{Name: "read-timeout", Value: 30 * time.Second, Usage: "drop a connection whose request takes longer than `D` to read"},
			&cli.DurationFlag{Name: "drain", Value: 30 * time.Second, Usage: "on SIGTERM or SIGINT, wait at most `D` for requests in flight"},
		),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.String("model") == "" && c.String("store") == "" {
		return errNoModel
	}
	maxBody, err := units.ParseBytes(c.String("max-body"))
	if err != nil {
		return fmt.Errorf("--max-body: %w", err)
	}
	opts := serve.Options{
		MaxBodyBytes: maxBody,
		MaxInputs:    c.Int("max-inputs"),
		MaxTextBytes: c.Int("max-text"),
		MaxInFlight:  c.Int("max-in-flight"),
		MaxQueue:     c.Int("max-queue"),
		QueueTimeout: c.Duration("queue-timeout"),
		Timeout:      c.Duration("timeout"),
		MinTarget:    c.Duration("min-target"),
	}
	h := serve.NewHandler(nil, opts)

	// Listen before loading, so that /healthz answers and /readyz says
	// "loading" meanwhile.
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = serve.DefaultTimeout
	}
	// Classify requests received and answered, reported on exit so that
	// what clients got can be checked against them.
	var received, answered atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/classify" {
				h.ServeHTTP(w, r)
				return
			}
			received.Add(1)
			h.ServeHTTP(w, r)
			answered.Add(1)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.Duration("read-timeout"),
		WriteTimeout:      timeout + 10*time.Second, // a 504 still gets written
		IdleTimeout:       2 * time.Minute,
	}
	fresh := trackFresh(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(c.App.ErrWriter, "wrx serve: listening on http://%s\n", ln.Addr())

	shutdown := func() error {
		fmt.Fprintln(c.App.ErrWriter, "wrx serve: shutting down, draining requests in flight")
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("drain"))
		defer cancel()
		// http.Server.Shutdown drops a connection it accepted whose request
		// it had not yet read. So: stop accepting, answer every accepted
		// connection's request (closing each connection after its answer),
		// and only then shut down, which waits for those answers.
		ln.Close()
		srv.SetKeepAlivesEnabled(false)
		fresh.wait(ctx, srv.ReadHeaderTimeout)
		// Shutdown closes the listener again, and reports that it was
		// closed already (net.ErrClosed) only after it has drained.
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("draining: %w", err)
		}
		fmt.Fprintf(c.App.ErrWriter, "wrx serve: drained; %d classify requests received, %d answered\n", received.Load(), answered.Load())
		return nil
	}

	cl, err := openClassifier(c)
	if err != nil {
		if c.Context.Err() != nil { // interrupted while loading
			return shutdown()
		}
		srv.Close()
		return err
	}
	defer cl.Close()
	h.SetClassifier(cl)
	fmt.Fprintf(c.App.ErrWriter, "wrx serve: ready (%s)\n", modelDescription(c, cl.Target()))

	select {
	case <-c.Context.Done():
		return shutdown()
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving: %w", err)
	}
}

// freshConns counts a server's connections that are accepted but whose
// first request has not been read.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func trackFresh(srv *http.Server) *freshConns {
	f := &freshConns{conns: map[net.Conn]bool{}}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if st == http.StateNew {
			f.conns[c] = true
		} else {
			delete(f.conns, c)
		}
	}
	return f
}

// wait returns once no connection is fresh, or after at most d (a client
// that connects and sends nothing is closed by ReadHeaderTimeout), or when
// ctx ends.
func (f *freshConns) wait(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		f.mu.Lock()
		n := len(f.conns)
		f.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func modelDescription(c *cli.Context, target time.Duration) string {
	src := c.String("store")
	if src == "" {
		src = c.String("model")
	}
	if target > 0 {
		return fmt.Sprintf("%s, target %v, budget %s", src, target, c.String("budget"))
	}
	return src + ", held in memory"
}

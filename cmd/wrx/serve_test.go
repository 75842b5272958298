package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/profiletest"
	"github.com/wrxlabs/wrx/serve"
)

// startServe runs "wrx serve args..." as a process (the test binary as
// wrx) on a free loopback port and returns it with its base URL, once it
// listens. Its standard error goes to the returned channel, line by line.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "WRX_TEST_AS_WRX=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("wrx serve exited before listening")
			}
			if m := listening.FindStringSubmatch(line); m != nil {
				return cmd, m[1], lines
			}
		case <-timeout:
			t.Fatal("wrx serve did not listen within 30s")
		}
	}
}

// waitLine returns the first line of lines that contains s.
func waitLine(t *testing.T, lines <-chan string, s string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	var seen []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("wrx serve's stderr ended before %q; it said:\n%s", s, strings.Join(seen, "\n"))
			}
			if strings.Contains(line, s) {
				return line
			}
			seen = append(seen, line)
		case <-timeout:
			t.Fatalf("no %q from wrx serve within 60s; it said:\n%s", s, strings.Join(seen, "\n"))
		}
	}
}

// TestServeSIGTERMUnderLoad: clients keep classifying, each request on a
// new connection, while wrx serve gets SIGTERM. Every request the server
// received is answered in full and correctly: the count of classify
// requests it reports on exit equals the count of right answers the
// clients got. Connections it never took (refused at connect after it
// stopped listening, or reset while still in the kernel's accept queue
// when the listener closed, or closed unread when it shut down) fail at
// the client, which is how a client knows to retry. The process exits 0.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	uri := "file:" + filepath.Join(t.TempDir(), "tiny")
	profiletest.Store(t, uri)
	cmd, base, lines := startServe(t, "--store", uri, "--fidelity", "32",
		"--max-in-flight", "2", "--max-queue", "64", "--queue-timeout", "30s")
	waitLine(t, lines, "ready")

	// The answers, computed here on the same store.
	ref, err := wrx.Open(context.Background(), uri, wrx.Options{Fidelity: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	texts := []string{"a gorgeous , witty , seductive movie .", "the movie is bad .",
		strings.Repeat("unflinchingly bleak and desperate but worth seeing ", 15)}
	want := map[string]string{}
	for _, text := range texts {
		p, err := ref.Classify(context.Background(), text)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([][]serve.Label{{{Label: p.Label, Score: p.Score}}})
		want[text] = string(b)
	}

	const clients = 6
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	var (
		answered, refused, reset, inFlight atomic.Int64
		stop                               atomic.Bool
		mu                                 sync.Mutex
		lost                               []string
	)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for j := 0; ; j++ {
				text := texts[(i+j)%len(texts)]
				body := fmt.Sprintf(`{"inputs": %q, "parameters": {"top_k": 1}}`, text)
				inFlight.Add(1)
				resp, err := client.Post(base+"/classify", "application/json", strings.NewReader(body))
				var b []byte
				if err == nil {
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				inFlight.Add(-1)
				var op *net.OpError
				switch {
				case err != nil && errors.As(err, &op) && op.Op == "dial":
					refused.Add(1) // the server no longer listens: not taken
					return
				case err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
					// Not taken, if the counts below agree: a connection the
					// server accepted but had not read a request from when
					// it shut down is closed (EOF), one still in the accept
					// queue reset.
					reset.Add(1)
					return
				case err != nil:
					mu.Lock()
					lost = append(lost, err.Error())
					mu.Unlock()
					return
				case resp.StatusCode != http.StatusOK || string(bytes.TrimSpace(b)) != want[text]:
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%d %s, want %s", resp.StatusCode, b, want[text]))
					mu.Unlock()
				default:
					answered.Add(1)
				}
				if stop.Load() {
					return
				}
			}
		})
	}
	for answered.Load() < 30 {
		time.Sleep(5 * time.Millisecond)
	}
	sentAtSignal := inFlight.Load()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	answeredAtSignal := answered.Load()
	drained := waitLine(t, lines, "drained")
	stop.Store(true)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Errorf("wrx serve exited with %v", err)
	}

	m := regexp.MustCompile(`(\d+) classify requests received, (\d+) answered`).FindStringSubmatch(drained)
	if m == nil {
		t.Fatalf("no counts in %q", drained)
	}
	received, _ := strconv.Atoi(m[1])
	served, _ := strconv.Atoi(m[2])
	t.Logf("%d clients: %d requests in flight at SIGTERM, %d answered before it and %d after; %d refused at connect, %d reset in the accept queue; the server received %d and answered %d",
		clients, sentAtSignal, answeredAtSignal, answered.Load()-answeredAtSignal, refused.Load(), reset.Load(), received, served)
	if len(lost) > 0 {
		t.Errorf("%d requests lost or wrong, the first: %s", len(lost), lost[0])
	}
	if int64(received) != answered.Load() || served != received {
		t.Errorf("the server received %d classify requests and answered %d; the clients got %d right answers", received, served, answered.Load())
	}
	if answered.Load() <= answeredAtSignal {
		t.Errorf("no request was answered after SIGTERM: nothing was drained")
	}
}

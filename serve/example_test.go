package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/model/synth"
	"github.com/wrxlabs/wrx/serve"
	"github.com/wrxlabs/wrx/storage"
)

// The handler mounted in a program's own http.ServeMux, under /wrx/, beside
// the program's routes. The classifier here is a tiny synthetic model in a
// mem: store; a real one is wrx.Open(ctx, "file:/path/to/store", ...).
func ExampleNewHandler() {
	ctx := context.Background()
	defer storage.DeleteMem("serve-example")
	if _, err := wrx.Synthesize(ctx, "mem:serve-example", wrx.SynthOptions{Like: synth.Tiny, Seed: 1}); err != nil {
		log.Fatal(err)
	}
	c, err := wrx.Open(ctx, "mem:serve-example", wrx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	mux.Handle("/wrx/", http.StripPrefix("/wrx", serve.NewHandler(c, serve.Options{MaxInputs: 8})))

	srv := httptest.NewServer(mux) // http.ListenAndServe("127.0.0.1:8080", mux) in a program
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/wrx/classify", "application/json",
		strings.NewReader(`{"inputs": ["a charming and often affecting journey", "dull"], "parameters": {"top_k": 1}}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var answers [][]serve.Label
	if err := json.NewDecoder(resp.Body).Decode(&answers); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	for _, labels := range answers {
		fmt.Printf("%s %.2f\n", labels[0].Label, labels[0].Score)
	}

	resp, err = http.Post(srv.URL+"/wrx/classify", "application/json", strings.NewReader(`{"inputs": ""}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	fmt.Println(resp.StatusCode, e.Error)
	// Output:
	// 200 OK
	// LABEL_0 0.52
	// LABEL_0 0.52
	// 400 input 0: empty text
}

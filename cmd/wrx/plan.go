package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/pipeline"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/elastic/profile"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/shardstore"
	"github.com/wrxlabs/wrx/storage"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "print the plan for a latency target and memory budget",
		Description: `Plans one request from the store's importance and device profiles: which
shards run in each layer and at which fidelity, the IO order, the preload set
kept resident between requests, and the predicted latency and loss. An
infeasible target or budget is an error that says what the minimum is.`,
		Flags: []cli.Flag{storeFlag, backendFlag, threadsFlag, throttleFlag, plannerFlag, jsonFlag, maxLenFlag,
			&cli.DurationFlag{Name: "target", Required: true, Usage: "latency `TARGET`, e.g. 80ms"},
			&cli.StringFlag{Name: "budget", Value: "4MB", Usage: "the memory the model may take, in `BYTES`, divided as classify --budget divides it (0: the least that runs)"},
			&cli.IntFlag{Name: "seq-len", Value: 32, Usage: "request length in `TOKENS`"},
		},
		Action: func(c *cli.Context) error {
			uri := c.String("store")
			if uri == "" {
				return fmt.Errorf("--store is required: a store made by wrx convert and wrx profile")
			}
			budget, err := units.ParseBytes(c.String("budget"))
			if err != nil {
				return fmt.Errorf("--budget: %w", err)
			}
			var throttle storage.ThrottleConfig
			if t := c.String("throttle"); t != "" {
				if throttle, err = storage.ParseThrottle(t); err != nil {
					return err
				}
			}
			strategy, err := plan.ParseStrategy(c.String("planner"))
			if err != nil {
				return err
			}
			s, err := shardstore.OpenURIWith(c.Context, uri, shardstore.OpenOptions{Throttle: throttle})
			if err != nil {
				return err
			}
			defer s.Close()
			be, err := pipeline.OpenBackend(c.String("backend"), c.Int("threads"))
			if err != nil {
				return fmt.Errorf("--backend %s: %w", c.String("backend"), err)
			}
			prof, err := profile.LoadProfiles(c.Context, uri, s, be, throttle)
			if err != nil {
				return err
			}
			// The budget is divided as a classifier would divide it.
			div, pl, pre, err := elastic.DivideBudget(s, be, prof, plan.Options{Strategy: strategy}, c.Duration("target"), budget, c.Int("max-len"))
			if err != nil {
				return err
			}
			start := time.Now()
			plan, err := pl.Plan(plan.Request{Target: c.Duration("target"), Budget: div.Preload, SeqLen: c.Int("seq-len"), Preload: pre})
			took := time.Since(start)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				b, err := json.MarshalIndent(plan, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
				return err
			}
			fmt.Fprintf(c.App.Writer, "memory budget %s\n", div)
			printPlan(c, plan, took)
			return nil
		},
	}
}

func printPlan(c *cli.Context, p *plan.Plan, took time.Duration) {
	w := c.App.Writer
	fmt.Fprintf(w, "planner %s, target %v, budget %s, %d tokens (planned in %v)\n",
		p.Strategy, p.Target, units.FormatBytes(p.Budget), p.SeqLen, took.Round(time.Microsecond))
	fmt.Fprintf(w, "predicted latency %v, predicted loss %.4f\n", p.PredictedLatency.Round(10*time.Microsecond), p.PredictedLoss)
	fmt.Fprintf(w, "preload %d shard versions and %d word rows, %s; in flight at most %d blobs, %s\n",
		len(p.Preload), p.PreloadRows, units.FormatBytes(p.PreloadBytes), p.InFlightBlobs, units.FormatBytes(p.InFlightBytes))
	fmt.Fprintf(w, "streamed %d blobs, %s\n", len(p.IO), units.FormatBytes(p.StreamedBytes()))
	for _, l := range p.Layers {
		var parts []string
		for _, s := range l.Shards {
			tag := fmt.Sprintf("h%d:%d", s.Head, int(s.Bits))
			if s.Preloaded {
				tag += "*"
			}
			parts = append(parts, tag)
		}
		fmt.Fprintf(w, "layer %d  %2d shards  %v..%v  %s\n", l.Layer, len(l.Shards),
			l.Start.Round(10*time.Microsecond), l.Finish.Round(10*time.Microsecond), strings.Join(parts, " "))
	}
	fmt.Fprintln(w, "(hN:B = head N at B bits; * = preloaded)")
}

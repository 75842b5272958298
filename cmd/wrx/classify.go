package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
)

func classifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "classify",
		Usage:     "classify texts, one line of output per text",
		ArgsUsage: "TEXT...",
		Description: `Prints "LABEL<TAB>SCORE<TAB>TEXT" per input, or with --json one object per line:
{"text","label","score","scores":{label:score},"logits":[...],"problem"}. Labels are the
model's id2label; logits are the raw outputs, in label order.
How the scores are made follows the model's head (problem_type in config.json):
  single-label  the most likely label and its softmax probability;
  multi-label   every label whose sigmoid score is above --threshold, highest
                first, comma-separated with their scores ("-" when none; JSON
                "labels");
  regression    one output (a regression value or a reranker's score): the
                raw value, under the model's label for it.

Sentence pairs (entailment, paraphrase): pass --pairs and give the texts two at
a time, first sentence then second:  wrx classify --model DIR --pairs "A man sleeps." "A person rests."
With no TEXT arguments, texts are read from standard input, one per line; with
--pairs each line holds the two sentences separated by a tab.`,
		Flags: append(modelFlags(), jsonFlag,
			&cli.BoolFlag{Name: "pairs", Usage: "treat the texts as sentence pairs"},
			&cli.Float64Flag{Name: "threshold", Value: 0.5, Usage: "with a multi-label model, print the labels whose score is above `P`"},
		),
		Action: func(c *cli.Context) error {
			// Checked before reading stdin, so a forgotten --model is
			// reported instead of waiting for input.
			if c.String("model") == "" && c.String("store") == "" {
				return errNoModel
			}
			inputs, err := classifyInputs(c.Args().Slice(), c.Bool("pairs"), c.App.Reader)
			if err != nil {
				return err
			}
			cl, err := openClassifier(c)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(c.App.Writer)
			defer out.Flush()
			for _, in := range inputs {
				p, err := cl.ClassifyPair(c.Context, in[0], in[1])
				if err != nil {
					return err
				}
				if err := printPrediction(out, in, p, cl.ModelRSS(), c.Bool("json"), float32(c.Float64("threshold"))); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// classifyInputs turns arguments (or stdin lines) into (text, pair) inputs.
func classifyInputs(args []string, pairs bool, stdin io.Reader) ([][2]string, error) {
	var in [][2]string
	if len(args) == 0 {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		line := 0
		for sc.Scan() {
			line++
			s := sc.Text()
			if !pairs {
				in = append(in, [2]string{s, ""})
				continue
			}
			a, b, ok := strings.Cut(s, "\t")
			if !ok {
				return nil, fmt.Errorf("stdin line %d: --pairs wants two tab-separated sentences", line)
			}
			in = append(in, [2]string{a, b})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("no text to classify: give TEXT arguments or lines on stdin")
		}
		return in, nil
	}
	if !pairs {
		for _, a := range args {
			in = append(in, [2]string{a, ""})
		}
		return in, nil
	}
	if len(args)%2 != 0 {
		return nil, fmt.Errorf("--pairs needs an even number of texts (first, second, ...), got %d", len(args))
	}
	for i := 0; i < len(args); i += 2 {
		in = append(in, [2]string{args[i], args[i+1]})
	}
	return in, nil
}

type predictionJSON struct {
	Text    string             `json:"text"`
	Pair    string             `json:"pair,omitempty"`
	Label   string             `json:"label"`
	Score   float32            `json:"score"`
	Scores  map[string]float32 `json:"scores"`
	Logits  []float32          `json:"logits"`
	Problem bert.ProblemType   `json:"problem"`
	// Labels are, for a multi-label model, those above --threshold.
	Labels []string `json:"labels,omitempty"`
	// With --target: how the request ran in the elastic pipeline.
	LatencyMS       *float64 `json:"latency_ms,omitempty"`
	PeakWeightBytes *int64   `json:"peak_weight_bytes,omitempty"`
	IOBytes         *int64   `json:"io_bytes,omitempty"`
	// ModelRSSBytes is the model's measured memory so far
	// (wrx.Classifier.ModelRSS); absent where it is not measured.
	ModelRSSBytes int64 `json:"model_rss_bytes,omitempty"`
}

func printPrediction(w io.Writer, in [2]string, p wrx.Prediction, modelRSS int64, asJSON bool, threshold float32) error {
	var above []string
	if p.Problem == bert.MultiLabel {
		above = p.Above(threshold)
	}
	if asJSON {
		pj := predictionJSON{Text: in[0], Pair: in[1], Label: p.Label, Score: p.Score, Scores: p.Scores, Logits: p.Logits, Problem: p.Problem, ModelRSSBytes: modelRSS}
		if p.Problem == bert.MultiLabel {
			pj.Labels = append([]string{}, above...)
		}
		if r := p.Run; r != nil {
			ms := float64(r.Total.Microseconds()) / 1000
			pj.LatencyMS, pj.PeakWeightBytes, pj.IOBytes = &ms, &r.PeakWeightBytes, &r.IOBytes
		}
		b, err := json.Marshal(pj)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	text := in[0]
	if in[1] != "" {
		text += " ||| " + in[1]
	}
	label, score := p.Label, fmt.Sprintf("%.4f", p.Score)
	if p.Problem == bert.MultiLabel {
		label, score = "-", "-"
		if len(above) > 0 {
			scores := make([]string, len(above))
			for i, l := range above {
				scores[i] = fmt.Sprintf("%.4f", p.Scores[l])
			}
			label, score = strings.Join(above, ","), strings.Join(scores, ",")
		}
	}
	if r := p.Run; r != nil {
		_, err := fmt.Fprintf(w, "%s\t%s\t%s\t(%.1fms, %s read, peak weights %s)\n", label, score, text,
			float64(r.Total.Microseconds())/1000, units.FormatBytes(r.IOBytes), units.FormatBytes(r.PeakWeightBytes))
		return err
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\n", label, score, text)
	return err
}

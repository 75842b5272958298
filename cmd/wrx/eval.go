package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx"
	"github.com/wrxlabs/wrx/elastic"
	"github.com/wrxlabs/wrx/elastic/plan"
	"github.com/wrxlabs/wrx/glue"
	"github.com/wrxlabs/wrx/internal/stats"
	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/model/bert"
)

// evalResult is what eval prints; pointers are omitted when they do not
// apply to the task.
type evalResult struct {
	Task           string   `json:"task"`
	Problem        string   `json:"problem"`             // the model's head
	LabelsBy       string   `json:"labels_by,omitempty"` // "name" (id2label) or "index"
	N              int      `json:"n"`
	Accuracy       *float64 `json:"accuracy"`
	F1             *float64 `json:"f1,omitempty"`
	Pearson        *float64 `json:"pearson,omitempty"`
	Spearman       *float64 `json:"spearman,omitempty"`
	Seconds        float64  `json:"seconds"`
	SentencesPerS  float64  `json:"sentences_per_sec"`
	Backend        string   `json:"backend"`
	MaxLen         int      `json:"max_len"`
	Mispredictions int      `json:"mispredictions,omitempty"`
	// ModelRSSBytes is the model's measured memory over the run
	// (wrx.Classifier.ModelRSS); absent where it is not measured.
	ModelRSSBytes int64 `json:"model_rss_bytes,omitempty"`
	// Memory, with --target, is how the budget was spent
	// (wrx.Classifier.Memory).
	Memory *plan.Division `json:"memory,omitempty"`
	// With --target: per-request latency and memory in the elastic pipeline.
	Elastic *elasticSummary `json:"elastic,omitempty"`
}

// elasticSummary summarises the requests of an elastic run.
type elasticSummary struct {
	TargetMS        float64 `json:"target_ms"`
	P50MS           float64 `json:"p50_ms"`
	P95MS           float64 `json:"p95_ms"`
	MaxMS           float64 `json:"max_ms"`
	MissRate        float64 `json:"miss_rate"`
	PredictedP50MS  float64 `json:"predicted_p50_ms"`
	PeakWeightBytes int64   `json:"peak_weight_bytes"`
	MeanIOBytes     float64 `json:"mean_io_bytes"`
	// Refused counts requests no plan could answer in time (without
	// --best-effort): they count as misses and as wrong answers. Late
	// counts those --best-effort answered late.
	Refused int `json:"refused"`
	Late    int `json:"late"`
}

// summarize describes the elastic runs of an evaluation: latencies are
// from text to answer, and refused requests are misses.
// runRecord is what summarize needs of one request: eval keeps it rather
// than the request's RunInfo and plan, which would grow the heap with
// every request and show as model memory.
type runRecord struct {
	total, predicted time.Duration
	planned, late    bool
	peak, io         int64
}

func recordOf(r *elastic.RunInfo) runRecord {
	rec := runRecord{total: r.Total, late: r.Late, peak: r.PeakWeightBytes, io: r.IOBytes}
	if r.Plan != nil {
		rec.planned, rec.predicted = true, r.Plan.PredictedLatency
	}
	return rec
}

func summarize(target time.Duration, runs []runRecord, refused int) *elasticSummary {
	if len(runs)+refused == 0 {
		return nil
	}
	lat := make([]float64, len(runs))
	pred := make([]float64, 0, len(runs))
	s := &elasticSummary{TargetMS: ms(target), Refused: refused, MissRate: float64(refused)}
	var io int64
	for i, r := range runs {
		lat[i] = ms(r.total)
		if r.total > target {
			s.MissRate++
		}
		if r.planned {
			pred = append(pred, ms(r.predicted))
		}
		if r.late {
			s.Late++
		}
		s.PeakWeightBytes = max(s.PeakWeightBytes, r.peak)
		io += r.io
	}
	s.MissRate /= float64(len(runs) + refused)
	s.MeanIOBytes = float64(io) / float64(max(len(runs), 1))
	s.P50MS, s.P95MS, s.MaxMS = stats.Quantile(lat, 0.5), stats.Quantile(lat, 0.95), stats.Quantile(lat, 1)
	s.PredictedP50MS = stats.Quantile(pred, 0.5)
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score a model on a GLUE task's labelled TSV",
		Description: `Reads the task's TSV (sst2, rte, mrpc, qnli, stsb; formats as in the GLUE
distribution) and prints n, accuracy (plus F1 for mrpc; Pearson and Spearman
for the stsb regression task) and sentences per second. The metric follows
the task and the model's head: stsb wants a regression head (one output,
problem_type regression) and is scored by Pearson and Spearman correlation;
the other tasks want a classifier (single- or multi-label; its most likely
label is the prediction) and are scored by accuracy. A model whose id2label
names the task's labels (sst2: negative, positive; rte, qnli: entailment,
not_entailment; mrpc: not_equivalent, equivalent; in any case) is scored by
those names; otherwise class i is taken to be the task's label i (sst2: 0
negative, 1 positive; rte and qnli: 0 entailment, 1 not_entailment; mrpc: 1
paraphrase).`,
		Flags: append(modelFlags(), jsonFlag,
			&cli.StringFlag{Name: "task", Required: true, Usage: "GLUE `TASK`: sst2, rte, mrpc, qnli or stsb"},
			&cli.StringFlag{Name: "data", Required: true, Usage: "the task's labelled `FILE.tsv`"},
			&cli.IntFlag{Name: "limit", Usage: "score only the first `N` rows (0: all)"},
		),
		Action: func(c *cli.Context) error {
			task, err := glue.ParseTask(c.String("task"))
			if err != nil {
				return err
			}
			examples, err := glue.ReadFile(c.Context, c.String("data"), task, c.Int("limit"))
			if err != nil {
				return err
			}
			cl, err := openClassifier(c)
			if err != nil {
				return err
			}
			res, err := evaluate(c, cl, task, examples)
			if err != nil {
				return err
			}
			res.Backend, res.MaxLen = c.String("backend"), c.Int("max-len")
			return printEval(c, res)
		},
	}
}

// taskLabels are the names of each classification task's labels, by
// class id.
var taskLabels = map[glue.Task][]string{
	glue.SST2: {"negative", "positive"},
	glue.RTE:  {"entailment", "not_entailment"},
	glue.QNLI: {"entailment", "not_entailment"},
	glue.MRPC: {"not_equivalent", "equivalent"},
}

// classMap maps the model's classes to the task's: by name when every
// id2label name is one of the task's labels (in any case, '-' or ' ' for
// '_'), else by index.
func classMap(task glue.Task, labels []string) ([]int, string) {
	byName := map[string]int{}
	for i, n := range taskLabels[task] {
		byName[n] = i
	}
	out := make([]int, len(labels))
	seen := map[int]bool{}
	for i, l := range labels {
		k := strings.ToLower(strings.NewReplacer("-", "_", " ", "_").Replace(l))
		id, ok := byName[k]
		if !ok || seen[id] {
			for j := range out {
				out[j] = j
			}
			return out, "index"
		}
		seen[id] = true
		out[i] = id
	}
	return out, "name"
}

func evaluate(c *cli.Context, cl *wrx.Classifier, task glue.Task, examples []glue.Example) (*evalResult, error) {
	nLabels := len(cl.Labels())
	problem := cl.Config().Problem()
	switch {
	case task.Regression() && (problem != bert.Regression || nLabels != 1):
		return nil, fmt.Errorf("task %s is a regression: it wants a model with one regression output; this model is a %s model with %d labels",
			task, problem, nLabels)
	case !task.Regression() && problem == bert.Regression:
		return nil, fmt.Errorf("task %s is scored by class; this model's head is a regression with %d output(s) (a score, not labels): it can be scored on stsb only",
			task, nLabels)
	}
	toTask, by := classMap(task, cl.Labels())
	pred := make([]int, len(examples))
	gold := make([]int, len(examples))
	var predScore, goldScore []float64
	var runs []runRecord
	refused := 0
	start := time.Now()
	for i, ex := range examples {
		p, err := cl.ClassifyPair(c.Context, ex.Text, ex.Pair)
		if errors.Is(err, wrx.ErrDeadline) && !task.Regression() {
			refused++ // a wrong answer and a miss
			pred[i], gold[i] = -1, ex.Label
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", c.String("data"), ex.Line, err)
		}
		if p.Run != nil {
			runs = append(runs, recordOf(p.Run))
		}
		if task.Regression() {
			predScore = append(predScore, float64(p.Logits[0]))
			goldScore = append(goldScore, ex.Score)
			continue
		}
		pred[i], gold[i] = toTask[p.Class], ex.Label
	}
	secs := time.Since(start).Seconds()
	res := &evalResult{Task: string(task), Problem: string(problem), N: len(examples), Seconds: secs, SentencesPerS: float64(len(examples)) / secs,
		Elastic: summarize(c.Duration("target"), runs, refused), ModelRSSBytes: cl.ModelRSS()}
	if d := cl.Memory(); d.Total > 0 {
		res.Memory = &d
	}
	if !task.Regression() {
		res.LabelsBy = by
	}
	if task.Regression() {
		pe, sp := glue.Pearson(predScore, goldScore), glue.Spearman(predScore, goldScore)
		res.Pearson, res.Spearman = &pe, &sp
		return res, nil
	}
	acc := glue.Accuracy(pred, gold)
	res.Accuracy = &acc
	for i := range pred {
		if pred[i] != gold[i] {
			res.Mispredictions++
		}
	}
	if task == glue.MRPC {
		f1 := glue.F1(pred, gold)
		res.F1 = &f1
	}
	return res, nil
}

func printEval(c *cli.Context, r *evalResult) error {
	w := c.App.Writer
	if c.Bool("json") {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "task\t%s\nn\t%d\nmodel head\t%s\n", r.Task, r.N, r.Problem)
	if r.LabelsBy != "" {
		fmt.Fprintf(w, "labels by\t%s\n", r.LabelsBy)
	}
	if r.Accuracy != nil {
		fmt.Fprintf(w, "accuracy\t%.6f (%d/%d)\n", *r.Accuracy, r.N-r.Mispredictions, r.N)
	}
	if r.F1 != nil {
		fmt.Fprintf(w, "f1\t%.6f\n", *r.F1)
	}
	if r.Pearson != nil {
		fmt.Fprintf(w, "pearson\t%.6f\nspearman\t%.6f\n", *r.Pearson, *r.Spearman)
	}
	if e := r.Elastic; e != nil {
		fmt.Fprintf(w, "target\t%.1fms\nlatency p50/p95/max\t%.1f / %.1f / %.1f ms (predicted p50 %.1f ms)\nmiss rate\t%.3f\n",
			e.TargetMS, e.P50MS, e.P95MS, e.MaxMS, e.PredictedP50MS, e.MissRate)
		fmt.Fprintf(w, "peak weights\t%s\nmean IO\t%s per request\nrefused\t%d\nlate\t%d\n",
			units.FormatBytes(e.PeakWeightBytes), units.FormatBytes(int64(e.MeanIOBytes)), e.Refused, e.Late)
	}
	_, err := fmt.Fprintf(w, "sentences/s\t%.1f\n", r.SentencesPerS)
	return err
}

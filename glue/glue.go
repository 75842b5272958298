// Package glue reads the GLUE benchmark's TSV files and scores predictions
// on them.
//
// Files are read with no quoting: a '"' inside a sentence is text. Each task
// knows its own columns and label spelling; a row that does not fit is an
// error naming the file and line.
package glue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Task is a GLUE task name as the CLI spells it.
type Task string

// The supported tasks.
const (
	SST2 Task = "sst2"
	RTE  Task = "rte"
	MRPC Task = "mrpc"
	QNLI Task = "qnli"
	STSB Task = "stsb"
)

// Tasks lists the supported tasks.
var Tasks = []Task{SST2, RTE, MRPC, QNLI, STSB}

// ParseTask returns the Task named s.
func ParseTask(s string) (Task, error) {
	t := Task(strings.ToLower(strings.ReplaceAll(s, "-", "")))
	for _, k := range Tasks {
		if t == k {
			return k, nil
		}
	}
	return "", fmt.Errorf("glue: unknown task %q (want one of sst2, rte, mrpc, qnli, stsb)", s)
}

// Regression reports whether the task is scored as a regression (STS-B).
func (t Task) Regression() bool { return t == STSB }

// Example is one labelled row. Pair is empty for single-sentence tasks.
// Label is the class id for classification tasks; Score is the gold value
// for STS-B.
type Example struct {
	Line  int // 1-based line number in the file
	Text  string
	Pair  string
	Label int
	Score float64
}

// columns describes where a task keeps its fields.
type columns struct {
	text, pair, label int // pair < 0: single sentence
	minFields         int
	labels            map[string]int // label spelling → class id; nil: numeric
}

func (t Task) columns() columns {
	switch t {
	case SST2:
		return columns{text: 0, pair: -1, label: 1, minFields: 2, labels: map[string]int{"0": 0, "1": 1}}
	case RTE:
		return columns{text: 0, pair: 1, label: 2, minFields: 3, labels: map[string]int{"0": 0, "1": 1, "entailment": 0, "not_entailment": 1}}
	case MRPC:
		return columns{text: 3, pair: 4, label: 0, minFields: 5, labels: map[string]int{"0": 0, "1": 1}}
	case QNLI:
		return columns{text: 1, pair: 2, label: 3, minFields: 4, labels: map[string]int{"entailment": 0, "not_entailment": 1}}
	default: // STSB
		return columns{text: 7, pair: 8, label: 9, minFields: 10}
	}
}

// ReadFile reads every labelled row of a task's TSV file. limit > 0 stops
// after that many rows.
func ReadFile(ctx context.Context, path string, task Task, limit int) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("glue: open %s data: %w", task, err)
	}
	defer f.Close()
	ex, err := Read(ctx, f, task, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ex, nil
}

// Read parses a task's TSV from r. The first line is the header.
func Read(ctx context.Context, r io.Reader, task Task, limit int) ([]Example, error) {
	if _, err := ParseTask(string(task)); err != nil {
		return nil, err
	}
	cols := task.columns()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var out []Example
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("glue: reading stopped at line %d: %w", line, err)
			}
		}
		raw := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		fields := strings.Split(raw, "\t")
		if len(fields) < cols.minFields {
			return nil, fmt.Errorf("glue: %s line %d: %d tab-separated fields, want at least %d", task, line, len(fields), cols.minFields)
		}
		ex := Example{Line: line, Text: fields[cols.text]}
		if cols.pair >= 0 {
			ex.Pair = fields[cols.pair]
		}
		lab := strings.TrimSpace(fields[cols.label])
		if cols.labels == nil {
			v, err := strconv.ParseFloat(lab, 64)
			if err != nil {
				return nil, fmt.Errorf("glue: %s line %d: score %q is not a number", task, line, lab)
			}
			ex.Score = v
		} else {
			id, ok := cols.labels[lab]
			if !ok {
				return nil, fmt.Errorf("glue: %s line %d: unknown label %q", task, line, lab)
			}
			ex.Label = id
		}
		out = append(out, ex)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("glue: %s line %d: %w", task, line+1, err)
	}
	if len(out) == 0 {
		return nil, errors.New("glue: no labelled rows")
	}
	return out, nil
}

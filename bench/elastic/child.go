package elasticbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// Subprocess is a Measurer that runs each unit in a child process, so that
// the child's peak resident set (VmHWM, which a process cannot reset)
// belongs to that unit alone. The child is Path with Args, normally this
// program re-executed with a command that calls ServeChild: it reads the
// Job as JSON on its standard input and writes the UnitResult as JSON on
// its standard output.
type Subprocess struct {
	Path string
	Args []string
	// Stderr receives the child's standard error; nil keeps only its end,
	// for error messages.
	Stderr io.Writer
}

// Measure implements Measurer.
func (p *Subprocess) Measure(ctx context.Context, job *Job) (*UnitResult, error) {
	in, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("%v: encoding the job: %w", job.Unit, err)
	}
	cmd := exec.CommandContext(ctx, p.Path, p.Args...)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	tail := &tailWriter{max: 4096}
	cmd.Stderr = tail
	if p.Stderr != nil {
		cmd.Stderr = io.MultiWriter(p.Stderr, tail)
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%v: %w", job.Unit, ctx.Err())
		}
		return nil, fmt.Errorf("%v: child process %s: %w: %s", job.Unit, p.Path, err, bytes.TrimSpace(tail.buf))
	}
	var res UnitResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("%v: child process output: %w", job.Unit, err)
	}
	if res.Unit != job.Unit {
		return nil, fmt.Errorf("%v: child process measured %v", job.Unit, res.Unit)
	}
	return &res, nil
}

// ServeChild is the child side of Subprocess: it reads one Job from r,
// measures it with Measure and writes the result to w, marked Isolated.
func ServeChild(ctx context.Context, r io.Reader, w io.Writer) error {
	var job Job
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&job); err != nil {
		return fmt.Errorf("bench child: reading the job: %w", err)
	}
	if job.Setup.Store == "" {
		return errors.New("bench child: the job names no store")
	}
	res, err := Measure(ctx, &job)
	if err != nil {
		return err
	}
	res.Isolated = true
	return json.NewEncoder(w).Encode(res)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

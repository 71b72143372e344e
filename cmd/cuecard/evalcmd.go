package main

import (
	"context"
	"io"
	"os"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/eval"
	"github.com/cuecard/cuecard/stream"
)

func runEval(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	playbook := fs.String("playbook", "", "playbook YAML file (default: the built-in playbook)")
	eventsDir := fs.String("events", "", "also write NAME.events.jsonl for each call into this directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: cuecard eval [--playbook FILE] [--events DIR] DIR")
	}
	pb, err := loadPlaybook(*playbook)
	if err != nil {
		return err
	}
	calls, err := eval.LoadDir(fs.Arg(0))
	if err != nil {
		return usagef("%v", err)
	}
	results := make([]eval.Result, 0, len(calls))
	for _, c := range calls {
		var events []coach.Event
		collect := func(ev coach.Event) error {
			events = append(events, ev)
			return nil
		}
		if err := analyzeTranscript(ctx, c.Path, pb, collect); err != nil {
			return err
		}
		if *eventsDir != "" {
			if err := writeEvents(*eventsDir, c.Name, events); err != nil {
				return err
			}
		}
		results = append(results, eval.Score(c, events))
	}
	return eval.WriteTable(stdout, results)
}

func writeEvents(dir, name string, events []coach.Event) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(dir + "/" + name + ".events.jsonl")
	if err != nil {
		return err
	}
	w := newJSONLWriter(f)
	for _, ev := range events {
		if err := w.write(ev); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var _ = stream.AnalyzeTranscript

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cuecard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

// loadPlaybook compiles the playbook at path, or the built-in one when
// path is empty.
func loadPlaybook(path string) (*coach.Playbook, error) {
	if path == "" {
		return coach.DefaultPlaybook()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, coach.MaxPlaybookSize+1))
	if err != nil {
		return nil, usagef("%s: %v", path, err)
	}
	pb, err := coach.ParsePlaybook(path, src)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return pb, nil
}

// jsonlWriter writes events one per line.
type jsonlWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newJSONLWriter(w io.Writer) *jsonlWriter {
	return &jsonlWriter{w: bufio.NewWriterSize(w, 64*1024)}
}

func (j *jsonlWriter) write(ev coach.Event) error {
	var err error
	j.buf, err = ev.AppendJSON(j.buf[:0])
	if err != nil {
		return err
	}
	j.buf = append(j.buf, '\n')
	_, err = j.w.Write(j.buf)
	return err
}

func runAnalyze(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("analyze", stderr)
	transcript := fs.String("transcript", "", "JSONL transcript to replay (no audio)")
	rep := fs.String("rep", "", "WAV file of the rep's side")
	prospect := fs.String("prospect", "", "WAV file of the prospect's side")
	stereo := fs.String("stereo", "", "stereo WAV file: left channel rep, right channel prospect")
	playbook := fs.String("playbook", "", "playbook YAML file (default: the built-in playbook)")
	var asr asrFlags
	asr.register(fs, true, false)
	asr.oneCall = true
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cuecard analyze (--transcript FILE | --rep FILE --prospect FILE | --stereo FILE) [--playbook FILE]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := asr.check(true); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*transcript != "", *rep != "" || *prospect != "", *stereo != ""} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of --transcript, --rep with --prospect, or --stereo")
	}
	pb, err := loadPlaybook(*playbook)
	if err != nil {
		return err
	}
	out := newJSONLWriter(stdout)
	switch {
	case *transcript != "":
		err = analyzeTranscript(ctx, *transcript, pb, out.write)
	default:
		err = analyzeAudio(ctx, audioInput{rep: *rep, prospect: *prospect, stereo: *stereo, asr: asr}, pb, out.write)
	}
	if ferr := out.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

func analyzeTranscript(ctx context.Context, path string, pb *coach.Playbook, emit func(coach.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("%v", err)
	}
	defer f.Close()
	err = stream.AnalyzeTranscript(ctx, f, path, pb, emit)
	var le *stream.LineError
	if errors.As(err, &le) {
		return usageError{le.Error()}
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

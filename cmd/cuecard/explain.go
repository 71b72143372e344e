package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/cuecard/cuecard/coach"
)

func runExplain(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	speaker := fs.String("speaker", "prospect", "who says it: rep or prospect")
	playbook := fs.String("playbook", "", "playbook YAML file (default: the built-in playbook)")
	after := fs.String("after", "", "what the other side said just before (the signal model reads the utterance in its context)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spk, ok := coach.ParseSpeaker(*speaker)
	if !ok {
		return usagef("--speaker must be rep or prospect")
	}
	if fs.NArg() == 0 {
		return usagef("usage: cuecard explain [--speaker rep|prospect] [--after TEXT] [--playbook FILE] TEXT")
	}
	pb, err := loadPlaybook(*playbook)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(pb.Explain(spk, strings.Join(fs.Args(), " "), *after))
}

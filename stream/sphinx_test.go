package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

func TestSphinxRecognizesSynthesizedCall(t *testing.T) {
	requireModel(t)
	call := synthCall(t, testCall, synth.DefaultOptions())
	cfg := stream.DefaultSphinxConfig()
	cfg.PoolSize = 2
	s, err := stream.NewSphinx(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := collect(t, func(emit func(coach.Input) error) error {
		return stream.AnalyzeFiles(context.Background(), stream.DefaultConfig(), s, call.Rep, call.Prospect, emit)
	})
	var text [3]string
	for _, f := range kinds(got, coach.Final) {
		text[f.Speaker] += " " + f.Text
	}
	// A few content words per side must come through the recognizer.
	for _, c := range []struct {
		sp    coach.Speaker
		words []string
	}{
		{coach.Rep, []string{"morning", "call", "problem", "inventory"}},
		{coach.Prospect, []string{"minutes", "meeting", "customers"}},
	} {
		hits := 0
		for _, w := range c.words {
			if strings.Contains(text[c.sp], w) {
				hits++
			}
		}
		if hits < len(c.words)-1 {
			t.Errorf("%s said %q, want most of %v", c.sp, text[c.sp], c.words)
		}
	}
	if len(kinds(got, coach.Partial)) == 0 {
		t.Error("no partial hypotheses")
	}
	// Every decoder is back in the pool: both can be taken at once.
	var us []stream.Utterance
	for range s.Size() {
		u, err := s.Start(canceled())
		if err != nil {
			t.Fatalf("decoder not given back: %v", err)
		}
		us = append(us, u)
	}
	if _, err := s.Start(canceled()); !errors.Is(err, stream.ErrBusy) {
		t.Fatalf("empty pool: err = %v, want ErrBusy", err)
	}
	for _, u := range us {
		u.Abort()
	}
}

func TestSphinxBadModel(t *testing.T) {
	cfg := stream.DefaultSphinxConfig()
	cfg.HMM = "/nonexistent/model"
	if _, err := stream.NewSphinx(cfg); !errors.Is(err, stream.ErrModel) {
		t.Fatalf("err = %v, want ErrModel", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

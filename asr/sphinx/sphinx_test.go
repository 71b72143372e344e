package sphinx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/internal/wer"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

func TestSphinxRecognizesSynthesizedCall(t *testing.T) {
	calltest.RequireModel(t)
	call := calltest.SynthCall(t, calltest.Call, synth.DefaultOptions())
	s := testSphinx(t, 0)
	got := recognize(t, s, call)
	var text [3]string
	for _, f := range calltest.Kinds(got, coach.Final) {
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
	if len(calltest.Kinds(got, coach.Partial)) == 0 {
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
	cfg := sphinx.DefaultConfig()
	cfg.HMM = "/nonexistent/model"
	if _, err := sphinx.New(cfg); !errors.Is(err, sphinx.ErrModel) {
		t.Fatalf("err = %v, want ErrModel", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestSphinxPrimesChannelMean: a channel's first sentences are decoded
// with a cepstral mean estimated from its own first seconds, not the
// model's, which PocketSphinx would otherwise leave behind only slowly.
func TestSphinxPrimesChannelMean(t *testing.T) {
	calltest.RequireModel(t)
	utts := []synth.Utterance{
		{Speaker: coach.Rep, StartMS: 500, EndMS: 4500, Text: "Hi Jordan, thanks for making the time. How's your week going so far?"},
		{Speaker: coach.Prospect, StartMS: 5000, EndMS: 9000, Text: "Oh, it's been a long week, we had the whole board in town on Monday."},
	}
	call := calltest.SynthCall(t, utts, synth.DefaultOptions())
	errs := func(primeMS int) int {
		got := recognize(t, testSphinx(t, primeMS), call)
		n := 0
		for _, u := range utts {
			var hyp []string
			for _, f := range calltest.Kinds(got, coach.Final) {
				if f.Speaker == u.Speaker {
					hyp = append(hyp, strings.Fields(f.Text)...)
				}
			}
			e := wer.Errors(words(u.Text), hyp)
			t.Logf("prime %d ms, %s: %q (%d errors)", primeMS, u.Speaker, strings.Join(hyp, " "), e)
			n += e
		}
		return n
	}
	primed, unprimed := errs(sphinx.DefaultPrimeMS), errs(-1)
	if primed >= unprimed {
		t.Fatalf("first sentences: %d word errors with priming, %d without; want fewer with", primed, unprimed)
	}
}

// testSphinx is a two-decoder pool with the default settings and the given
// PrimeMS, closed when the test ends.
func testSphinx(t *testing.T, primeMS int) *sphinx.Recognizer {
	t.Helper()
	cfg := sphinx.DefaultConfig()
	cfg.PoolSize = 2
	cfg.PrimeMS = primeMS
	s, err := sphinx.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recognize runs call through a default pipeline on s.
func recognize(t *testing.T, s *sphinx.Recognizer, call *synth.Result) []coach.Input {
	t.Helper()
	return calltest.Collect(t, func(emit func(coach.Input) error) error {
		return stream.AnalyzeFiles(context.Background(), calltest.Config(), s, call.Rep, call.Prospect, emit)
	})
}

// words lower-cases s and drops punctuation other than apostrophes.
func words(s string) []string {
	return strings.Fields(strings.Map(func(r rune) rune {
		if r == '\'' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return ' '
	}, s))
}

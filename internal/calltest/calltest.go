// Package calltest holds the helpers that tests of the audio packages
// share: a short scripted call spoken by flite, and checks on the inputs a
// pipeline emits.
package calltest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// RequireTool skips a test when a tool is missing, except in CI
// (CI=true), where a missing tool must fail loudly.
func RequireTool(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("%s is required in CI: %v", n, err)
			}
			tb.Skipf("%s not installed", n)
		}
	}
}

// RequireModel does the same for the PocketSphinx model files.
func RequireModel(tb testing.TB) {
	tb.Helper()
	for _, p := range []string{sphinx.DebianHMM, sphinx.DebianLM, sphinx.DebianDict} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("pocketsphinx-en-us is required in CI: %v", err)
			}
			tb.Skipf("pocketsphinx model missing: %v", err)
		}
	}
}

// SynthCall speaks a short two-sided call into a temp dir.
func SynthCall(tb testing.TB, utts []synth.Utterance, opt synth.Options) *synth.Result {
	tb.Helper()
	RequireTool(tb, "flite", "sox")
	res, err := synth.Synthesize(context.Background(), utts, filepath.Join(tb.TempDir(), "call"), opt)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// Call is our own short scripted call (not taken from the eval set).
var Call = []synth.Utterance{
	{Speaker: coach.Rep, StartMS: 500, EndMS: 3500, Text: "Good morning, thanks for taking my call today."},
	{Speaker: coach.Prospect, StartMS: 4000, EndMS: 7500, Text: "Sure, I have about ten minutes before my next meeting."},
	{Speaker: coach.Rep, StartMS: 8000, EndMS: 11000, Text: "What is the biggest problem with your inventory right now?"},
	{Speaker: coach.Prospect, StartMS: 11500, EndMS: 16000, Text: "Honestly the shelves are empty every weekend and customers leave."},
}

// Collect runs fn and returns the inputs it emitted, checking that AtMS
// never goes back and that ticks are at most 500 ms apart.
func Collect(tb testing.TB, fn func(emit func(coach.Input) error) error) []coach.Input {
	tb.Helper()
	var got []coach.Input
	var last, tick int64
	err := fn(func(in coach.Input) error {
		if in.AtMS < last {
			tb.Fatalf("AtMS went back from %d to %d: %+v", last, in.AtMS, in)
		}
		last = in.AtMS
		if in.Kind == coach.Tick {
			if in.AtMS-tick > 500 {
				tb.Fatalf("ticks %d ms apart", in.AtMS-tick)
			}
			tick = in.AtMS
		}
		got = append(got, in)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// Kinds returns the inputs of kind k.
func Kinds(in []coach.Input, k coach.InputKind) []coach.Input {
	var out []coach.Input
	for _, x := range in {
		if x.Kind == k {
			out = append(out, x)
		}
	}
	return out
}

// WriteFile writes s to path.
func WriteFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// Config returns the pipeline defaults with the libsoxr resampler, as
// cuecard wires them.
func Config() stream.Config {
	cfg := stream.DefaultConfig()
	cfg.Resample = soxr.New
	return cfg
}

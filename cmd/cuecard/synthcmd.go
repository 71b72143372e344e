package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/synth"
)

func runSynth(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("synth", stderr)
	out := fs.String("out", "", "directory to write rep.wav, prospect.wav, stereo.wav and truth.jsonl")
	d := synth.DefaultOptions()
	repVoice := fs.String("rep-voice", d.RepVoice, "flite voice of the rep (flite -lv lists them)")
	prospectVoice := fs.String("prospect-voice", d.ProspectVoice, "flite voice of the prospect")
	snr := fs.Float64("snr", 0, "add steady pink noise at this signal-to-noise ratio in dB (0: none)")
	bleed := fs.Float64("bleed", 0, "mix the other side's voice in at this level in dB, e.g. -20 (0: none)")
	seed := fs.Uint64("seed", 1, "noise seed")
	tel := fs.Bool("telephone", false, "pass each side through a narrowband phone line (8 kHz, 300-3400 Hz, G.711 mu-law)")
	// Flags may come after the transcript: cuecard synth call.jsonl --out DIR.
	var pos []string
	rest := args
	for {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 1 || *out == "" {
		return usagef("usage: cuecard synth CALL.jsonl --out DIR [--snr DB] [--bleed DB] [--telephone]")
	}
	if *snr < 0 || *bleed > 0 {
		return usagef("--snr must be positive and --bleed negative (dB)")
	}
	utts, err := synth.ReadFile(pos[0])
	if err != nil {
		return usageError{err.Error()}
	}
	opt := d
	opt.RepVoice, opt.ProspectVoice, opt.SNR, opt.BleedDB, opt.Seed = *repVoice, *prospectVoice, *snr, *bleed, *seed
	opt.Telephone = *tel
	res, err := synth.Synthesize(ctx, utts, *out, opt)
	if errors.Is(err, synth.ErrToolMissing) {
		return usageError{err.Error()}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s, %s and %s (%.1f s)\n", res.Rep, res.Prospect, res.Stereo, res.Truth, float64(res.DurationMS)/1000)
	return nil
}

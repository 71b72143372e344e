package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/eval"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

func runEval(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	playbook := fs.String("playbook", "", "playbook YAML file (default: the built-in playbook)")
	eventsDir := fs.String("events", "", "also write NAME.events.jsonl for each call into this directory")
	audio := fs.Bool("audio", false, "synthesize each call with two voices and run the audio pipeline on it")
	cache := fs.String("audio-dir", "", "where synthesized calls are kept between runs (default: a temporary directory)")
	snr := fs.Float64("snr", 0, "with --audio: pink background noise at this SNR in dB (0: none)")
	tel := fs.Bool("telephone", false, "with --audio: pass each side through a narrowband phone line (8 kHz, G.711 mu-law)")
	bleed := fs.Float64("bleed", 0, "with --audio: the other side's voice at this level in dB (0: none)")
	var asr asrFlags
	asr.register(fs, false, false)
	asr.oneCall = true
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: cuecard eval [--playbook FILE] [--events DIR] [--audio [--snr DB] [--bleed DB] [--telephone]] DIR")
	}
	pb, err := loadPlaybook(*playbook)
	if err != nil {
		return err
	}
	calls, err := eval.LoadDir(fs.Arg(0))
	if err != nil {
		return usagef("%v", err)
	}
	var runAudio audioRun
	if *audio {
		opt := synth.DefaultOptions()
		opt.SNR, opt.BleedDB, opt.Telephone = *snr, *bleed, *tel
		run, cleanup, err := newAudioRun(ctx, &asr, pb, *cache, opt)
		if err != nil {
			return err
		}
		defer cleanup()
		runAudio = run
	}
	results := make([]eval.Result, 0, len(calls))
	var textResults []eval.Result
	var lat []int64
	var mediaMS int64
	began := time.Now()
	for _, c := range calls {
		var events []coach.Event
		collect := func(ev coach.Event) error {
			events = append(events, ev)
			return nil
		}
		if err := analyzeTranscript(ctx, c.Path, pb, collect); err != nil {
			return err
		}
		if runAudio != nil {
			textResults = append(textResults, eval.Score(c, events))
			var l []int64
			if events, l, err = runAudio(c); err != nil {
				return err
			}
			lat = append(lat, l...)
			mediaMS += c.Lines[len(c.Lines)-1].EndMS
		}
		if *eventsDir != "" {
			if err := writeEvents(*eventsDir, c.Name, events); err != nil {
				return err
			}
		}
		results = append(results, eval.Score(c, events))
	}
	if err := eval.WriteTable(stdout, results); err != nil {
		return err
	}
	if runAudio != nil {
		reportAudio(stdout, textResults, results, lat, mediaMS, time.Since(began))
	}
	return nil
}

// audioRun analyzes one labelled call from synthesized audio: its events
// and its cue latencies.
type audioRun func(c eval.Call) ([]coach.Event, []int64, error)

// newAudioRun opens the recognizer and the synthesis cache for --audio;
// cleanup frees them.
func newAudioRun(ctx context.Context, asr *asrFlags, pb *coach.Playbook, cache string, opt synth.Options) (audioRun, func(), error) {
	if err := asr.check(false); err != nil {
		return nil, nil, err
	}
	tr, closer, err := asr.open()
	if err != nil {
		return nil, nil, err
	}
	dir, cleanup := cache, func() { closer.Close() }
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cuecard-eval-"); err != nil {
			closer.Close()
			return nil, nil, err
		}
		cleanup = func() { closer.Close(); os.RemoveAll(dir) }
	}
	sub := fmt.Sprintf("snr%g-bleed%g", opt.SNR, opt.BleedDB)
	if opt.Telephone {
		sub += "-telephone"
	}
	return func(c eval.Call) ([]coach.Event, []int64, error) {
		res, err := eval.SynthCall(ctx, c, filepath.Join(dir, sub), opt)
		if err != nil {
			return nil, nil, err
		}
		var evs []coach.Event
		cfg := stream.DefaultConfig()
		cfg.Resample = soxr.New
		cfg.AwaitFinals = true
		call := stream.NewCall(cfg, tr, pb, func(ev coach.Event) error { evs = append(evs, ev); return nil }, stream.CallOptions{})
		defer call.Close()
		err = call.PlayFiles(ctx, res.Rep, res.Prospect)
		if err == nil {
			_, err = call.Finish(ctx)
		}
		return evs, eval.Latencies(c, evs, res.Segments), err
	}, cleanup, nil
}

// reportAudio compares the audio run with the transcript run.
func reportAudio(stdout io.Writer, textResults, results []eval.Result, lat []int64, mediaMS int64, took time.Duration) {
	tp, fp, fn, ok := eval.Totals(textResults)
	_, _, f := eval.PRF(tp, fp, fn)
	atp, afp, afn, aok := eval.Totals(results)
	_, _, af := eval.PRF(atp, afp, afn)
	fmt.Fprintf(stdout, "\ncue F1: audio %.3f (stages %d/%d), transcripts %.3f (stages %d/%d)\n", af, aok, len(results), f, ok, len(textResults))
	if len(lat) > 0 {
		slices.Sort(lat)
		fmt.Fprintf(stdout, "latency from the end of the prospect's speech to its cue: p50 %d ms, p95 %d ms, max %d ms (%d cues)\n",
			lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*95/100)], lat[len(lat)-1], len(lat))
	}
	fmt.Fprintf(stdout, "%.0f s of calls in %.1f s wall time\n", float64(mediaMS)/1000, took.Seconds())
}

func writeEvents(dir, name string, events []coach.Event) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, name+".events.jsonl"))
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

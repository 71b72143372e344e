package main

import (
	"context"
	"errors"
	"os"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

type audioInput struct {
	rep, prospect, stereo string
	asr                   asrFlags
}

// audioError reports bad audio input (a missing or undecodable file) as a
// usage error: one line naming the file, exit status 2.
func audioError(err error) error {
	var pe *os.PathError
	for _, bad := range []error{audio.ErrNotWAV, audio.ErrUnsupportedFormat, audio.ErrTruncated, audio.ErrCorrupt} {
		if errors.Is(err, bad) {
			return usageError{err.Error()}
		}
	}
	if errors.As(err, &pe) {
		return usageError{err.Error()}
	}
	return err
}

func analyzeAudio(ctx context.Context, in audioInput, pb *coach.Playbook, emit func(coach.Event) error) error {
	if in.stereo == "" && (in.rep == "" || in.prospect == "") {
		return usagef("--rep and --prospect go together")
	}
	// Check the files before loading the recognizer, so bad input fails fast.
	for _, p := range []string{in.rep, in.prospect, in.stereo} {
		if p == "" {
			continue
		}
		f, err := audio.OpenWAV(p)
		if err != nil {
			return audioError(err)
		}
		f.Close()
	}
	tr, closer, err := in.asr.open()
	if err != nil {
		return err
	}
	defer closer.Close()
	cfg := stream.DefaultConfig()
	cfg.Resample = soxr.New
	// Offline, wait for each transcript, so a run gives the same events
	// however fast the recognizer answers.
	cfg.AwaitFinals = true
	c := stream.NewCall(cfg, tr, pb, emit, stream.CallOptions{})
	defer c.Close()
	if in.stereo != "" {
		err = c.PlayStereo(ctx, in.stereo)
	} else {
		err = c.PlayFiles(ctx, in.rep, in.prospect)
	}
	if err != nil {
		return audioError(err)
	}
	_, err = c.Finish(ctx)
	return err
}

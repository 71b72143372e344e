package main

import (
	"context"

	"github.com/cuecard/cuecard/coach"
)

type audioInput struct{ rep, prospect, stereo string }

func analyzeAudio(ctx context.Context, in audioInput, pb *coach.Playbook, emit func(coach.Event) error) error {
	return usagef("audio input is wired in audio.go")
}

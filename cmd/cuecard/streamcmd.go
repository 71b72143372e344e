package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
)

func runStream(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("stream", stderr)
	rep := fs.String("rep", "", "WAV file of the rep's side")
	prospect := fs.String("prospect", "", "WAV file of the prospect's side")
	srv := fs.String("server", "http://127.0.0.1:8080", "cuecard server URL")
	speed := fs.Float64("speed", 1, "playback speed: 1 is real time, 0 as fast as possible")
	rate := fs.Int("rate", 16000, "sample rate to send at")
	repName := fs.String("rep-name", "", "rep's name for the session")
	title := fs.String("title", "", "session title")
	session := fs.String("session", "", "stream into this existing session instead of creating one")
	reconnect := fs.Duration("reconnect", 30*time.Second, "how long to keep redialing a dropped connection (the server's reconnect window; 0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rep == "" || *prospect == "" {
		return usagef("usage: cuecard stream --rep FILE --prospect FILE [--server URL] [--speed N]")
	}
	if *speed < 0 {
		return usagef("--speed must not be negative")
	}
	cl := &client.Client{BaseURL: *srv}
	id := *session
	if id == "" {
		s, err := cl.CreateSession(ctx, client.CreateRequest{Rep: *repName, Title: *title, Consent: true,
			ConsentText: "recorded with cuecard stream"})
		if err != nil {
			return err
		}
		id = s.ID
	}
	fmt.Fprintf(stderr, "session %s\n", id)
	out := newJSONLWriter(stdout)
	var werr error
	err := cl.Stream(ctx, id, *rep, *prospect, client.StreamOptions{Speed: *speed, SampleRate: *rate, Resample: soxr.New,
		Reconnect: *reconnect, OnReconnect: func(err error) {
			if err != nil {
				fmt.Fprintf(stderr, "connection lost (%v); reconnecting\n", err)
			} else {
				fmt.Fprintln(stderr, "reconnected")
			}
		}}, func(ev coach.Event) {
		if werr == nil {
			werr = out.write(ev)
			if ev.Type != coach.EventTalk {
				werr = errors.Join(werr, out.w.Flush())
			}
		}
	})
	if ferr := out.w.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = werr
	}
	return err
}

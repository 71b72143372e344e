package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
	token := fs.String("token", "", "API token with the stream scope (default $CUECARD_TOKEN), or the session's ingest token")
	consent := fs.String("consent", "", "what the people on the call were told about the recording (required to create a session)")
	reconnect := fs.Duration("reconnect", 30*time.Second, "how long to keep redialing a dropped connection (the server's reconnect window; 0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rep == "" || *prospect == "" {
		return usagef("usage: cuecard stream --rep FILE --prospect FILE --token TOKEN --consent TEXT [--server URL] [--speed N]")
	}
	if *token == "" {
		*token = os.Getenv("CUECARD_TOKEN")
	}
	if *token == "" {
		return usagef("--token or CUECARD_TOKEN is required (make one with cuecard token create, or in the web UI)")
	}
	if *session == "" && strings.TrimSpace(*consent) == "" {
		return usagef("--consent is required: say what the people on the call were told, e.g. --consent \"this call is recorded for coaching\"")
	}
	if *speed < 0 {
		return usagef("--speed must not be negative")
	}
	cl := &client.Client{BaseURL: *srv, Token: *token}
	id := *session
	if id == "" {
		s, err := cl.CreateSession(ctx, client.CreateRequest{Rep: *repName, Title: *title, Consent: true,
			ConsentText: *consent})
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

package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
)

// startServe runs `cuecard serve` on a free port with dir as its data
// directory and returns its URL and a function that stops it.
func startServe(t *testing.T, dir string, args ...string) (string, func()) {
	t.Helper()
	m, stop := startServeMain(t, dir, io.Discard, args...)
	return "http://" + m.ln.Addr().String(), stop
}

// startServeMain is startServe that returns the running command (its
// listeners, its WebRTC endpoint) and logs to stderr.
func startServeMain(t *testing.T, dir string, stderr io.Writer, args ...string) (*serveMain, func()) {
	t.Helper()
	m := newServeMain(io.Discard, stderr)
	args = append([]string{"--addr", "127.0.0.1:0", "--data", dir, "--webrtc-udp-port", "0"}, args...)
	if err := m.ParseFlags(args, io.Discard); err != nil {
		t.Fatal(err)
	}
	m.addrReady = make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.addrReady:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return m, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}

// writeTone writes a WAV of ms milliseconds with a tone in [from, to) ms.
func writeTone(t *testing.T, path string, ms, from, to int) {
	t.Helper()
	x := make([]float32, 16*ms)
	for i := 16 * from; i < 16*to && i < len(x); i++ {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*220*float64(i)/16000) * (1 + 0.5*math.Sin(2*math.Pi*4*float64(i)/16000)))
	}
	if err := audio.WriteWAVFile(path, 16000, 1, x); err != nil {
		t.Fatal(err)
	}
}

// TestServeEndToEnd runs the whole program: a session streamed over the
// WebSocket ends with a summary, and a restarted server still has it.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rep, prospect := filepath.Join(dir, "rep.wav"), filepath.Join(dir, "prospect.wav")
	writeTone(t, rep, 6000, 500, 3000)
	writeTone(t, prospect, 6000, 3500, 5500)
	data := filepath.Join(dir, "data")
	url, stop := startServe(t, data, "--asr", "none")
	code, out, stderr := runCmd(t, "token", "create", "--data", data, "--email", "ana@example.com", "--role", "rep", "--team", "East")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	if _, err := (&client.Client{BaseURL: url}).CreateSession(context.Background(), client.CreateRequest{Consent: true, ConsentText: "recorded"}); err == nil {
		t.Fatal("an anonymous client created a session")
	}
	cl := &client.Client{BaseURL: url, Token: token}
	ses, err := cl.CreateSession(context.Background(), client.CreateRequest{Consent: true, ConsentText: "this call is recorded"})
	if err != nil {
		t.Fatal(err)
	}
	var last coach.Event
	talks := 0
	err = cl.Stream(context.Background(), ses.ID, rep, prospect, client.StreamOptions{SampleRate: 48000, Resample: soxr.New}, func(ev coach.Event) {
		last = ev
		if ev.Type == coach.EventTalk {
			talks++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if last.Type != coach.EventSummary || talks < 10 || last.Summary.Metrics.DurationMS < 5900 {
		t.Fatalf("last %s, %d talk events, summary %+v", last.Type, talks, last.Summary)
	}
	stop()

	url, stop = startServe(t, filepath.Join(dir, "data"), "--asr", "none")
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/sessions/"+ses.ID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status  string         `json:"status"`
		Summary *coach.Summary `json:"summary"`
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Status != "ended" || got.Summary == nil || got.Summary.Metrics.DurationMS != last.Summary.Metrics.DurationMS {
		t.Fatalf("after restart: %+v", got)
	}
	code, out, _ = runCmd(t, "stream", "--server", url, "--token", token, "--session", ses.ID, "--rep", rep, "--prospect", prospect, "--speed", "0")
	if code == 0 {
		t.Fatalf("streaming into an ended session succeeded: %s", out)
	}
}

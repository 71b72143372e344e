package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/g711"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// TestOverlayFollowsPhoneCall opens the rep's overlay and leaves it at
// set-up; a dialer then streams the synthesized call for the rep in
// Twilio's format. Within a second the overlay shows the call by itself
// (live, following a phone call), then its talk gauge, stage and cues.
func TestOverlayFollowsPhoneCall(t *testing.T) {
	need(t)
	h := newHarness(t, nil, recognizer)
	ctx := browser(t, silence, 240*time.Second)
	browsertest.SignIn(t, ctx, h.url, repEmail, url.QueryEscape("/"))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #start`))); err != nil {
		t.Fatal(err)
	}
	tok := repToken(t, h)

	calls := make(chan error, 1)
	started := make(chan time.Time, 1)
	go func() { calls <- playTwilio(ctx, h.url, tok, started) }()
	var began time.Time
	select {
	case began = <-started:
	case err := <-calls:
		t.Fatalf("the dialer failed before its start message: %v", err)
	}
	waitFor(t, ctx, "the overlay to follow the call",
		`document.body.dataset.phase === 'live' && document.body.dataset.source === 'twilio' && !document.querySelector('#live').hidden`, 5*time.Second)
	if d := time.Since(began); d > time.Second {
		t.Errorf("the overlay showed the call %v after the dialer started it, want within a second", d)
	}
	if eval[bool](t, ctx, `!document.querySelector('#stop').hidden`) {
		t.Error("a Stop button on a call the dialer ends")
	}
	waitFor(t, ctx, "the talk gauge", `document.querySelector('#share-call .value').textContent.includes('%')`, 15*time.Second)
	waitFor(t, ctx, "the future_forward cue", `!!document.querySelector('#cue[data-cue="future_forward"], #history li[data-cue="future_forward"]')`, 60*time.Second)
	stage := eval[string](t, ctx, `document.querySelector('#stages li[aria-current="step"]')?.dataset.stage ?? ''`)
	if stage == "" || stage == "rapport" {
		t.Errorf("stage stepper at %q after the first cue, want past rapport", stage)
	}
	if err := <-calls; err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the summary", `document.body.dataset.phase === 'ended' && !document.querySelector('#summary').hidden`, 90*time.Second)
}

// repToken makes the rep an API token that streams.
func repToken(tb testing.TB, h *harness) string {
	tb.Helper()
	u, _, err := h.db.UserByEmail(context.Background(), repEmail)
	if err != nil {
		tb.Fatal(err)
	}
	plain, tk, err := auth.NewToken()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := h.db.CreateToken(context.Background(), store.APIToken{ID: tk.ID, UserID: u.ID, Name: "dialer",
		Scopes: []auth.Scope{auth.ScopeStream}, Hash: auth.HashSecret(tk.Secret)}); err != nil {
		tb.Fatal(err)
	}
	return plain
}

// playTwilio streams the synthesized call as Twilio Media Streams would:
// both tracks (the rep inbound), mu-law at 8 kHz, 20 ms frames in real
// time, then stop. It sends the time it sent the start message on started.
func playTwilio(ctx context.Context, base, token string, started chan<- time.Time) error {
	var sides [2][]byte
	for i, name := range []string{"rep.wav", "prospect.wav"} {
		pcm, err := readAt(filepath.Join(callDir, name), 8000)
		if err != nil {
			return err
		}
		sides[i] = g711.Ulaw.Encode(nil, pcm)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/telephony/twilio", nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	const sid = "MZ00000000000000000000000000000000"
	msgs := []string{`{"event":"connected","protocol":"Call","version":"1.0.0"}`,
		`{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"` + sid + `","callSid":"CA1","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"token":"` + token + `","consent_text":"This call is recorded for coaching."}},"streamSid":"` + sid + `"}`}
	for _, m := range msgs {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			return err
		}
	}
	started <- time.Now()
	n := max(len(sides[0]), len(sides[1])) / 160
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq := 1
	for c := 1; c <= n; c++ {
		for i, tr := range []string{"inbound", "outbound"} {
			frame := make([]byte, 160)
			for j := range frame {
				frame[j] = 0xff // mu-law silence
			}
			if off := (c - 1) * 160; off < len(sides[i]) {
				copy(frame, sides[i][off:])
			}
			seq++
			m := fmt.Sprintf(`{"event":"media","sequenceNumber":"%d","media":{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"},"streamSid":"%s"}`,
				seq, tr, c, (c-1)*20, base64.StdEncoding.EncodeToString(frame), sid)
			if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				return err
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stop := fmt.Sprintf(`{"event":"stop","sequenceNumber":"%d","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"%s"}`, seq+1, sid)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(stop)); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure {
				return nil
			}
			return fmt.Errorf("the server ended the stream: %w", err)
		}
	}
}

// readAt reads a WAV file as mono float samples at rate.
func readAt(path string, rate int) ([]float32, error) {
	f, err := audio.OpenWAV(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := audio.NewReader(f.WAVReader, audio.ReaderOptions{Rate: rate, Resample: soxr.New})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []float32
	for {
		ch, err := rd.Next()
		out = append(out, ch[0]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

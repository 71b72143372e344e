package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/llm"
	"github.com/cuecard/cuecard/remote"
)

// chatServer speaks /v1/chat/completions: it records each request and
// answers with answer(n, request).
func chatServer(tb testing.TB, answer func(n int, req map[string]any, w http.ResponseWriter)) (*httptest.Server, func() []map[string]any) {
	var mu sync.Mutex
	var reqs []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &req)
		mu.Lock()
		reqs = append(reqs, req)
		n := len(reqs)
		mu.Unlock()
		answer(n, req, w)
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), reqs...)
	}
}

func completion(content string) string {
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}}})
	return string(b)
}

func newClient(tb testing.TB, url string) *llm.Client {
	tb.Helper()
	cfg := llm.DefaultConfig()
	cfg.Remote.BaseURL, cfg.Remote.APIKey = url+"/v1", "sk-test"
	cfg.Remote.Resilience = remote.Resilience{MaxConcurrent: 2, MaxQueued: 2, Timeout: 300 * time.Millisecond, MaxAttempts: 2,
		BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Budget: 2 * time.Second, BreakerFailures: 10, BreakerCooldown: time.Hour}
	c, err := llm.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

var cue = coach.Event{Type: coach.EventCue, AtMS: 9150, ID: "c3", Cue: "future_forward", Title: "Bring the future forward",
	Body: "If that were fixed, what would change for you?", Evidence: "we lose two deals a month"}

var lines = []llm.Line{{Speaker: "rep", StartMS: 0, EndMS: 2000, Text: "how is the quarter going"},
	{Speaker: "prospect", StartMS: 2500, EndMS: 6000, Text: "honestly we lose two deals a month to slow quotes"}}

func TestReview(t *testing.T) {
	srv, reqs := chatServer(t, func(_ int, _ map[string]any, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, completion(`{"verdict":"refined","body":"If quotes went out the same day, what would two more deals a month mean for you?","reason":"real, current pain"}`))
	})
	c := newClient(t, srv.URL)
	r, err := c.Review(context.Background(), cue, lines)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != coach.VerdictRefined || r.Body == "" {
		t.Errorf("review %+v", r)
	}
	q := reqs()[0]
	rf, _ := q["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	schema, _ := js["schema"].(map[string]any)
	if q["model"] != "gpt-4o-mini" || rf["type"] != "json_schema" || js["name"] != "cue_review" || js["strict"] != true || schema["type"] != "object" {
		t.Errorf("request %v", q)
	}
	msgs, _ := q["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("messages %v", msgs)
	}
}

func TestReviewFailures(t *testing.T) {
	cases := []struct {
		name    string
		answer  func(n int, w http.ResponseWriter)
		want    error
		calls   int
		succeed bool
	}{
		{"malformed content", func(_ int, w http.ResponseWriter) { io.WriteString(w, completion(`{"verdict":`)) }, llm.ErrBadAnswer, 1, false},
		{"verdict outside the schema", func(_ int, w http.ResponseWriter) {
			io.WriteString(w, completion(`{"verdict":"maybe","body":"","reason":""}`))
		}, llm.ErrBadAnswer, 1, false},
		{"500 then ok", func(n int, w http.ResponseWriter) {
			if n == 1 {
				http.Error(w, "boom", 500)
				return
			}
			io.WriteString(w, completion(`{"verdict":"withdrawn","body":"","reason":"hypothetical"}`))
		}, nil, 2, true},
		{"429 then ok", func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.Header().Set("retry-after-ms", "50")
				w.WriteHeader(429)
				io.WriteString(w, `{"error":{"message":"slow down","type":"requests"}}`)
				return
			}
			io.WriteString(w, completion(`{"verdict":"confirmed","body":"","reason":"ok"}`))
		}, nil, 2, true},
		{"timeout", func(_ int, w http.ResponseWriter) { <-time.After(time.Second) }, remote.ErrTimeout, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, reqs := chatServer(t, func(n int, _ map[string]any, w http.ResponseWriter) { c.answer(n, w) })
			cl := newClient(t, srv.URL)
			_, err := cl.Review(context.Background(), cue, lines)
			if c.succeed != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if n := len(reqs()); n != c.calls {
				t.Errorf("%d requests, want %d", n, c.calls)
			}
		})
	}
}

func TestReviewerIsAsync(t *testing.T) {
	release := make(chan struct{})
	srv, _ := chatServer(t, func(_ int, _ map[string]any, w http.ResponseWriter) {
		<-release
		io.WriteString(w, completion(`{"verdict":"withdrawn","body":"","reason":"the problem is already solved"}`))
	})
	c := newClient(t, srv.URL)
	rv := c.NewReviewer()
	defer rv.Close()
	start := time.Now()
	rv.Observe(coach.Event{Type: coach.EventTranscript, Final: true, Speaker: coach.Prospect, Text: "we used to lose deals"})
	rv.Observe(cue)
	rv.Observe(coach.Event{Type: coach.EventCue, ID: "c4", Cue: "one_paragraph"}) // not reviewed
	if d := time.Since(start); d > 250*time.Millisecond {                         // generous: -race on a loaded 2-CPU machine
		t.Errorf("Observe took %s", d)
	}
	select {
	case ev := <-rv.Updates():
		t.Fatalf("update before the model answered: %+v", ev)
	default:
	}
	close(release)
	ev := <-rv.Updates()
	b, _ := ev.MarshalJSON()
	if want := `{"type":"cue_update","at_ms":0,"id":"c3","cue":"future_forward","verdict":"withdrawn","reason":"the problem is already solved"}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if st := rv.Stats(); st.Started != 1 || st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestNotes(t *testing.T) {
	srv, reqs := chatServer(t, func(_ int, _ map[string]any, w http.ResponseWriter) {
		io.WriteString(w, completion(`{"summary":"Prospect loses two deals a month to slow quotes.","next_steps":["Send a proposal by Friday"],"coaching":["Good question on impact"]}`))
	})
	c := newClient(t, srv.URL)
	n, err := c.Notes(context.Background(), lines, &coach.Summary{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(n)
	if want := `{"summary":"Prospect loses two deals a month to slow quotes.","next_steps":["Send a proposal by Friday"],"coaching":["Good question on impact"],"model":"gpt-4o-mini"}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	rf := reqs()[0]["response_format"].(map[string]any)
	if rf["json_schema"].(map[string]any)["name"] != "call_notes" {
		t.Errorf("response_format %v", rf)
	}
}

func TestNoRemoteLLM(t *testing.T) {
	cfg := llm.DefaultConfig()
	cfg.Remote.BaseURL, cfg.Remote.NoRemote = "https://api.openai.com/v1", true
	if _, err := llm.New(cfg); !errors.Is(err, remote.ErrRemoteDisabled) {
		t.Errorf("error %v", err)
	}
}

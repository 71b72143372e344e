package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/llm"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/server"
)

// fastResilience gives up quickly, so a test with a failing backend runs
// in seconds.
func fastResilience() remote.Resilience {
	return remote.Resilience{MaxConcurrent: 4, MaxQueued: 8, Timeout: 500 * time.Millisecond, MaxAttempts: 2,
		BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Budget: 2 * time.Second,
		BreakerFailures: 3, BreakerCooldown: 2 * time.Second}
}

// openAIServer speaks /v1/audio/transcriptions and /v1/chat/completions.
// transcribe answers a transcription; chat answers a chat completion with
// the JSON content it returns.
func openAIServer(t *testing.T, transcribe func(w http.ResponseWriter), chat func(schema string) string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/audio/transcriptions":
			io.Copy(io.Discard, r.Body)
			transcribe(w)
		case "/v1/chat/completions":
			var req struct {
				ResponseFormat struct {
					JSONSchema struct {
						Name string `json:"name"`
					} `json:"json_schema"`
				} `json:"response_format"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion", "model": "m",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
					"message": map[string]any{"role": "assistant", "content": chat(req.ResponseFormat.JSONSchema.Name)}}}})
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTranscriptionDown streams a call while the transcription service
// fails: talk metrics go on, a status event says recognition is degraded,
// and the session ends normally with its summary.
func TestTranscriptionDown(t *testing.T) {
	needCall(t)
	var calls atomic.Int32
	api := openAIServer(t, func(w http.ResponseWriter) {
		calls.Add(1)
		http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusInternalServerError)
	}, nil)
	cfg := remote.DefaultOpenAIConfig()
	cfg.Remote.BaseURL, cfg.Remote.APIKey, cfg.Remote.Resilience = api.URL+"/v1", "sk-test", fastResilience()
	tr, err := remote.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, t.TempDir(), nil, tr)
	id := ts.create(t)
	var got collector
	began := time.Now()
	if err := ts.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{Speed: 8}, got.add); err != nil {
		t.Fatal(err)
	}
	evs := got.all()
	if n := len(filter(evs, "talk")); n < 80 {
		t.Errorf("%d talk events for a 44 s call", n)
	}
	status := filter(evs, "status")
	if len(status) == 0 || status[0].ASR != "degraded" || status[0].Reason == "" {
		t.Fatalf("status events %+v", status)
	}
	if len(filter(evs, "transcript")) != 0 {
		t.Errorf("transcripts from a failing service")
	}
	if last := evs[len(evs)-1]; last.Type != coach.EventSummary {
		t.Fatalf("last event %s", last.Type)
	}
	if calls.Load() == 0 {
		t.Fatal("the service was never asked")
	}
	// Nothing waited for the failing service: the call streamed at 8x.
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("the call took %v", d)
	}
}

// TestLanguageModelReviewsAndNotes runs a call whose transcripts come from
// a (fake) remote service and whose cues a (fake) language model withdraws;
// the overlay gets cue_update events and the session keeps the notes.
func TestLanguageModelReviewsAndNotes(t *testing.T) {
	needCall(t)
	api := openAIServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"text":"honestly the big problem is scheduling our crews keep missing deliveries and the customers are angry about it"}`)
	}, func(schema string) string {
		switch schema {
		case "cue_review":
			return `{"verdict":"withdrawn","body":"","reason":"the same line every time: not a real answer"}`
		case "utterance_signals":
			return `{"signals":["business","pain"]}`
		}
		return `{"summary":"A short call about scheduling.","next_steps":["Send the pilot outline"],"coaching":["Ask one more question before offering help"]}`
	})
	ts := advisedServer(t, api)
	id := ts.create(t)
	var got collector
	if err := ts.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{Speed: 4}, got.add); err != nil {
		t.Fatal(err)
	}
	evs := got.all()
	cues, ups := filter(evs, "cue"), filter(evs, coach.EventCueUpdate)
	if len(cues) == 0 || len(ups) == 0 {
		t.Fatalf("%d cues, %d cue updates", len(cues), len(ups))
	}
	for _, u := range ups {
		if u.Verdict != coach.VerdictWithdrawn || !strings.HasPrefix(u.ID, "c") {
			t.Errorf("update %+v", u)
		}
	}
	notes, err := ts.db.Notes(context.Background(), id)
	if err != nil || !strings.Contains(string(notes), "pilot outline") {
		t.Fatalf("notes %s %v", notes, err)
	}
	resp, err := authGet(ts.ts.URL + "/v1/sessions/" + id + "/replay")
	if err != nil {
		t.Fatal(err)
	}
	var rp struct {
		Notes struct {
			NextSteps []string `json:"next_steps"`
		} `json:"notes"`
	}
	json.NewDecoder(resp.Body).Decode(&rp)
	resp.Body.Close()
	if len(rp.Notes.NextSteps) != 1 {
		t.Fatalf("replay notes %+v", rp.Notes)
	}
}

// advisedServer starts a server that transcribes with api's
// transcriptions and takes the advice of its chat model.
func advisedServer(t *testing.T, api *httptest.Server) *testServer {
	t.Helper()
	ocfg := remote.DefaultOpenAIConfig()
	ocfg.Remote.BaseURL, ocfg.Remote.APIKey, ocfg.Remote.Resilience = api.URL+"/v1", "sk-test", fastResilience()
	tr, err := remote.NewOpenAI(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	lcfg := llm.DefaultConfig()
	lcfg.Remote.BaseURL, lcfg.Remote.APIKey = api.URL+"/v1", "sk-test"
	adv, err := llm.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, t.TempDir(), func(c *server.Config) { c.Advisor = testAdvisor{adv} }, tr)
}

// testAdvisor adapts the language-model client as cuecard serve does.
type testAdvisor struct{ c *llm.Client }

func (a testAdvisor) Review() server.Reviewer { return a.c.NewReviewer() }

func (a testAdvisor) Notes(ctx context.Context, finals []coach.Event, sum *coach.Summary) (json.RawMessage, error) {
	lines := make([]llm.Line, len(finals))
	for i, ev := range finals {
		lines[i] = llm.LineOf(ev)
	}
	n, err := a.c.Notes(ctx, lines, sum)
	if err != nil {
		return nil, err
	}
	return json.Marshal(n)
}

// TestLanguageModelAddsMissedCue streams a call whose every utterance the
// signal model reads as plain business talk, while the language model, the
// second detector, reads the prospect's as a concrete problem: the card
// the model missed reaches the client, marked as the language model's.
func TestLanguageModelAddsMissedCue(t *testing.T) {
	needCall(t)
	api := openAIServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"text":"our drivers leave the yard at six and come back around four"}`)
	}, func(schema string) string {
		switch schema {
		case "utterance_signals":
			return `{"signals":["business","pain"]}` // the rep's pain is dropped: reps name no problems
		case "cue_review":
			return `{"verdict":"confirmed","body":"","reason":"real"}`
		}
		return `{"summary":"s","next_steps":[],"coaching":[]}`
	})
	ts := advisedServer(t, api)
	id := ts.create(t)
	var got collector
	if err := ts.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{Speed: 2}, got.add); err != nil {
		t.Fatal(err)
	}
	var fromLLM []coach.Event
	for _, c := range filter(got.all(), "cue") {
		if c.Source != "" {
			fromLLM = append(fromLLM, c)
		}
	}
	if len(fromLLM) == 0 {
		t.Fatalf("no cue from the language model's labels; cues: %+v", filter(got.all(), "cue"))
	}
	for _, c := range fromLLM {
		if c.Source != "llm" || c.Cue != "future_forward" || c.Speaker != coach.Prospect {
			t.Errorf("cue %+v, want future_forward on a prospect utterance from llm", c)
		}
	}
}

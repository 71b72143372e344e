package llm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/llm"
)

func TestLabel(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		speaker string
		want    []string
		err     error
	}{
		{"prospect signals", `{"signals":["business","pain"]}`, "prospect", []string{"business", "pain"}, nil},
		{"none", `{"signals":[]}`, "prospect", nil, nil},
		{"a signal the speaker cannot give is dropped", `{"signals":["pitch","door","door"]}`, "prospect", []string{"door"}, nil},
		{"rep signals", `{"signals":["future_q","pain"]}`, "rep", []string{"future_q"}, nil},
		{"unknown signal", `{"signals":["joy"]}`, "prospect", nil, llm.ErrBadAnswer},
		{"not JSON", `signals: pain`, "prospect", nil, llm.ErrBadAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := chatServer(t, func(_ int, _ map[string]any, w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, completion(tt.answer))
			})
			c := newClient(t, srv.URL)
			u := llm.Line{Speaker: tt.speaker, StartMS: 7000, EndMS: 9000, Text: "we lose two deals a month to slow quotes"}
			got, err := c.Label(context.Background(), u, lines)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Label = %v, %v; want %v", got, err, tt.want)
			}
			q := reqs()[0]
			rf, _ := q["response_format"].(map[string]any)
			schema, _ := rf["json_schema"].(map[string]any)
			if schema["name"] != "utterance_signals" || schema["strict"] != true {
				t.Errorf("response_format %v, want the strict utterance_signals schema", rf)
			}
			msgs, _ := q["messages"].([]any)
			user, _ := msgs[len(msgs)-1].(map[string]any)["content"].(string)
			if !strings.Contains(user, "slow quotes") || !strings.Contains(user, "how is the quarter going") {
				t.Errorf("user message %q lacks the utterance or its context", user)
			}
		})
	}
}

// TestLabelerFeedsEngine runs the Labeler against a model that finds a
// problem the signal model did not, and steps an engine with what it
// delivers: the cue the model missed comes out, marked as the language
// model's, without the session ever waiting on the model.
func TestLabelerFeedsEngine(t *testing.T) {
	release := make(chan struct{})
	srv, _ := chatServer(t, func(_ int, req map[string]any, w http.ResponseWriter) {
		msgs, _ := req["messages"].([]any)
		user, _ := msgs[len(msgs)-1].(map[string]any)["content"].(string)
		signals := `{"signals":["business"]}`
		if strings.Contains(user, "Utterance to label (prospect)") {
			<-release // the prospect's utterance is labelled slowly
			signals = `{"signals":["business","pain"]}`
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, completion(signals))
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server closes, even on failure
	c := newClient(t, srv.URL)
	lb := c.NewLabeler()
	defer lb.Close()
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		t.Fatal(err)
	}
	e := coach.NewEngine(pb)
	feed := func(in coach.Input) []coach.Event {
		t.Helper()
		evs, err := e.Step(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			lb.Observe(ev)
		}
		return slices.Clone(evs)
	}
	utter := func(spk coach.Speaker, start, end int64, text string) []coach.Event {
		var out []coach.Event
		out = append(out, feed(coach.Input{Kind: coach.SpeechStart, AtMS: start, Speaker: spk, StartMS: start})...)
		out = append(out, feed(coach.Input{Kind: coach.SpeechEnd, AtMS: end, Speaker: spk, StartMS: start, EndMS: end})...)
		return append(out, feed(coach.Input{Kind: coach.Final, AtMS: end, Speaker: spk, StartMS: start, EndMS: end, Text: text})...)
	}
	utter(coach.Rep, 0, 3000, "Thanks for the time. How is the season going at the depots?")
	for _, ev := range utter(coach.Prospect, 3500, 8000, "Our drivers leave the yard at six and come back around four.") {
		if ev.Type == coach.EventCue {
			t.Fatalf("the signal model fired %s; the test needs a statement it misses", ev.Cue)
		}
	}
	first := <-lb.Labels() // the rep's opening, labelled at once
	if first.Speaker != coach.Rep || !slices.Equal(first.Signals, []string{"business"}) {
		t.Fatalf("first labels %+v", first)
	}
	feed(coach.Input{Kind: coach.Tick, AtMS: 8500}) // the session goes on meanwhile
	unblock()
	var in coach.Input
	select {
	case in = <-lb.Labels():
	case <-time.After(5 * time.Second):
		t.Fatal("no labels for the prospect's utterance")
	}
	in.AtMS = 9000
	var cues []coach.Event
	for _, ev := range feed(in) {
		if ev.Type == coach.EventCue {
			cues = append(cues, ev)
		}
	}
	if len(cues) != 1 || cues[0].Cue != "future_forward" || cues[0].Source != "llm" || cues[0].StartMS != 3500 {
		t.Fatalf("cues %+v, want future_forward from the language model on the prospect's utterance", cues)
	}
	if st := lb.Stats(); st.Started != 2 || st.Sent != 2 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

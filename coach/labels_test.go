package coach_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
)

// opening plays a short discovery opening and returns the engine.
func opening(t *testing.T) *coach.Engine {
	t.Helper()
	e := coach.NewEngine(defaultPlaybook(t))
	var ins []coach.Input
	ins = append(ins, utter(coach.Rep, 0, 3000, "Thanks for the time. How is the season going at the depots?")...)
	step(t, e, ins...)
	return e
}

func eventsOf(evs []coach.Event, typ string) []coach.Event {
	var out []coach.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// TestLabelsAddMissedCue checks that a second detector's labels fire the
// cue the model missed, marked with its source, while its moment lasts.
func TestLabelsAddMissedCue(t *testing.T) {
	// A plain statement that neither the model nor the phrases read as a
	// problem; the second detector (in context) does.
	const said = "Our drivers leave the yard at six and come back around four."
	tests := []struct {
		name    string
		delayMS int64
		signals []string
		want    []string
	}{
		{"labelled a problem in time", 1500, []string{"business", "pain"}, []string{"future_forward"}},
		{"labelled too late", 6000, []string{"business", "pain"}, nil},
		{"labelled business only", 1500, []string{"business"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := opening(t)
			if got := cuesIn(step(t, e, utter(coach.Prospect, 3500, 8000, said)...)); len(got) != 0 {
				t.Fatalf("the model fired %v on a plain statement; pick another", got)
			}
			evs := step(t, e, coach.Input{Kind: coach.Labels, AtMS: 8000 + tt.delayMS, Speaker: coach.Prospect,
				StartMS: 3500, EndMS: 8000, Text: said, Signals: tt.signals})
			cues := eventsOf(evs, coach.EventCue)
			if len(cues) != len(tt.want) {
				t.Fatalf("cues %v, want %v", cuesIn(evs), tt.want)
			}
			for i, c := range cues {
				if c.Cue != tt.want[i] || c.Source != "llm" || c.StartMS != 3500 || c.AtMS != 8000+tt.delayMS {
					t.Errorf("cue %+v, want %s from llm on the utterance at 3500 ms", c, tt.want[i])
				}
				b, _ := json.Marshal(c)
				if !strings.Contains(string(b), `"source":"llm"`) {
					t.Errorf("JSON %s has no source", b)
				}
			}
		})
	}
}

// TestLabelsWithdrawCue checks that a cue the model fired is withdrawn when
// the second detector does not find the signal it rests on, and kept when
// it does.
func TestLabelsWithdrawCue(t *testing.T) {
	const said = "Honestly our biggest problem is missed deliveries, we lost three big accounts this year because trucks showed up late."
	for _, tt := range []struct {
		name     string
		signals  []string
		withdraw bool
	}{
		{"signal confirmed", []string{"business", "pain"}, false},
		{"signal not found", []string{"business", "solved"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := opening(t)
			cues := eventsOf(step(t, e, utter(coach.Prospect, 3500, 11000, said)...), coach.EventCue)
			if len(cues) != 1 || cues[0].Cue != "future_forward" {
				t.Fatalf("cues %+v, want future_forward from the model", cues)
			}
			evs := step(t, e, coach.Input{Kind: coach.Labels, AtMS: 12500, Speaker: coach.Prospect,
				StartMS: 3500, EndMS: 11000, Text: said, Signals: tt.signals})
			ups := eventsOf(evs, coach.EventCueUpdate)
			if !tt.withdraw {
				if len(ups) != 0 || len(eventsOf(evs, coach.EventCue)) != 0 {
					t.Fatalf("events %+v, want none", evs)
				}
				return
			}
			if len(ups) != 1 || ups[0].ID != cues[0].ID || ups[0].Verdict != coach.VerdictWithdrawn || ups[0].Reason == "" {
				t.Fatalf("updates %+v, want %s withdrawn with a reason", ups, cues[0].ID)
			}
			again := step(t, e, coach.Input{Kind: coach.Labels, AtMS: 13000, Speaker: coach.Prospect,
				StartMS: 3500, EndMS: 11000, Text: said, Signals: tt.signals})
			if len(eventsOf(again, coach.EventCueUpdate)) != 0 {
				t.Fatal("withdrawn twice")
			}
		})
	}
}

// TestLabelsKeepTimeOrder checks that labels obey media time like any input.
func TestLabelsKeepTimeOrder(t *testing.T) {
	e := opening(t)
	if _, err := e.Step(coach.Input{Kind: coach.Labels, AtMS: 100, Speaker: coach.Prospect, Text: "x"}); err == nil {
		t.Fatal("labels before the last input were accepted")
	}
}

// TestOpeningStage checks that a call opening with a greeting starts in
// rapport and one that goes straight to the business starts in discovery.
func TestOpeningStage(t *testing.T) {
	tests := []struct {
		name  string
		first []coach.Input
		want  string
	}{
		{"greeting", utter(coach.Rep, 0, 3000, "Hi Sam, thanks for making the time, how was the weekend?"), "rapport"},
		{"straight to business", append(utter(coach.Prospect, 0, 2000, "Twenty minutes. Go ahead."),
			utter(coach.Rep, 2500, 6000, "Understood. How does your warehouse handle returns today, and how many orders a week?")...), "discovery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := coach.NewEngine(defaultPlaybook(t))
			stages := eventsOf(step(t, e, tt.first...), coach.EventStage)
			if len(stages) == 0 || stages[0].Stage != tt.want {
				t.Fatalf("stages %+v, want %s first", stages, tt.want)
			}
		})
	}
}

package eval_test

import (
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/eval"
	"github.com/cuecard/cuecard/stream"
)

func TestScore(t *testing.T) {
	c := eval.Call{
		Name: "x",
		Lines: []stream.TranscriptLine{
			{Speaker: coach.Rep, StartMS: 0, EndMS: 1000},
			{Speaker: coach.Prospect, StartMS: 1200, EndMS: 5000},
			{Speaker: coach.Rep, StartMS: 5200, EndMS: 9000},
		},
		Expect: eval.Expect{
			Stages: []string{"rapport", "discovery"},
			Cues:   []eval.ExpectCue{{Cue: "future_forward", After: 1, By: 2}, {Cue: "resistance", After: 2, By: 2}},
			Forbid: []string{"self_serving"},
		},
	}
	evs := []coach.Event{
		{Type: coach.EventStage, AtMS: 1000, Stage: "rapport"},
		{Type: coach.EventCue, AtMS: 900, Cue: "future_forward"},  // before its window: false alarm
		{Type: coach.EventCue, AtMS: 5000, Cue: "future_forward"}, // inside: true positive
		{Type: coach.EventCue, AtMS: 6000, Cue: "future_forward"}, // again: false alarm
		{Type: coach.EventCue, AtMS: 7000, Cue: "self_serving"},   // forbidden
		{Type: coach.EventCue, AtMS: 7000, Cue: "let_them_talk"},  // not labelled: not counted
		{Type: coach.EventStage, AtMS: 5000, Stage: "discovery"},
		{Type: coach.EventStage, AtMS: 9000, Stage: "rapport"},
	}
	r := eval.Score(c, evs)
	if r.TP != 1 || r.FP != 3 || r.FN != 1 || len(r.Unlabelled) != 1 || !r.StagesOK {
		t.Fatalf("%+v", r)
	}
	p, rc, f := eval.PRF(r.TP, r.FP, r.FN)
	if p != 0.25 || rc != 0.5 || f < 0.333 || f > 0.334 {
		t.Fatalf("P %.3f R %.3f F %.3f", p, rc, f)
	}
}

package coach_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cuecard/cuecard/coach"
)

func TestEventJSONKeepsZeroValues(t *testing.T) {
	tests := []struct {
		ev   coach.Event
		want string
	}{
		{coach.Event{Type: coach.EventSpeech, AtMS: 5400, Speaker: coach.Rep, StartMS: 0, EndMS: 5400},
			`{"type":"speech","at_ms":5400,"speaker":"rep","start_ms":0,"end_ms":5400}`},
		{coach.Event{Type: coach.EventTranscript, AtMS: 10, Speaker: coach.Prospect, EndMS: 10, Text: "a \"quote\"\n\x01", Final: false},
			`{"type":"transcript","at_ms":10,"speaker":"prospect","start_ms":0,"end_ms":10,"text":"a \"quote\"\n\u0001","final":false}`},
		{coach.Event{Type: coach.EventTalk, AtMS: 500, Talk: coach.Talk{RepMS: 0, RepShare: 0.5444}},
			`{"type":"talk","at_ms":500,"rep_ms":0,"prospect_ms":0,"rep_share":0.544,"window_rep_share":0,"monologue_speaker":"","monologue_ms":0}`},
		{coach.Event{Type: coach.EventOutcome, AtMS: 21000, ID: "c7", Cue: "future_forward", Taken: false},
			`{"type":"cue_outcome","at_ms":21000,"id":"c7","cue":"future_forward","taken":false}`},
		{coach.Event{Type: coach.EventStatus, AtMS: 30000, ASR: "degraded", Reason: "timed out"},
			`{"type":"status","at_ms":30000,"asr":"degraded","reason":"timed out"}`},
	}
	for _, tt := range tests {
		t.Run(tt.ev.Type, func(t *testing.T) {
			b, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

// TestEventRoundTrip checks that every event of a real run reads back as
// it was written, the summary included.
func TestEventRoundTrip(t *testing.T) {
	for _, ev := range analyze(t, defaultPlaybook(t), "testdata/self-serving.jsonl") {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		var back coach.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the event:\n%s\n%s", b, b2)
		}
		if ev.Type == coach.EventSummary && !reflect.DeepEqual(ev.Summary.Metrics, back.Summary.Metrics) {
			t.Fatalf("summary metrics changed: %+v vs %+v", ev.Summary.Metrics, back.Summary.Metrics)
		}
	}
}

func TestInvalidUTF8IsReplaced(t *testing.T) {
	b, err := json.Marshal(coach.Event{Type: coach.EventTranscript, Text: "ok\xffok"})
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s %v", b, err)
	}
}

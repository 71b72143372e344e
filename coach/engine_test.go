package coach_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/eval"
	"github.com/cuecard/cuecard/stream"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func defaultPlaybook(tb testing.TB) *coach.Playbook {
	tb.Helper()
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		tb.Fatalf("default playbook: %v", err)
	}
	return pb
}

// analyze replays a transcript file and returns every event.
func analyze(tb testing.TB, pb *coach.Playbook, path string) []coach.Event {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var evs []coach.Event
	err = stream.AnalyzeTranscript(context.Background(), f, path, pb, func(ev coach.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		tb.Fatalf("analyze %s: %v", path, err)
	}
	return evs
}

// TestGolden compares every event but the periodic talk snapshots with
// testdata/NAME.golden; run with -update to rewrite them after a reviewed
// change.
func TestGolden(t *testing.T) {
	pb := defaultPlaybook(t)
	files, _ := filepath.Glob("testdata/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no testdata/*.jsonl")
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".jsonl")
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, ev := range analyze(t, pb, in) {
				if ev.Type == coach.EventTalk {
					continue
				}
				b, err := ev.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
			golden := strings.TrimSuffix(in, ".jsonl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./coach -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("output differs from %s (go test ./coach -update rewrites it):\n%s", golden, firstDiff(got, string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

// TestLabelledCalls scores the coach on the project's own labelled calls:
// every expected cue inside its window, nothing forbidden, stages in order.
func TestLabelledCalls(t *testing.T) {
	pb := defaultPlaybook(t)
	for _, dir := range []string{"testdata", "../examples"} {
		calls, err := eval.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			t.Run(c.Name, func(t *testing.T) {
				r := eval.Score(c, analyze(t, pb, c.Path))
				if r.FP > 0 || r.FN > 0 {
					t.Errorf("false alarms %v, missed %v", r.FalseAlarm, r.Missed)
				}
				if !r.StagesOK {
					t.Errorf("stages %v, want %v", r.Stages, r.WantStages)
				}
			})
		}
	}
}

func TestEngineRejectsTimeGoingBack(t *testing.T) {
	e := coach.NewEngine(defaultPlaybook(t))
	if _, err := e.Step(coach.Input{Kind: coach.Tick, AtMS: 1000}); err != nil {
		t.Fatal(err)
	}
	_, err := e.Step(coach.Input{Kind: coach.Tick, AtMS: 999})
	if !errors.Is(err, coach.ErrTimeBackwards) {
		t.Fatalf("got %v, want ErrTimeBackwards", err)
	}
	if _, err := e.Finish(2000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(coach.Input{Kind: coach.Tick, AtMS: 3000}); !errors.Is(err, coach.ErrFinished) {
		t.Fatalf("step after finish: got %v, want ErrFinished", err)
	}
}

// step feeds inputs and returns the events of the last one.
func step(t *testing.T, e *coach.Engine, ins ...coach.Input) []coach.Event {
	t.Helper()
	var last []coach.Event
	for _, in := range ins {
		evs, err := e.Step(in)
		if err != nil {
			t.Fatal(err)
		}
		last = append(last[:0], evs...)
	}
	return last
}

func utter(spk coach.Speaker, start, end int64, text string) []coach.Input {
	return []coach.Input{
		{Kind: coach.SpeechStart, AtMS: start, Speaker: spk, StartMS: start},
		{Kind: coach.SpeechEnd, AtMS: end, Speaker: spk, StartMS: start, EndMS: end},
		{Kind: coach.Final, AtMS: end, Speaker: spk, StartMS: start, EndMS: end, Text: text},
	}
}

func cuesIn(evs []coach.Event) []string {
	var ids []string
	for _, ev := range evs {
		if ev.Type == coach.EventCue {
			ids = append(ids, ev.Cue)
		}
	}
	return ids
}

// TestPartialFiresBeforeFinal checks that a cue fires from a partial
// transcript while the prospect is still speaking, and not again on the
// final of the same utterance.
func TestPartialFiresBeforeFinal(t *testing.T) {
	e := coach.NewEngine(defaultPlaybook(t))
	var ins []coach.Input
	ins = append(ins, utter(coach.Rep, 0, 3000, "So tell me about the business. How are things going with the team?")...)
	ins = append(ins, utter(coach.Prospect, 3500, 9000, "We have a real problem with churn, we lost a dozen accounts last quarter and nobody saw it coming.")...)
	ins = append(ins, utter(coach.Rep, 9500, 14000, "Picture a year from now with churn fixed. What's different for you?")...)
	step(t, e, ins...)
	partial := coach.Input{Kind: coach.Partial, AtMS: 16000, Speaker: coach.Prospect, StartMS: 14500,
		Text: "it would be huge probably two million a year so how can you help us with this"}
	if got := cuesIn(step(t, e, coach.Input{Kind: coach.SpeechStart, AtMS: 14500, Speaker: coach.Prospect, StartMS: 14500}, partial)); len(got) != 1 || got[0] != "door_opened" {
		t.Fatalf("partial: cues %v, want [door_opened]", got)
	}
	final := partial
	final.Kind, final.AtMS, final.EndMS = coach.Final, 18000, 18000
	final.Text += " can we work together"
	if got := cuesIn(step(t, e, coach.Input{Kind: coach.SpeechEnd, AtMS: 18000, Speaker: coach.Prospect, StartMS: 14500, EndMS: 18000}, final)); len(got) != 0 {
		t.Fatalf("final of the same utterance fired again: %v", got)
	}
}

// TestMonologueCueFiresMidUtterance checks that a time-based cue fires at
// the media time the limit passes, not at the end of the utterance.
func TestMonologueCueFiresMidUtterance(t *testing.T) {
	e := coach.NewEngine(defaultPlaybook(t))
	step(t, e, coach.Input{Kind: coach.SpeechStart, AtMS: 1000, Speaker: coach.Rep, StartMS: 1000})
	var firedAt int64 = -1
	for at := int64(1500); at <= 70000 && firedAt < 0; at += 500 {
		evs := step(t, e, coach.Input{Kind: coach.Tick, AtMS: at})
		for _, ev := range evs {
			if ev.Type == coach.EventCue && ev.Cue == "one_paragraph" {
				firedAt = ev.AtMS
			}
		}
	}
	if firedAt != 46000 {
		t.Fatalf("one_paragraph fired at %d, want 46000 (45 s after the rep began)", firedAt)
	}
}

// TestTalkEventsEvery500ms checks the contract's talk rate.
func TestTalkEventsEvery500ms(t *testing.T) {
	evs := analyze(t, defaultPlaybook(t), "testdata/self-serving.jsonl")
	var last int64 = -1
	n := 0
	for _, ev := range evs {
		if ev.Type != coach.EventTalk {
			continue
		}
		if last >= 0 && ev.AtMS-last > 500 {
			t.Fatalf("talk events at %d and %d: more than 500 ms apart", last, ev.AtMS)
		}
		last = ev.AtMS
		n++
	}
	if n < 150 {
		t.Fatalf("only %d talk events in a 99 s call", n)
	}
	if s := evs[len(evs)-1]; s.Type != coach.EventSummary {
		t.Fatalf("last event %q, want summary", s.Type)
	}
}

func TestStatusInputBecomesStatusEvent(t *testing.T) {
	e := coach.NewEngine(defaultPlaybook(t))
	evs := step(t, e, coach.Input{Kind: coach.Status, AtMS: 4000, ASR: "degraded", Text: "transcription service timed out"})
	if len(evs) == 0 || evs[0].Type != coach.EventStatus || evs[0].ASR != "degraded" || evs[0].Reason != "transcription service timed out" {
		t.Fatalf("events %+v", evs)
	}
}

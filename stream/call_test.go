package stream_test

import (
	"context"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// TestCallPadsLaggingSide writes one side only, at 48 kHz: the call pads
// the silent side, drops its late audio for the padded stretch, records
// what the pipeline gets and ends with a summary at the audio's end.
func TestCallPadsLaggingSide(t *testing.T) {
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		t.Fatal(err)
	}
	var recorded [2]int
	var events []coach.Event
	c := stream.NewCall(calltest.Config(), nil, pb, func(ev coach.Event) error {
		events = append(events, ev)
		return nil
	}, stream.CallOptions{Record: func(sp coach.Speaker, pcm []float32) error {
		recorded[sp-1] += len(pcm)
		return nil
	}})
	defer c.Close()
	if padded, err := c.PadLagging(); padded || err != nil {
		t.Fatalf("padding before audio: %v %v", padded, err)
	}
	frame := make([]float32, 960) // 20 ms at 48 kHz
	for range 100 {
		if err := c.Write(coach.Rep, 48000, frame); err != nil {
			t.Fatal(err)
		}
	}
	padded, err := c.PadLagging()
	if err != nil || !padded {
		t.Fatalf("PadLagging = %v, %v; want padded", padded, err)
	}
	pro := c.Written(coach.Prospect)
	if lag := c.Written(coach.Rep) - pro; lag <= 0 || lag > stream.Rate/2 {
		t.Fatalf("prospect %d samples behind after padding", lag)
	}
	// The prospect's late audio for the padded stretch is dropped.
	if err := c.Write(coach.Prospect, stream.Rate, make([]float32, 320)); err != nil {
		t.Fatal(err)
	}
	if c.Written(coach.Prospect) != pro {
		t.Fatalf("late audio was not dropped: %d, want %d", c.Written(coach.Prospect), pro)
	}
	sum, err := c.Finish(context.Background())
	if err != nil || sum == nil {
		t.Fatalf("Finish = %v, %v", sum, err)
	}
	if last := events[len(events)-1]; last.Type != coach.EventSummary || last.AtMS < 1900 {
		t.Fatalf("last event %+v, want the summary at the end of the audio", last)
	}
	if recorded[0] != int(c.Written(coach.Rep)) || recorded[1] != int(c.Written(coach.Prospect)) {
		t.Fatalf("recorded %v, written %d/%d", recorded, c.Written(coach.Rep), c.Written(coach.Prospect))
	}
}

// TestReplayInputsOrder checks the stored-call replay: at equal times
// speech ends, then finals, then starts, with ticks up to the end.
func TestReplayInputsOrder(t *testing.T) {
	in := []coach.Input{
		{Kind: coach.SpeechStart, AtMS: 1000, Speaker: coach.Prospect, StartMS: 1000},
		{Kind: coach.Final, AtMS: 1000, Speaker: coach.Rep, Text: "hi"},
		{Kind: coach.SpeechEnd, AtMS: 1000, Speaker: coach.Rep},
		{Kind: coach.SpeechStart, AtMS: 0, Speaker: coach.Rep},
	}
	var got []coach.InputKind
	var ticks int
	end, err := stream.ReplayInputs(context.Background(), in, 500, 2000, func(x coach.Input) error {
		if x.Kind == coach.Tick {
			ticks++
			return nil
		}
		got = append(got, x.Kind)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []coach.InputKind{coach.SpeechStart, coach.SpeechEnd, coach.Final, coach.SpeechStart}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if end != 1000 || ticks != 4 {
		t.Fatalf("end %d, %d ticks; want 1000 and 4 (0, 500, 1000, 1500)", end, ticks)
	}
}

// TestSynthRate: synthesized calls are written at the pipeline's rate.
func TestSynthRate(t *testing.T) {
	if synth.Rate != stream.Rate {
		t.Fatalf("synth.Rate %d, stream.Rate %d", synth.Rate, stream.Rate)
	}
}

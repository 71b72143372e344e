package stream_test

import (
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// A call started at a media time (resumed on another server) goes on from
// there: its inputs come after it, and both sides count the skipped time.
func TestCallStartAt(t *testing.T) {
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		t.Fatal(err)
	}
	var evs []coach.Event
	c := stream.NewCall(stream.DefaultConfig(), nil, pb, func(ev coach.Event) error { evs = append(evs, ev); return nil }, stream.CallOptions{})
	defer c.Close()
	if err := c.StartAt(5000); err != nil {
		t.Fatal(err)
	}
	if got := c.Written(coach.Rep); got != 5*stream.Rate {
		t.Fatalf("rep written %d, want %d", got, 5*stream.Rate)
	}
	silence := make([]float32, stream.Rate)
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		if err := c.Write(sp, stream.Rate, silence); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.MediaMS(); got != 6000 {
		t.Fatalf("media time %d ms, want 6000", got)
	}
	for _, ev := range evs {
		if ev.AtMS < 5000 {
			t.Fatalf("event at %d ms, before the start", ev.AtMS)
		}
	}
	if err := c.StartAt(9000); err == nil {
		t.Fatal("StartAt after audio worked")
	}
}

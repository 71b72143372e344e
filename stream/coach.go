package stream

import (
	"context"
	"io"

	"github.com/cuecard/cuecard/coach"
)

// Coach drives a coach.Engine from timed inputs and hands every event it
// produces to emit. It is the one place where inputs meet the engine, for
// offline analysis and live sessions alike. Not safe for concurrent use.
type Coach struct {
	eng  *coach.Engine
	emit func(coach.Event) error
}

// NewCoach returns a Coach running playbook pb; emit receives each event
// in order and may stop the run by returning an error.
func NewCoach(pb *coach.Playbook, emit func(coach.Event) error) *Coach {
	return &Coach{eng: coach.NewEngine(pb), emit: emit}
}

// Step feeds one input.
func (c *Coach) Step(in coach.Input) error {
	evs, err := c.eng.Step(in)
	if err != nil {
		return err
	}
	return c.send(evs)
}

// Finish ends the call at media time atMS and emits the summary.
func (c *Coach) Finish(atMS int64) error {
	evs, err := c.eng.Finish(atMS)
	if err != nil {
		return err
	}
	return c.send(evs)
}

// Now returns the media time of the last input.
func (c *Coach) Now() int64 { return c.eng.Now() }

func (c *Coach) send(evs []coach.Event) error {
	for _, ev := range evs {
		if err := c.emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// AnalyzeTranscript replays a transcript (read from r, named name in
// errors) through playbook pb in media time and emits every event, the
// summary last.
func AnalyzeTranscript(ctx context.Context, r io.Reader, name string, pb *coach.Playbook, emit func(coach.Event) error) error {
	c := NewCoach(pb, emit)
	end, err := Replay(ctx, NewTranscriptReader(r, name), int64(pb.Talk.IntervalMS), c.Step)
	if err != nil {
		return err
	}
	return c.Finish(end)
}

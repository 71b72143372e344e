package eval

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// SynthCall speaks call c into dir/NAME (rep.wav, prospect.wav,
// truth.jsonl) with opt, reusing the files when they are already there.
func SynthCall(ctx context.Context, c Call, dir string, opt synth.Options) (*synth.Result, error) {
	out := filepath.Join(dir, c.Name)
	res := &synth.Result{
		Rep: filepath.Join(out, "rep.wav"), Prospect: filepath.Join(out, "prospect.wav"),
		Stereo: filepath.Join(out, "stereo.wav"), Truth: filepath.Join(out, "truth.jsonl"),
	}
	if segs, err := synth.ReadTruth(res.Truth); err == nil {
		if _, err := os.Stat(res.Prospect); err == nil {
			res.Segments = segs
			return res, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	utts := make([]synth.Utterance, len(c.Lines))
	for i, l := range c.Lines {
		utts[i] = synth.Utterance{Speaker: l.Speaker, StartMS: l.StartMS, EndMS: l.EndMS, Text: l.Text}
	}
	return synth.Synthesize(ctx, utts, out, opt)
}

// Latencies returns, for each expected cue that fired in its window and
// was triggered by a prospect utterance, the time from the end of that
// utterance's actual speech (from the synthesis truth) to the cue.
func Latencies(c Call, events []coach.Event, truth []synth.Segment) []int64 {
	var out []int64
	for _, x := range c.Expect.Cues {
		trig := c.Lines[x.After]
		if trig.Speaker != coach.Prospect {
			continue
		}
		lo, hi := trig.StartMS, c.Lines[x.By].EndMS
		i := slices.IndexFunc(events, func(ev coach.Event) bool {
			return ev.Type == coach.EventCue && ev.Cue == x.Cue && ev.AtMS >= lo && ev.AtMS <= hi
		})
		if i < 0 {
			continue
		}
		end := speechEnd(trig, truth)
		out = append(out, events[i].AtMS-end)
	}
	return out
}

// speechEnd is where the speech of line l actually ended: the end of the
// last truth segment of its speaker that overlaps it.
func speechEnd(l stream.TranscriptLine, truth []synth.Segment) int64 {
	end := l.EndMS
	for _, s := range truth {
		if s.Speaker == l.Speaker && s.StartMS < l.EndMS && s.EndMS > l.StartMS {
			end = s.EndMS
		}
	}
	return end
}

package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

func TestTranscriptErrorsNameLine(t *testing.T) {
	good := `{"speaker":"rep","start_ms":0,"end_ms":1000,"text":"hi"}` + "\n"
	tests := []struct {
		name string
		src  string
		line int
		err  error
	}{
		{"unreadable JSON", good + "{nope\n", 2, stream.ErrBadJSON},
		{"end before start", good + `{"speaker":"rep","start_ms":2000,"end_ms":1000,"text":""}` + "\n", 2, stream.ErrTimeOrder},
		{"time going backwards", good + `{"speaker":"prospect","start_ms":500,"end_ms":900,"text":""}` + "\n" + `{"speaker":"rep","start_ms":400,"end_ms":900,"text":""}`, 3, stream.ErrTimeOrder},
		{"unknown speaker", `{"speaker":"coach","start_ms":0,"end_ms":1,"text":""}`, 1, stream.ErrBadField},
		{"missing times", `{"speaker":"rep","text":"x"}`, 1, stream.ErrBadField},
		{"beyond a day", `{"speaker":"rep","start_ms":0,"end_ms":1000000000000,"text":""}`, 1, stream.ErrTimeOrder},
		{"negative start", `{"speaker":"rep","start_ms":-5,"end_ms":1,"text":""}`, 1, stream.ErrTimeOrder},
		{"line over 1 MiB", good + `{"speaker":"rep","start_ms":1,"end_ms":2,"text":"` + strings.Repeat("a", 1<<20) + `"}`, 2, stream.ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stream.ReadTranscript(strings.NewReader(tt.src), "call.jsonl")
			var le *stream.LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LineError", err)
			}
			if le.File != "call.jsonl" || le.Line != tt.line || !errors.Is(err, tt.err) {
				t.Fatalf("got %q (line %d), want line %d wrapping %v", err, le.Line, tt.line, tt.err)
			}
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "call.jsonl:") {
				t.Fatalf("error %q: want one line starting with the file name", err)
			}
		})
	}
}

func TestEmptyTextAndBlankLinesAreFine(t *testing.T) {
	src := "\n" + `{"speaker":"rep","start_ms":0,"end_ms":1000,"text":""}` + "\n\n" + `{"speaker":"prospect","start_ms":1200,"end_ms":2000}` + "\n"
	lines, err := stream.ReadTranscript(strings.NewReader(src), "x")
	if err != nil || len(lines) != 2 {
		t.Fatalf("%v %v", lines, err)
	}
}

// TestReplayTimeline checks the media-time replay: speech starts at
// start_ms, ends with its final transcript at end_ms, ticks at most 500 ms
// apart, times never decrease, and a side talking over itself is one
// stretch of speech.
func TestReplayTimeline(t *testing.T) {
	src := `{"speaker":"rep","start_ms":100,"end_ms":2600,"text":"hello there"}
{"speaker":"prospect","start_ms":2000,"end_ms":2500,"text":"mm-hm"}
{"speaker":"prospect","start_ms":2400,"end_ms":4000,"text":"two people on the other side"}`
	var got []coach.Input
	end, err := stream.Replay(context.Background(), stream.NewTranscriptReader(strings.NewReader(src), "x"), 500, func(in coach.Input) error {
		got = append(got, in)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if end != 4000 {
		t.Fatalf("end %d, want 4000", end)
	}
	var last, lastTick int64
	var starts, ends, finals int
	for _, in := range got {
		if in.AtMS < last {
			t.Fatalf("time went back: %+v after %d", in, last)
		}
		last = in.AtMS
		switch in.Kind {
		case coach.Tick:
			if in.AtMS-lastTick > 500 {
				t.Fatalf("ticks %d and %d", lastTick, in.AtMS)
			}
			lastTick = in.AtMS
		case coach.SpeechStart:
			starts++
			if in.AtMS != in.StartMS {
				t.Fatalf("speech start %+v", in)
			}
		case coach.SpeechEnd:
			ends++
		case coach.Final:
			finals++
			if in.AtMS != in.EndMS {
				t.Fatalf("final not at end_ms: %+v", in)
			}
		default:
		}
	}
	// The prospect's two overlapping lines are one stretch of speech.
	if starts != 2 || ends != 2 || finals != 3 {
		t.Fatalf("starts %d ends %d finals %d, want 2 2 3", starts, ends, finals)
	}
}

func FuzzTranscriptReader(f *testing.F) {
	f.Add([]byte(`{"speaker":"rep","start_ms":0,"end_ms":4100,"text":"hello"}` + "\n" + `{"speaker":"prospect","start_ms":4200,"end_ms":5000,"text":"hi"}`))
	f.Add([]byte("{\n"))
	f.Add([]byte(`{"speaker":"rep","start_ms":1e30,"end_ms":-1}`))
	f.Add([]byte(`{"speaker":"prospect","start_ms":0,"end_ms":0,"text":"\u0000\ufffd"}` + "\n\n"))
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		_, rerr := stream.ReadTranscript(strings.NewReader(string(src)), "f")
		var le *stream.LineError
		if rerr != nil && !errors.As(rerr, &le) {
			t.Fatalf("error %v is not a *LineError", rerr)
		}
		// Whatever reads must also analyze, without panicking.
		aerr := stream.AnalyzeTranscript(context.Background(), strings.NewReader(string(src)), "f", pb, func(coach.Event) error { return nil })
		if (rerr == nil) != (aerr == nil) {
			t.Fatalf("read error %v but analyze error %v", rerr, aerr)
		}
	})
}

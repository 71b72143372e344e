package coach_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// longCall builds a transcript of at least minutes of media time and
// utterances lines by repeating the test calls one after another.
func longCall(tb testing.TB, minutes, utterances int) []byte {
	tb.Helper()
	var lines []map[string]any
	var offset int64
	files := []string{"testdata/self-serving.jsonl", "testdata/pitchy-software.jsonl", "testdata/door-asr.jsonl", "testdata/resolved-pain.jsonl"}
	for offset < int64(minutes)*60_000 || len(lines) < utterances {
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			var end int64
			for _, l := range bytes.Split(bytes.TrimSpace(src), []byte("\n")) {
				var u map[string]any
				if err := json.Unmarshal(l, &u); err != nil {
					tb.Fatal(err)
				}
				s, e := int64(u["start_ms"].(float64)), int64(u["end_ms"].(float64))
				u["start_ms"], u["end_ms"] = s+offset, e+offset
				end = max(end, e)
				lines = append(lines, u)
			}
			offset += end + 1000
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		enc.Encode(l)
	}
	return buf.Bytes()
}

// BenchmarkAnalyze60Min analyzes a 60-minute call from transcript to
// summary; BenchmarkAnalyze700 a call of 700 utterances.
func BenchmarkAnalyze60Min(b *testing.B) { benchAnalyze(b, longCall(b, 60, 0)) }

func BenchmarkAnalyze700(b *testing.B) { benchAnalyze(b, longCall(b, 0, 700)) }

func benchAnalyze(b *testing.B, src []byte) {
	pb := defaultPlaybook(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		n := 0
		err := stream.AnalyzeTranscript(context.Background(), bytes.NewReader(src), "long", pb, func(coach.Event) error {
			n++
			return nil
		})
		if err != nil || n == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes.Count(src, []byte("\n"))), "utterances")
}

// BenchmarkStep measures one coach step (one input in) over a 60-minute
// call and reports the 99th percentile.
func BenchmarkStep(b *testing.B) {
	pb := defaultPlaybook(b)
	var ins []coach.Input
	_, err := stream.Replay(context.Background(), stream.NewTranscriptReader(bytes.NewReader(longCall(b, 60, 0)), "long"), 500, func(in coach.Input) error {
		ins = append(ins, in)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	durs := make([]time.Duration, 0, len(ins))
	b.ReportAllocs()
	var e *coach.Engine
	i := len(ins)
	for b.Loop() {
		if i == len(ins) {
			e, i = coach.NewEngine(pb), 0
		}
		t0 := time.Now()
		if _, err := e.Step(ins[i]); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
		i++
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns/step")
	b.ReportMetric(float64(durs[len(durs)-1].Nanoseconds()), "max-ns/step")
}

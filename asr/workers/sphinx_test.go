package workers_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/asr/workers"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// newSphinx is a pool of n embedded decoders, closed when the test ends.
func newSphinx(tb testing.TB, n int) *sphinx.Recognizer {
	tb.Helper()
	return newSphinxPrime(tb, n, 0)
}

// newSphinxPrime is newSphinx with PrimeMS prime.
func newSphinxPrime(tb testing.TB, n, prime int) *sphinx.Recognizer {
	tb.Helper()
	calltest.RequireModel(tb)
	cfg := sphinx.DefaultConfig()
	cfg.PoolSize, cfg.PrimeMS = n, prime
	s, err := sphinx.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// sphinxClient is the default client of prefix p, whose timeout leaves
// room for a slow, shared machine: a segment is decoded only once its
// first seconds have been heard (priming), so the whole of a short
// segment is decoded after its end.
func sphinxClient(p string) workers.ClientConfig {
	cfg := workers.DefaultClientConfig()
	cfg.Prefix, cfg.Timeout = p, 20*time.Second
	return cfg
}

// finals analyzes call with tr, waiting for each transcript, and returns
// the finals as "speaker start-end: text".
func finals(tb testing.TB, tr stream.Transcriber, call *synth.Result) []string {
	tb.Helper()
	cfg := calltest.Config()
	cfg.AwaitFinals = true
	got := calltest.Collect(tb, func(emit func(coach.Input) error) error {
		return stream.AnalyzeFiles(context.Background(), cfg, tr, call.Rep, call.Prospect, emit)
	})
	var out []string
	for _, f := range calltest.Kinds(got, coach.Final) {
		out = append(out, fmt.Sprintf("%s %d-%d: %s", f.Speaker, f.StartMS, f.EndMS, f.Text))
	}
	return out
}

// TestSphinxThroughWorker analyzes a synthesized call with the embedded
// recognizer in process and through a worker that runs it: the
// transcripts are the same, word for word, because each side's segments
// carry the recognizer's state from one worker to the next.
func TestSphinxThroughWorker(t *testing.T) {
	call := calltest.SynthCall(t, calltest.Call, synth.DefaultOptions())
	p := prefix()
	startWorker(t, workerConfig(p), newSphinx(t, 2))
	cl := workers.NewClient(connect(t), sphinxClient(p))
	local := finals(t, newSphinx(t, 2), call)
	remote := finals(t, cl, call)
	t.Logf("through the worker: %q", remote)
	if len(local) < 4 || !slices.Equal(local, remote) {
		t.Fatalf("in process:\n%q\nthrough the worker:\n%q", local, remote)
	}
}

// taping records the audio of every utterance of a Transcriber.
type taping struct {
	stream.Transcriber
	mu   sync.Mutex
	segs [][]int16
}

type tapeUtt struct {
	stream.Utterance
	t   *taping
	pcm []int16
}

func (t *taping) Start(ctx context.Context) (stream.Utterance, error) {
	u, err := t.Transcriber.Start(ctx)
	if err != nil {
		return nil, err
	}
	return &tapeUtt{Utterance: u, t: t}, nil
}

func (u *tapeUtt) Write(pcm []int16) error {
	u.pcm = append(u.pcm, pcm...)
	return u.Utterance.Write(pcm)
}

func (u *tapeUtt) Finish() (string, error) {
	u.t.mu.Lock()
	u.t.segs = append(u.t.segs, u.pcm)
	u.t.mu.Unlock()
	return u.Utterance.Finish()
}

// segments returns the speech segments a pipeline cuts from call.
func segments(b *testing.B, call *synth.Result) [][]int16 {
	b.Helper()
	tp := &taping{Transcriber: newSphinx(b, 2)}
	finals(b, tp, call)
	return tp.segs
}

// BenchmarkLatency plays the same speech segments, in real time, to the
// embedded recognizer in process and through a worker on this machine,
// one after the other, and measures for each the time from the arrival of
// the segment's last audio to its transcript (end of speech to final).
// It reports what the worker adds (p50 and p95 of the per-segment
// difference) and each way's p95. Priming is off: after its first
// seconds a live side is no longer primed. It takes about twice the
// call's speech in real time per op.
//
//	go test -run '^$' -bench Latency -benchtime 2x ./asr/workers
func BenchmarkLatency(b *testing.B) {
	call := calltest.SynthCall(b, calltest.Call, synth.DefaultOptions())
	segs := segments(b, call)
	local := newSphinxPrime(b, 1, -1)
	p := prefix()
	startWorker(b, workerConfig(p), newSphinxPrime(b, 1, -1))
	cl := workers.NewClient(connect(b), sphinxClient(p))
	var extra, in, out []float64
	for b.Loop() {
		for i, pcm := range segs {
			want, tin := localLatency(b, local, pcm)
			got, tout := workerLatency(b, cl, uint64(i+1), pcm)
			if got != want {
				b.Fatalf("through the worker %q, in process %q", got, want)
			}
			in, out = append(in, ms(tin)), append(out, ms(tout))
			extra = append(extra, ms(tout)-ms(tin))
		}
	}
	b.ReportMetric(pct(extra, 50), "extra-p50-ms")
	b.ReportMetric(pct(extra, 95), "extra-p95-ms")
	b.ReportMetric(pct(in, 95), "inproc-p95-ms")
	b.ReportMetric(pct(out, 95), "worker-p95-ms")
	b.ReportMetric(float64(len(extra))/float64(b.N), "segments/op")
}

// play writes pcm in 20 ms frames at the pace of real time and returns
// when its last frame arrived (before it is written).
func play(pcm []int16, write func([]int16)) time.Time {
	start := time.Now()
	var last time.Time
	for i := 0; i < len(pcm); i += 320 {
		time.Sleep(time.Until(start.Add(time.Duration(i/16) * time.Millisecond)))
		last = time.Now()
		write(pcm[i:min(i+320, len(pcm))])
	}
	return last
}

func localLatency(b *testing.B, s *sphinx.Recognizer, pcm []int16) (string, time.Duration) {
	u, err := s.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	end := play(pcm, func(f []int16) {
		if err := u.Write(f); err != nil {
			b.Fatal(err)
		}
	})
	text, err := u.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return text, time.Since(end)
}

func workerLatency(b *testing.B, cl *workers.Client, id uint64, pcm []int16) (string, time.Duration) {
	out := make(chan stream.Result, 64)
	s := cl.Open(coach.Rep, out)
	defer s.Close()
	s.Begin(id)
	end := play(pcm, s.Write)
	if err := s.End(); err != nil {
		b.Fatal(err)
	}
	for r := range out {
		if r.Final {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			return r.Text, time.Since(end)
		}
	}
	return "", 0
}

// BenchmarkOverhead is the protocol's cost per segment: a 1 s segment
// through a worker whose recognizer does no work.
func BenchmarkOverhead(b *testing.B) {
	p := prefix()
	startWorker(b, workerConfig(p), newTestRec("w", 1))
	cl := workers.NewClient(connect(b), clientConfig(p))
	pcm := speech(1000, 0)
	var lat []float64
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := cl.Recognize(context.Background(), pcm, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, ms(time.Since(t0)))
	}
	b.ReportMetric(pct(lat, 50), "p50-ms")
	b.ReportMetric(pct(lat, 95), "p95-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the q-th percentile of v (nearest rank).
func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s))*q/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

package calltest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// ToneCall returns n turns of the prospect at 16 kHz: 1 s of near silence,
// then talkMS of a voiced, harmonic tone (which the VAD takes for speech),
// and 1.2 s of near silence at the end. The rep is silent throughout.
func ToneCall(n, talkMS int) (rep, pro []float32) {
	rnd := rand.New(rand.NewPCG(1, 2))
	quiet := func(ms int) {
		for range ms * 16 {
			pro = append(pro, float32(rnd.NormFloat64()*0.0005))
		}
	}
	for range n {
		quiet(1000)
		for i := range talkMS * 16 {
			t := float64(i) / stream.Rate
			var v float64
			for h := 1; h <= 8; h++ {
				v += math.Sin(2*math.Pi*140*float64(h)*t) / float64(h)
			}
			env := 0.5 + 0.5*math.Sin(2*math.Pi*4*t) // syllable-rate modulation
			pro = append(pro, float32(0.15*v*env+rnd.NormFloat64()*0.0005))
		}
	}
	quiet(1200)
	rep = make([]float32, len(pro))
	for i := range rep {
		rep[i] = float32(rnd.NormFloat64() * 0.0005)
	}
	return rep, pro
}

// Feed writes both sides frame by frame (20 ms), calling each after every
// frame (nil for none).
func Feed(tb testing.TB, p *stream.Pipeline, rep, pro []float32, each func()) {
	tb.Helper()
	const fr = 320
	for off := 0; off+fr <= len(pro); off += fr {
		if err := p.Write(coach.Rep, rep[off:off+fr]); err != nil {
			tb.Fatal(err)
		}
		if err := p.Write(coach.Prospect, pro[off:off+fr]); err != nil {
			tb.Fatal(err)
		}
		if each != nil {
			each()
		}
	}
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(2 * time.Millisecond)
	}
}

package stream_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cuecard/cuecard/stream"
)

func TestVADNoiseIsNotSpeech(t *testing.T) {
	cases := []struct {
		name  string
		level float32
	}{
		{"digital silence", 0},
		{"quiet white noise", 0.001},
		{"loud white noise", 0.1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := stream.NewVAD(stream.DefaultVADConfig())
			rng := rand.New(rand.NewPCG(1, 2))
			fr := make([]float32, 320)
			speech := 0
			for i := range 500 {
				for j := range fr {
					fr[j] = c.level * float32(rng.NormFloat64())
				}
				if s, _ := v.Frame(fr); s && i > 10 {
					speech++
				}
			}
			if speech > 5 {
				t.Fatalf("%d of 500 noise frames called speech", speech)
			}
		})
	}
}

func BenchmarkVADFrame(b *testing.B) {
	v := stream.NewVAD(stream.DefaultVADConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	fr := make([]float32, 320) // 20 ms at 16 kHz
	for j := range fr {
		fr[j] = 0.05 * float32(rng.NormFloat64())
	}
	b.ReportAllocs()
	for b.Loop() {
		v.Frame(fr)
	}
}

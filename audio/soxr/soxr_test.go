package soxr_test

import (
	"math"
	"testing"

	"github.com/cuecard/cuecard/audio/soxr"
)

func tone(rate int, hz float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.5 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return x
}

func rms(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(max(len(x), 1)))
}

// resampleChunked runs x through r in uneven chunks, as a stream would.
func resampleChunked(r *soxr.Resampler, x []float32) []float32 {
	var out []float32
	for i := 0; i < len(x); {
		n := min(len(x)-i, 333+i%517)
		out = r.Process(out, x[i:i+n])
		i += n
	}
	return r.Flush(out)
}

func TestResampler(t *testing.T) {
	cases := []struct {
		name    string
		in      int
		hz      float64
		wantRMS float64 // relative to the input's
	}{
		{"48k 1kHz passes", 48000, 1000, 1},
		{"44.1k 3kHz passes", 44100, 3000, 1},
		{"8k 1kHz passes", 8000, 1000, 1},
		{"16k passthrough", 16000, 1000, 1},
		{"48k 11kHz is filtered, not aliased to 5kHz", 48000, 11000, 0},
		{"44.1k 9kHz is filtered", 44100, 9000, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := soxr.NewResampler(c.in, 16000)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			x := tone(c.in, c.hz, c.in) // one second
			y := resampleChunked(r, x)
			if d := len(y) - 16000; d < -2 || d > 2 {
				t.Fatalf("got %d samples for one second", len(y))
			}
			got := rms(y[2000:14000]) / rms(x)
			if c.wantRMS == 1 && math.Abs(got-1) > 0.02 {
				t.Fatalf("in-band tone gain %.3f", got)
			}
			if c.wantRMS == 0 && got > 0.003 { // -50 dB
				t.Fatalf("out-of-band tone leaks at %.1f dB", 20*math.Log10(got))
			}
		})
	}
	if _, err := soxr.NewResampler(0, 16000); err == nil {
		t.Fatal("rate 0 accepted")
	}
}

func BenchmarkResampler48k(b *testing.B) {
	r, err := soxr.NewResampler(48000, 16000)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	in := tone(48000, 440, 960) // one 20 ms frame
	out := make([]float32, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(in)))
	for b.Loop() {
		out = r.Process(out[:0], in)
	}
}

package synth_test

import (
	"math"
	"testing"

	"github.com/cuecard/cuecard/synth"
)

func tone(hz float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*hz*float64(i)/synth.Rate))
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

// TestTelephoneBand checks the passband and stopbands of the simulated
// phone line and that its output is aligned with its input.
func TestTelephoneBand(t *testing.T) {
	tests := []struct {
		name     string
		hz       float64
		min, max float64 // gain in dB
	}{
		{"1 kHz passes", 1000, -1.5, 1},
		{"2 kHz passes", 2000, -1.5, 1},
		{"80 Hz is cut", 80, math.Inf(-1), -20},
		{"5 kHz is cut", 5000, math.Inf(-1), -40},
		{"6 kHz is cut", 6000, math.Inf(-1), -40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := tone(tc.hz, synth.Rate)
			y, err := synth.Telephone(x)
			if err != nil {
				t.Fatal(err)
			}
			if len(y) != len(x) {
				t.Fatalf("%d samples out, want %d", len(y), len(x))
			}
			mid := func(s []float32) []float32 { return s[len(s)/4 : 3*len(s)/4] }
			g := 20 * math.Log10(rms(mid(y))/rms(mid(x)))
			if g < tc.min || g > tc.max {
				t.Errorf("gain %.1f dB, want [%g, %g]", g, tc.min, tc.max)
			}
		})
	}
	t.Run("aligned", func(t *testing.T) {
		x := tone(1000, synth.Rate)
		y, err := synth.Telephone(x)
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float32, len(x))
		for i := range x {
			d[i] = y[i] - x[i]
		}
		// A delay of one sample at 1 kHz would leave -8 dB of residue;
		// the filters' phase shift and mu-law leave much less.
		if r := 20 * math.Log10(rms(d[len(d)/4:3*len(d)/4])/rms(x)); r > -6 {
			t.Errorf("residue %.1f dB: output not aligned with input", r)
		}
	})
}

// TestPinkNoiseSlope fits the noise's power per octave band: pink noise
// falls 3 dB per octave (white noise would be flat, brown -6 dB).
func TestPinkNoiseSlope(t *testing.T) {
	const frame = 1024
	x := synth.PinkNoise(200*frame, 7)
	freqs := []float64{62.5, 125, 250, 500, 1000, 2000, 4000}
	var xs, ys []float64
	for _, f := range freqs {
		var p float64
		for k := 0; k+frame <= len(x); k += frame {
			p += goertzel(x[k:k+frame], f)
		}
		xs = append(xs, math.Log2(f))
		ys = append(ys, 10*math.Log10(p))
	}
	if s := fitSlope(xs, ys); s < -4 || s > -2 {
		t.Errorf("slope %.2f dB/octave, want about -3 (band powers %v)", s, ys)
	}
}

// goertzel returns the Hann-windowed power of x at frequency f.
func goertzel(x []float32, f float64) float64 {
	w := 2 * math.Pi * f / synth.Rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	n := float64(len(x))
	for i, v := range x {
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
		s := float64(v)*h + c*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

func fitSlope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	return num / den
}

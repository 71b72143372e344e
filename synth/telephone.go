package synth

import (
	"fmt"
	"math"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/g711"
	"github.com/cuecard/cuecard/audio/soxr"
)

// Telephone passband edges in Hz (ITU-T G.712: 300-3400 Hz).
const (
	telLowHz  = 300
	telHighHz = 3400
)

// telephone returns x (at Rate) as it would arrive over a narrowband phone
// line: resampled to 8 kHz (libsoxr, which removes everything above
// 4 kHz), band-limited to 300-3400 Hz, encoded to G.711 mu-law and decoded,
// and resampled back to Rate. The result has len(x) samples, aligned
// with x.
func telephone(x []float32) ([]float32, error) {
	nb, err := resample(x, Rate, g711.Rate)
	if err != nil {
		return nil, err
	}
	hp := newBiquad(telLowHz, g711.Rate, true)
	lp := newBiquad(telHighHz, g711.Rate, false)
	for i, v := range nb {
		nb[i] = lp.step(hp.step(v))
	}
	nb = g711.Ulaw.RoundTrip(nb)
	wb, err := resample(nb, g711.Rate, Rate)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(x))
	copy(out, wb)
	return out, nil
}

func resample(x []float32, from, to int) ([]float32, error) {
	r, err := audio.Resample(soxr.New, from, to)
	if err != nil {
		return nil, fmt.Errorf("resample %d to %d Hz: %w", from, to, err)
	}
	defer r.Close()
	out := r.Process(make([]float32, 0, len(x)*to/from+64), x)
	return r.Flush(out), nil
}

// biquad is a second-order Butterworth section (Q = 1/sqrt 2) from Robert
// Bristow-Johnson's Audio EQ Cookbook, direct form I.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func newBiquad(fc, fs float64, highPass bool) *biquad {
	w := 2 * math.Pi * fc / fs
	alpha := math.Sin(w) / math.Sqrt2 // sin(w) / 2Q with Q = 1/sqrt 2
	cw := math.Cos(w)
	a0 := 1 + alpha
	var b0, b1 float64
	if highPass {
		b0, b1 = (1+cw)/2, -(1 + cw)
	} else {
		b0, b1 = (1-cw)/2, 1-cw
	}
	return &biquad{b0: b0 / a0, b1: b1 / a0, b2: b0 / a0, a1: -2 * cw / a0, a2: (1 - alpha) / a0}
}

func (f *biquad) step(v float32) float32 {
	x := float64(v)
	y := f.b0*x + f.b1*f.x1 + f.b2*f.x2 - f.a1*f.y1 - f.a2*f.y2
	f.x2, f.x1, f.y2, f.y1 = f.x1, x, f.y1, y
	return float32(y)
}

package stream

import (
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// The voice activity detector is the statistical model-based detector of
// Sohn, Kim and Sung, "A statistical model-based voice activity detection",
// IEEE Signal Processing Letters 6(1), 1999: speech and noise DFT
// coefficients are modelled as independent complex Gaussians, the
// a-priori SNR of each bin is estimated with Ephraim and Malah's
// decision-directed method, and the frame's decision is the geometric mean
// of the per-bin likelihood ratios against a threshold. The noise spectrum
// is tracked in frames judged non-speech, with a floor from a
// minimum-statistics tracker (after Martin, 2001) so that a rise of the
// noise level is followed even if the detector fires on it. Decisions are
// smoothed with an onset count and a hangover (see VADConfig).

// Rate is the sample rate of everything after the resampler: the VAD, the
// pipeline and the recognizers work at 16 kHz.
const Rate = 16000

const (
	vadFFT   = 512 // 32 ms analysis window, zero-padded frames
	vadLoHz  = 100
	vadHiHz  = 4000
	ddAlpha  = 0.98 // decision-directed smoothing (Ephraim-Malah)
	noiseUpd = 0.05 // noise PSD update rate in non-speech frames
	// minimum statistics: smoothing, sub-window count and length (frames)
	msAlpha   = 0.85
	msWindows = 6
	msLen     = 25
	msBias    = 1.5
	llrSmooth = 0.5
	// initFrames (about 100-200 ms) initialise the noise estimate.
	initFrames = 8
)

// VADConfig tunes voice activity detection.
type VADConfig struct {
	// FrameMS is the decision frame, 10 to 30 ms.
	FrameMS int
	// Threshold is the decision threshold on the mean log likelihood
	// ratio per frequency bin (Sohn's log eta).
	Threshold float64
	// OnsetMS is how long the raw decision must hold before a segment
	// starts; the segment's start is back-dated to the first such frame.
	OnsetMS int
	// HangoverMS is how long speech may pause before the segment ends.
	HangoverMS int
	// BleedDB suppresses this side's speech in frames where the other side
	// is speaking and is at least this many dB louder: the other voice
	// leaking in through an imperfect echo canceller. 0 disables it.
	BleedDB float64
}

// DefaultVADConfig returns the defaults measured in BENCHMARKS.md.
func DefaultVADConfig() VADConfig {
	return VADConfig{FrameMS: 20, Threshold: 0.05, OnsetMS: 40, HangoverMS: 250, BleedDB: 15}
}

// vad classifies 16 kHz frames of one channel as speech or not. It is not
// safe for concurrent use; use one per channel.
type vad struct {
	thr    float64
	lo, hi int // bins used

	fft  *fourier.FFT
	win  []float64 // Hann window
	hist []float64 // last vadFFT samples
	seq  []float64
	spec []complex128

	noise   []float64 // noise PSD estimate per bin
	prevA2  []float64 // previous frame's clean speech power estimate
	smooth  []float64 // smoothed periodogram (minimum statistics)
	subMin  []float64 // minimum within the current sub-window
	winMins [][]float64
	msCount int
	msIdx   int
	frames  int
	score   float64
}

// newVAD returns a detector for frames of cfg.FrameMS at 16 kHz.
func newVAD(cfg VADConfig) *vad {
	nb := vadFFT/2 + 1
	v := &vad{
		thr:    cfg.Threshold,
		lo:     vadLoHz * vadFFT / Rate,
		hi:     vadHiHz * vadFFT / Rate,
		fft:    fourier.NewFFT(vadFFT),
		win:    make([]float64, vadFFT),
		hist:   make([]float64, vadFFT),
		seq:    make([]float64, vadFFT),
		spec:   make([]complex128, nb),
		noise:  make([]float64, nb),
		prevA2: make([]float64, nb),
		smooth: make([]float64, nb),
		subMin: make([]float64, nb),
	}
	for i := range v.win {
		v.win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(vadFFT))
	}
	v.winMins = make([][]float64, msWindows)
	for i := range v.winMins {
		v.winMins[i] = make([]float64, nb)
	}
	return v
}

// noiseFloor keeps the noise estimate away from zero on digital silence
// (about -100 dBFS per bin).
const noiseFloor = 1e-7

// Frame analyses the next frame (any length up to 512 samples, normally
// FrameMS worth) and returns whether it is speech and its level in dBFS.
// It does not allocate.
func (v *vad) Frame(x []float32) (speech bool, levelDB float64) {
	n := len(x)
	if n > vadFFT {
		x = x[n-vadFFT:]
		n = vadFFT
	}
	copy(v.hist, v.hist[n:])
	var e float64
	for i, s := range x {
		f := float64(s)
		v.hist[vadFFT-n+i] = f
		e += f * f
	}
	levelDB = 10 * math.Log10(e/float64(max(n, 1))+1e-12)
	for i, h := range v.hist {
		v.seq[i] = h * v.win[i]
	}
	v.fft.Coefficients(v.spec, v.seq)

	v.frames++
	first := v.frames == 1
	var llr float64
	for k := v.lo; k <= v.hi; k++ {
		c := v.spec[k]
		p := real(c)*real(c) + imag(c)*imag(c)
		if first {
			v.smooth[k] = p
		}
		if v.frames <= initFrames {
			// Sohn's assumption: the first frames are noise. Their mean
			// periodogram is the initial noise estimate; a call that starts
			// with speech only delays the first onset, as the estimate is
			// pulled down in the following pauses.
			v.noise[k] = max(v.noise[k]+(p-v.noise[k])/float64(v.frames), noiseFloor)
		}
		v.smooth[k] = msAlpha*v.smooth[k] + (1-msAlpha)*p
		gamma := p / v.noise[k]
		xi := ddAlpha*v.prevA2[k]/v.noise[k] + (1-ddAlpha)*max(gamma-1, 0)
		xi = max(xi, 1e-3)
		llr += gamma*xi/(1+xi) - math.Log1p(xi)
		g := xi / (1 + xi)
		v.prevA2[k] = g * g * p
	}
	llr /= float64(v.hi - v.lo + 1)
	// First-order smoothing of the frame score, a light form of Sohn's
	// HMM-based hang-over: weak frames inside speech stay speech.
	v.score = llrSmooth*v.score + (1-llrSmooth)*llr
	speech = v.score > v.thr && v.frames > initFrames
	v.track(!speech && v.frames > initFrames)
	return speech, levelDB
}

// track updates the noise estimate: recursive averaging in non-speech
// frames, and a minimum-statistics floor in every frame.
func (v *vad) track(update bool) {
	if v.msCount == 0 {
		copy(v.subMin, v.smooth)
	}
	for k := v.lo; k <= v.hi; k++ {
		p := v.spec[k]
		pw := real(p)*real(p) + imag(p)*imag(p)
		if update {
			v.noise[k] = (1-noiseUpd)*v.noise[k] + noiseUpd*pw
		}
		v.subMin[k] = min(v.subMin[k], v.smooth[k])
	}
	v.msCount++
	if v.msCount == msLen {
		v.msCount = 0
		copy(v.winMins[v.msIdx], v.subMin)
		v.msIdx = (v.msIdx + 1) % msWindows
		if v.frames >= msLen*msWindows {
			for k := v.lo; k <= v.hi; k++ {
				m := v.winMins[0][k]
				for _, w := range v.winMins[1:] {
					m = min(m, w[k])
				}
				// Only raises the estimate: a noise level that jumped up
				// is otherwise mistaken for endless speech.
				v.noise[k] = max(v.noise[k], msBias*m)
			}
		}
	}
	for k := v.lo; k <= v.hi; k++ {
		v.noise[k] = max(v.noise[k], noiseFloor)
	}
}

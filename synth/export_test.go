package synth

import "math/rand/v2"

// Telephone exposes telephone to tests.
var Telephone = telephone

// PinkNoise returns n samples of the noise addNoise adds, at unit speech
// power and 0 dB SNR.
func PinkNoise(n int, seed uint64) []float32 {
	ref := []float32{1}
	active := []bool{true}
	dst := make([]float32, n)
	addNoise(dst, append(ref, make([]float32, n-1)...), append(active, make([]bool, n-1)...), 0, rand.New(rand.NewPCG(seed, 1)))
	return dst
}

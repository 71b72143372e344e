// Package g711 converts between linear PCM and the G.711 companding laws
// of telephone networks (mu-law in North America and Japan, A-law
// elsewhere), one byte per sample at 8 kHz. It wraps github.com/zaf/g711.
package g711

import "github.com/zaf/g711"

// Rate is the sample rate of G.711 audio in Hz.
const Rate = 8000

// Law is a G.711 companding law.
type Law int

const (
	// Ulaw is mu-law (PCMU, RTP payload type 0).
	Ulaw Law = iota
	// Alaw is A-law (PCMA, RTP payload type 8).
	Alaw
)

// DecodeInt16 appends the 16-bit linear samples of the G.711 bytes in to
// out and returns it. Every byte is a valid sample, so it cannot fail.
func (l Law) DecodeInt16(out []int16, in []byte) []int16 {
	out = grow(out, len(in))
	dec := l.decodeFrame()
	for _, b := range in {
		out = append(out, dec(b))
	}
	return out
}

// Decode appends the samples of the G.711 bytes in to out as float32 in
// [-1, 1) and returns it.
func (l Law) Decode(out []float32, in []byte) []float32 {
	out = grow(out, len(in))
	dec := l.decodeFrame()
	for _, b := range in {
		out = append(out, float32(dec(b))/32768)
	}
	return out
}

// EncodeInt16 appends the G.711 bytes of the 16-bit linear samples in to
// out and returns it.
func (l Law) EncodeInt16(out []byte, in []int16) []byte {
	out = grow(out, len(in))
	enc := l.encodeFrame()
	for _, v := range in {
		out = append(out, enc(v))
	}
	return out
}

// Encode appends the G.711 bytes of the float32 samples in to out and
// returns it; samples outside [-1, 1] are clipped.
func (l Law) Encode(out []byte, in []float32) []byte {
	out = grow(out, len(in))
	enc := l.encodeFrame()
	for _, v := range in {
		out = append(out, enc(toInt16(v)))
	}
	return out
}

// RoundTrip returns x encoded with l and decoded again: the quantization
// a telephone line adds. x must already be at Rate.
func (l Law) RoundTrip(x []float32) []float32 {
	return l.Decode(make([]float32, 0, len(x)), l.Encode(make([]byte, 0, len(x)), x))
}

func (l Law) decodeFrame() func(uint8) int16 {
	if l == Alaw {
		return g711.DecodeAlawFrame
	}
	return g711.DecodeUlawFrame
}

func (l Law) encodeFrame() func(int16) uint8 {
	if l == Alaw {
		return g711.EncodeAlawFrame
	}
	return g711.EncodeUlawFrame
}

func toInt16(v float32) int16 {
	s := float64(v) * 32768
	switch {
	case s >= 32767:
		return 32767
	case s <= -32768:
		return -32768
	case s != s: // NaN
		return 0
	}
	return int16(s)
}

func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		s = append(make([]T, 0, len(s)+n), s...)
	}
	return s
}

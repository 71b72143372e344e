package audio

import "fmt"

// Resampler converts one channel between sample rates as a stream. It is
// not safe for concurrent use; Close frees what it holds.
type Resampler interface {
	// Process appends the resampled form of in to out and returns it.
	// Output lags input by the filter's delay; Flush drains it.
	Process(out, in []float32) []float32
	// Flush appends the samples still held in the filter to out.
	Flush(out []float32) []float32
	// Close frees the resampler.
	Close()
}

// NewResampler makes a Resampler from inRate to outRate Hz (soxr.New is
// the one cuecard uses).
type NewResampler func(inRate, outRate int) (Resampler, error)

// Resample returns a resampler from inRate to outRate: a pass-through when
// the rates are equal (newRes is then not needed), otherwise newRes's.
// A rate change without newRes fails with ErrNoResampler.
func Resample(newRes NewResampler, inRate, outRate int) (Resampler, error) {
	if inRate == outRate && inRate > 0 {
		return passThrough{}, nil
	}
	if newRes == nil {
		return nil, fmt.Errorf("%d Hz to %d Hz: %w", inRate, outRate, ErrNoResampler)
	}
	return newRes(inRate, outRate)
}

type passThrough struct{}

func (passThrough) Process(out, in []float32) []float32 { return append(out, in...) }
func (passThrough) Flush(out []float32) []float32       { return out }
func (passThrough) Close()                              {}

package audio

import "errors"

// Sentinel errors of WAV input; wrapped errors name the file, so compare
// with errors.Is.
var (
	// ErrNotWAV means the input is not a RIFF/WAVE file.
	ErrNotWAV = errors.New("not a WAV file")
	// ErrUnsupportedFormat means a WAV encoding the reader cannot decode.
	ErrUnsupportedFormat = errors.New("unsupported WAV encoding (supported: PCM 8/16/24/32-bit integer or 32/64-bit float, 1 to 8 channels, plain or WAVE_FORMAT_EXTENSIBLE)")
	// ErrTruncated means the file ends inside a header or sample frame.
	ErrTruncated = errors.New("truncated WAV file")
	// ErrCorrupt means the WAV header is inconsistent.
	ErrCorrupt = errors.New("corrupt WAV header")
	// ErrNoResampler means audio must change sample rate but no resampler
	// was supplied.
	ErrNoResampler = errors.New("no resampler for a rate change")
)

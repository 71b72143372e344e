// Package audio reads and writes WAV files and turns them into mono
// channels at one sample rate. It has no cgo: resampling is behind the
// Resampler interface (audio/soxr implements it with libsoxr).
package audio

import (
	"errors"
	"fmt"
	"io"
)

// chunkFrames is how many sample frames Reader decodes per call: memory
// use is independent of the file's length.
const chunkFrames = 4096

// ReaderOptions choose what a Reader returns.
type ReaderOptions struct {
	// Split returns the first two channels apart instead of the mixdown;
	// the input must then have 2 channels.
	Split bool
	// Rate is the output sample rate; 0 keeps the input's.
	Rate int
	// Resample makes the resamplers when Rate differs from the input's.
	Resample NewResampler
}

// Reader reads a WAV stream in chunks as mono channels: the mixdown of all
// its channels (channel 0), or its left and right channels apart. It does
// not own the WAVReader. Not safe for concurrent use.
type Reader struct {
	r      *WAVReader
	split  bool
	buf    []float32
	mono   [2][]float32
	res    [2]Resampler
	out    [2][]float32
	frames int64
	eof    bool
}

// NewReader returns a Reader over r; errors are ErrUnsupportedFormat for
// Split on a file without 2 channels, or the resampler's.
func NewReader(r *WAVReader, opt ReaderOptions) (*Reader, error) {
	fm := r.Format()
	if opt.Split && fm.Channels != 2 {
		return nil, fmt.Errorf("%w: want 2 channels, the file has %d", ErrUnsupportedFormat, fm.Channels)
	}
	rate := opt.Rate
	if rate == 0 {
		rate = fm.SampleRate
	}
	rd := &Reader{r: r, split: opt.Split, buf: make([]float32, chunkFrames*fm.Channels)}
	n := 1
	if opt.Split {
		n = 2
	}
	for i := range n {
		rs, err := Resample(opt.Resample, fm.SampleRate, rate)
		if err != nil {
			rd.Close()
			return nil, err
		}
		rd.res[i] = rs
		rd.mono[i] = make([]float32, chunkFrames)
	}
	return rd, nil
}

// Frames returns how many input sample frames have been read so far.
func (rd *Reader) Frames() int64 { return rd.frames }

// Next returns the next chunk of each output channel (channel 1 is nil
// unless split), valid until the next call. After the last chunk, which
// drains the resamplers, it returns io.EOF; other errors are the
// decoder's.
func (rd *Reader) Next() ([2][]float32, error) {
	var out [2][]float32
	if rd.eof {
		return out, io.EOF
	}
	nch := rd.r.Format().Channels
	k, err := rd.r.Read(rd.buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return out, err
	}
	rd.frames += int64(k)
	for i := range k {
		fr := rd.buf[i*nch : (i+1)*nch]
		if rd.split {
			rd.mono[0][i], rd.mono[1][i] = fr[0], fr[1]
			continue
		}
		var sum float32
		for _, v := range fr {
			sum += v
		}
		rd.mono[0][i] = sum / float32(nch)
	}
	for c, rs := range rd.res {
		if rs == nil {
			continue
		}
		rd.out[c] = rs.Process(rd.out[c][:0], rd.mono[c][:k])
		if err != nil {
			rd.out[c] = rs.Flush(rd.out[c])
		}
		out[c] = rd.out[c]
	}
	if err != nil {
		rd.eof = true
	}
	return out, nil
}

// Close frees the resamplers; the WAVReader stays open.
func (rd *Reader) Close() {
	for _, rs := range rd.res {
		if rs != nil {
			rs.Close()
		}
	}
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/coach"
)

// chunkFrames is how many sample frames are decoded per read: memory use
// is independent of the file's length.
const chunkFrames = 4096

// source reads one WAV file as 16 kHz channels: either its mixdown to
// mono, or its first two channels separately.
type source struct {
	f     *WAVFile
	split bool
	buf   []float32
	mono  [2][]float32
	res   [2]*Resampler
	out   [2][]float32
	eof   bool
}

func openSource(path string, split bool) (*source, error) {
	f, err := OpenWAV(path)
	if err != nil {
		return nil, err
	}
	fm := f.Format()
	if split && fm.Channels != 2 {
		f.Close()
		return nil, fmt.Errorf("%s: %w: --stereo needs 2 channels, file has %d", path, ErrUnsupportedFormat, fm.Channels)
	}
	s := &source{f: f, split: split, buf: make([]float32, chunkFrames*fm.Channels)}
	n := 1
	if split {
		n = 2
	}
	for i := range n {
		r, err := NewResampler(fm.SampleRate, Rate)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.res[i] = r
		s.mono[i] = make([]float32, chunkFrames)
	}
	return s, nil
}

// next returns the next 16 kHz samples of each output channel (valid until
// the next call); at the end it drains the resamplers and reports io.EOF.
func (s *source) next() ([2][]float32, error) {
	var out [2][]float32
	if s.eof {
		return out, io.EOF
	}
	nch := s.f.Format().Channels
	k, err := s.f.Read(s.buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return out, err
	}
	for i := range k {
		fr := s.buf[i*nch : (i+1)*nch]
		if s.split {
			s.mono[0][i], s.mono[1][i] = fr[0], fr[1]
			continue
		}
		var sum float32
		for _, v := range fr {
			sum += v
		}
		s.mono[0][i] = sum / float32(nch)
	}
	for c, r := range s.res {
		if r == nil {
			continue
		}
		s.out[c] = r.Process(s.out[c][:0], s.mono[c][:k])
		if err != nil {
			s.out[c] = r.Flush(s.out[c])
		}
		out[c] = s.out[c]
	}
	if err != nil {
		s.eof = true
	}
	return out, nil
}

func (s *source) close() {
	for _, r := range s.res {
		if r != nil {
			r.Close()
		}
	}
	s.f.Close()
}

// AnalyzeFiles runs the pipeline over one WAV file per side (any sample
// rate; multi-channel files are mixed down), time-aligned from 0, as fast
// as the CPU allows, calling emit for every input on the caller's
// goroutine. The shorter file is padded with silence. tr may be nil for
// voice activity only. Errors name the file.
func AnalyzeFiles(ctx context.Context, cfg Config, tr Transcriber, repPath, prospectPath string, emit func(coach.Input) error) error {
	rep, err := openSource(repPath, false)
	if err != nil {
		return err
	}
	defer rep.close()
	pro, err := openSource(prospectPath, false)
	if err != nil {
		return err
	}
	defer pro.close()
	p := NewPipeline(cfg, tr, emit)
	defer p.Close()
	return run(ctx, p, func() ([2][]float32, [2]bool, error) {
		r, rerr := rep.next()
		q, qerr := pro.next()
		for _, err := range []error{rerr, qerr} {
			if err != nil && err != io.EOF {
				return [2][]float32{}, [2]bool{}, err
			}
		}
		return [2][]float32{r[0], q[0]}, [2]bool{rerr == io.EOF, qerr == io.EOF}, nil
	})
}

// AnalyzeStereo is AnalyzeFiles for one two-channel WAV file: left is the
// rep, right the prospect.
func AnalyzeStereo(ctx context.Context, cfg Config, tr Transcriber, path string, emit func(coach.Input) error) error {
	src, err := openSource(path, true)
	if err != nil {
		return err
	}
	defer src.close()
	p := NewPipeline(cfg, tr, emit)
	defer p.Close()
	return run(ctx, p, func() ([2][]float32, [2]bool, error) {
		ch, err := src.next()
		return ch, [2]bool{err == io.EOF, err == io.EOF}, err
	})
}

// run feeds both sides chunk by chunk. Once one side has ended it is fed
// silence as long as the other's chunk, so nothing piles up in the
// pipeline and the shorter side is padded.
func run(ctx context.Context, p *Pipeline, next func() ([2][]float32, [2]bool, error)) error {
	var zeros []float32
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch, done, err := next()
		if done[0] && done[1] {
			break
		}
		if err != nil && err != io.EOF {
			return err
		}
		n := max(len(ch[0]), len(ch[1]))
		if len(zeros) < n {
			zeros = make([]float32, n)
		}
		for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
			x := ch[i]
			if done[i] {
				x = zeros[:n]
			}
			if err := p.Write(sp, x); err != nil {
				return err
			}
		}
	}
	return p.Flush(ctx)
}

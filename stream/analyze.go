package stream

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
)

// source reads one WAV file as 16 kHz channels: either its mixdown to
// mono, or its first two channels separately.
type source struct {
	f *audio.WAVFile
	r *audio.Reader
}

func openSource(path string, split bool, newRes audio.NewResampler) (*source, error) {
	f, err := audio.OpenWAV(path)
	if err != nil {
		return nil, err
	}
	if fm := f.Format(); split && fm.Channels != 2 {
		f.Close()
		return nil, fmt.Errorf("%s: %w: --stereo needs 2 channels, file has %d", path, audio.ErrUnsupportedFormat, fm.Channels)
	}
	r, err := audio.NewReader(f.WAVReader, audio.ReaderOptions{Split: split, Rate: Rate, Resample: newRes})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &source{f: f, r: r}, nil
}

// next returns the next 16 kHz samples of each output channel (valid until
// the next call); at the end it reports io.EOF.
func (s *source) next() ([2][]float32, error) { return s.r.Next() }

func (s *source) close() {
	s.r.Close()
	s.f.Close()
}

// AnalyzeFiles runs the pipeline over one WAV file per side (any sample
// rate; multi-channel files are mixed down), time-aligned from 0, as fast
// as the CPU allows, calling emit for every input on the caller's
// goroutine. The shorter file is padded with silence. tr may be nil for
// voice activity only. Errors name the file. Call.PlayFiles does the same
// for a coached call.
func AnalyzeFiles(ctx context.Context, cfg Config, tr Transcriber, repPath, prospectPath string, emit func(coach.Input) error) error {
	p := NewPipeline(cfg, tr, emit)
	defer p.Close()
	if err := playFiles(ctx, cfg.Resample, repPath, prospectPath, p.Write); err != nil {
		return err
	}
	return p.Flush(ctx)
}

// AnalyzeStereo is AnalyzeFiles for one two-channel WAV file: left is the
// rep, right the prospect.
func AnalyzeStereo(ctx context.Context, cfg Config, tr Transcriber, path string, emit func(coach.Input) error) error {
	p := NewPipeline(cfg, tr, emit)
	defer p.Close()
	if err := playStereo(ctx, cfg.Resample, path, p.Write); err != nil {
		return err
	}
	return p.Flush(ctx)
}

func playFiles(ctx context.Context, newRes audio.NewResampler, repPath, prospectPath string, write func(coach.Speaker, []float32) error) error {
	rep, err := openSource(repPath, false, newRes)
	if err != nil {
		return err
	}
	defer rep.close()
	pro, err := openSource(prospectPath, false, newRes)
	if err != nil {
		return err
	}
	defer pro.close()
	return play(ctx, write, func() ([2][]float32, [2]bool, error) {
		r, rerr := rep.next()
		q, qerr := pro.next()
		for _, err := range []error{rerr, qerr} {
			if err != nil && !errors.Is(err, io.EOF) {
				return [2][]float32{}, [2]bool{}, err
			}
		}
		return [2][]float32{r[0], q[0]}, [2]bool{errors.Is(rerr, io.EOF), errors.Is(qerr, io.EOF)}, nil
	})
}

func playStereo(ctx context.Context, newRes audio.NewResampler, path string, write func(coach.Speaker, []float32) error) error {
	src, err := openSource(path, true, newRes)
	if err != nil {
		return err
	}
	defer src.close()
	return play(ctx, write, func() ([2][]float32, [2]bool, error) {
		ch, err := src.next()
		return ch, [2]bool{errors.Is(err, io.EOF), errors.Is(err, io.EOF)}, err
	})
}

// play feeds both sides chunk by chunk. Once one side has ended it is fed
// silence as long as the other's chunk, so nothing piles up in the
// pipeline and the shorter side is padded.
func play(ctx context.Context, write func(coach.Speaker, []float32) error, next func() ([2][]float32, [2]bool, error)) error {
	var zeros []float32
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch, done, err := next()
		if done[0] && done[1] {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
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
			if err := write(sp, x); err != nil {
				return err
			}
		}
	}
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
)

// CallOptions are the optional hooks of a Call; each runs on the goroutine
// that drives the Call.
type CallOptions struct {
	// Record receives each side's 16 kHz audio as the pipeline gets it,
	// padding included (a live session's recording).
	Record func(sp coach.Speaker, pcm []float32) error
	// Input sees every input before the coach does (progress reports).
	Input func(coach.Input) error
}

// Call is the core of one call, live or offline: it takes each side's
// audio at any rate, resamples it to Rate, pads a side that lags behind,
// hands the audio to the recording hook and the Pipeline, and steps the
// coach with the pipeline's inputs (or with inputs from elsewhere, such
// as a transcript). Every event goes to emit; Finish ends the call with
// the summary. It is the one place where a pipeline meets a coach. Not
// safe for concurrent use, except Waiting.
type Call struct {
	cfg   Config
	opt   CallOptions
	pipe  *Pipeline
	eng   *coach.Engine
	emit  func(coach.Event) error
	audio bool // some audio was written

	rs      [2]audio.Resampler
	rsRate  [2]int
	written [2]int64 // samples per side given to the pipeline
	skip    [2]int64 // samples to drop from a side that was padded
	buf     []float32

	end    int64 // media time of the last input
	minEnd int64
	sum    *coach.Summary
}

// NewCall returns a call coached on playbook pb. tr recognizes its speech
// (nil: voice activity only); emit receives every event in order and may
// stop the call by returning an error.
func NewCall(cfg Config, tr Transcriber, pb *coach.Playbook, emit func(coach.Event) error, opt CallOptions) *Call {
	c := &Call{cfg: cfg, opt: opt, eng: coach.NewEngine(pb), emit: emit}
	c.pipe = NewPipeline(cfg, tr, c.Step)
	return c
}

// Step feeds one input to the coach and emits the events it produces.
func (c *Call) Step(in coach.Input) error {
	c.end = max(c.end, in.AtMS)
	if c.opt.Input != nil {
		if err := c.opt.Input(in); err != nil {
			return err
		}
	}
	evs, err := c.eng.Step(in)
	if err != nil {
		return err
	}
	return c.send(evs)
}

func (c *Call) send(evs []coach.Event) error {
	for _, ev := range evs {
		if ev.Type == coach.EventSummary {
			c.sum = ev.Summary
		}
		if err := c.emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// Now returns the media time of the coach's last input.
func (c *Call) Now() int64 { return c.eng.Now() }

// MediaMS returns the media time of the audio processed so far.
func (c *Call) MediaMS() int64 { return c.pipe.MediaMS() }

// Waiting returns how many segments wait for a recognizer; it is safe to
// call from any goroutine (metrics).
func (c *Call) Waiting() int { return c.pipe.Waiting() }

// EndAtLeast makes the call end no earlier than media time ms (the known
// length of a recording or of a stored call).
func (c *Call) EndAtLeast(ms int64) { c.minEnd = max(c.minEnd, ms) }

// Write takes samples of side sp at sample rate rate, resamples them and
// feeds them on. Audio for a stretch that PadLagging already filled with
// silence is dropped.
func (c *Call) Write(sp coach.Speaker, rate int, pcm []float32) error {
	i, err := side(sp)
	if err != nil {
		return err
	}
	if c.rs[i] == nil || c.rsRate[i] != rate {
		if c.rs[i] != nil {
			c.rs[i].Close()
		}
		r, err := audio.Resample(c.cfg.Resample, rate, Rate)
		if err != nil {
			return err
		}
		c.rs[i], c.rsRate[i] = r, rate
	}
	c.buf = c.rs[i].Process(c.buf[:0], pcm)
	return c.write16k(sp, c.skipPadded(i, c.buf))
}

func side(sp coach.Speaker) (int, error) {
	if sp != coach.Rep && sp != coach.Prospect {
		return 0, fmt.Errorf("audio for speaker %v", sp)
	}
	return int(sp) - 1, nil
}

func (c *Call) skipPadded(i int, pcm []float32) []float32 {
	if n := min(c.skip[i], int64(len(pcm))); n > 0 {
		pcm = pcm[n:]
		c.skip[i] -= n
	}
	return pcm
}

// write16k records samples at Rate and feeds them to the pipeline.
func (c *Call) write16k(sp coach.Speaker, pcm []float32) error {
	if len(pcm) == 0 {
		return nil
	}
	c.audio = true
	if c.opt.Record != nil {
		if err := c.opt.Record(sp, pcm); err != nil {
			return err
		}
	}
	c.written[sp-1] += int64(len(pcm))
	return c.pipe.Write(sp, pcm)
}

// StartAt makes a call that has had no audio yet begin at media time ms:
// each side counts as having had ms of silence, and the recording hook
// sees none of it. A session resumed on another server after the one that
// ran it died starts so, its coach first stepped through the stored
// inputs up to ms. It fails once audio was written.
func (c *Call) StartAt(ms int64) error {
	if c.audio {
		return errors.New("start at: the call already has audio")
	}
	frames := c.pipe.skipTo(ms)
	for i := range c.written {
		c.written[i] = frames * int64(c.pipe.frame)
	}
	return nil
}

// Written returns how many samples at Rate side sp has had so far.
func (c *Call) Written(sp coach.Speaker) int64 { return c.written[sp-1] }

// lagSamples is how far one side may fall behind the other before
// PadLagging fills the gap (500 ms).
const lagSamples = Rate / 2

// PadLagging feeds silence to a side that is more than 500 ms behind the
// other, so that the other side's audio is processed; real audio that
// arrives later for the padded stretch is dropped. It reports whether it
// padded.
func (c *Call) PadLagging() (bool, error) {
	if !c.audio {
		return false, nil
	}
	padded := false
	for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		o := 1 - i
		if d := c.written[o] - c.written[i]; d > lagSamples {
			n := d - lagSamples/2
			if err := c.write16k(sp, make([]float32, n)); err != nil {
				return padded, err
			}
			c.skip[i] += n
			padded = true
		}
	}
	return padded, nil
}

// PlayFiles feeds one WAV file per side (any sample rate; multi-channel
// files are mixed down), time-aligned from 0, as fast as the CPU allows;
// the shorter is padded with silence. Errors name the file.
func (c *Call) PlayFiles(ctx context.Context, repPath, prospectPath string) error {
	return playFiles(ctx, c.cfg.Resample, repPath, prospectPath, c.write16k)
}

// PlayStereo is PlayFiles for one two-channel WAV file: left is the rep,
// right the prospect.
func (c *Call) PlayStereo(ctx context.Context, path string) error {
	return playStereo(ctx, c.cfg.Resample, path, c.write16k)
}

// Finish ends the call: it drains the resamplers, flushes the pipeline
// (waiting, until ctx is done, for transcripts still due), and ends the
// coach at the later of the last input, the audio's end and EndAtLeast.
// It returns the summary, and errors of the flush joined with the
// coach's; the coach is finished even when the flush fails.
func (c *Call) Finish(ctx context.Context) (*coach.Summary, error) {
	var errs []error
	for i, r := range c.rs {
		if r == nil {
			continue
		}
		tail := c.skipPadded(i, r.Flush(nil))
		if err := c.write16k(coach.Speaker(i+1), tail); err != nil {
			errs = append(errs, fmt.Errorf("flush resampler: %w", err))
		}
		r.Close()
		c.rs[i] = nil
	}
	if c.audio {
		if err := c.pipe.Flush(ctx); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	c.pipe.Close()
	end := max(c.end, c.minEnd)
	if c.audio {
		end = max(end, c.pipe.MediaMS())
	}
	evs, err := c.eng.Finish(end)
	if err == nil {
		err = c.send(evs)
	}
	if err != nil {
		errs = append(errs, err)
	}
	return c.sum, errors.Join(errs...)
}

// Close frees what an unfinished call holds; it is safe after Finish.
func (c *Call) Close() {
	c.pipe.Close()
	for i, r := range c.rs {
		if r != nil {
			r.Close()
			c.rs[i] = nil
		}
	}
}

// AnalyzeTranscript replays a transcript (read from r, named name in
// errors) through playbook pb in media time and emits every event, the
// summary last.
func AnalyzeTranscript(ctx context.Context, r io.Reader, name string, pb *coach.Playbook, emit func(coach.Event) error) error {
	c := NewCall(DefaultConfig(), nil, pb, emit, CallOptions{})
	defer c.Close()
	if _, err := Replay(ctx, NewTranscriptReader(r, name), int64(pb.Talk.IntervalMS), c.Step); err != nil {
		return err
	}
	_, err := c.Finish(ctx)
	return err
}

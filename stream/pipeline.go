package stream

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
)

// Config tunes a Pipeline.
type Config struct {
	// VAD tunes voice activity detection (per channel).
	VAD VADConfig
	// PartialMS is the minimum media time between two partial
	// transcripts of one segment.
	PartialMS int
	// TickMS is the media time between Tick inputs; it divides 500, so
	// that talk events come every 500 ms.
	TickMS int
	// PreRollMS of audio before the detected onset is given to the
	// recognizer, so the first phoneme is not cut.
	PreRollMS int
	// MaxPendingMS bounds the audio held for a segment while every
	// recognizer of the shared pool is busy; older audio is dropped.
	MaxPendingMS int
	// Resample makes the resamplers for audio not at Rate (soxr.New in
	// cuecard); nil accepts 16 kHz audio only.
	Resample audio.NewResampler

	// The rest applies to Async transcribers (remote services) only.

	// AwaitFinals makes the pipeline wait, at the end of each segment, for
	// its transcript (at most AwaitTimeout), as offline analysis should:
	// the output is then the same on every run. Live sessions leave it
	// false, and transcripts are emitted at the media time they arrive.
	AwaitFinals  bool
	AwaitTimeout time.Duration
	// MaxOutstanding segments may wait for their transcript at once; the
	// audio of further segments is not sent, and they are counted as
	// dropped.
	MaxOutstanding int
	// StallMS of media time without the transcript of an ended segment
	// makes the pipeline report the recognizer degraded.
	StallMS int
}

// DefaultConfig returns the pipeline defaults.
func DefaultConfig() Config {
	return Config{VAD: DefaultVADConfig(), PartialMS: 300, TickMS: 250, PreRollMS: 200, MaxPendingMS: 60000,
		AwaitTimeout: 2 * time.Minute, MaxOutstanding: 16, StallMS: 8000}
}

// withDefaults returns c with its zero or out-of-range fields set to the
// defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.VAD.FrameMS < 10 || c.VAD.FrameMS > 30 {
		c.VAD.FrameMS = 20
	}
	if c.TickMS <= 0 || c.TickMS > 500 {
		c.TickMS = 500
	}
	if c.MaxOutstanding <= 0 {
		c.MaxOutstanding = d.MaxOutstanding
	}
	if c.AwaitTimeout <= 0 {
		c.AwaitTimeout = d.AwaitTimeout
	}
	return c
}

// Pipeline turns the 16 kHz audio of the two sides of one call into
// coach.Inputs: SpeechStart at a voice onset, Partial while the side
// speaks, SpeechEnd and Final when the segment ends, and Ticks. It
// processes both channels in lock step, frame by frame, so inputs come out
// with non-decreasing AtMS; a frame is processed once both channels have
// it (a live caller feeds silence for a side that sends nothing).
//
// A Pipeline is not safe for concurrent use: one goroutine (the session's)
// calls Write, Flush and Close; emit is called on that goroutine.
// Recognition runs synchronously on that goroutine too, on recognizers
// borrowed from the shared Transcriber for the length of each segment,
// unless the Transcriber is Async: then audio is handed to the backend's
// Streams without waiting, and its transcripts are emitted as they arrive
// (see async.go), with Status inputs when recognition degrades or recovers.
type Pipeline struct {
	cfg   Config
	tr    Transcriber
	emit  func(coach.Input) error
	frame int // samples per frame
	ch    [2]*channel
	n     int64 // frames processed
	tick  int64 // AtMS of the last Tick
	busy  context.Context
	done  bool
	held  int // utterances currently holding a recognizer

	rec      recognition
	results  chan Result
	nextID   uint64
	inflight map[uint64]*segment // ended, waiting for their transcript
	early    map[uint64]Result   // AwaitFinals: finals that came before their turn
	degraded bool
	reason   string
	stats    PipelineStats

	// waiting is how many of its segments wait for a recognizer of the
	// shared pool; read by other goroutines (metrics).
	waiting atomic.Int32
}

// Waiting returns how many of the pipeline's speech segments are waiting
// for a recognizer of the shared pool. Safe to call from any goroutine.
func (p *Pipeline) Waiting() int { return int(p.waiting.Load()) }

func (p *Pipeline) countWaiting() {
	n := 0
	for _, c := range p.ch {
		n += len(c.waiting)
		if c.cur != nil && c.cur.utt == nil {
			n++
		}
	}
	p.waiting.Store(int32(n))
}

// PipelineStats counts the segments given to an Async transcriber: every
// one ends up Transcribed, Dropped (never sent: the backend refused it or
// too many were waiting) or Failed (sent, but no transcript came).
type PipelineStats struct {
	Sent, Transcribed, Dropped, Failed int
	// Pending segments are still waiting for their transcript.
	Pending int
}

type state uint8

const (
	idle state = iota
	speaking
)

type channel struct {
	sp      coach.Speaker
	vad     *vad
	buf     []float32 // samples not yet framed
	pcm     []int16   // current frame as 16-bit
	preroll [][]int16 // ring of the last frames while idle
	ring    int
	st      state
	run     int   // consecutive raw speech frames while idle
	onset   int64 // first frame of the run
	silent  int   // consecutive non-speech frames while speaking
	last    int64 // last speech frame
	cur     *segment
	waiting []*segment // ended, still waiting for a recognizer
	adapted []float32  // recognizer state after this side's last utterance
	rs      Stream     // Async transcriber's stream for this side
	raw     bool
	level   float64
}

type segment struct {
	sp       coach.Speaker
	start    int64 // ms
	end      int64 // ms, once ended
	ended    bool
	utt      Utterance
	pending  []int16
	partAt   int64
	partText string
	id       uint64 // Async: the stream's segment id, 0 if not sent
}

// NewPipeline returns a pipeline that calls emit for every input. tr may
// be nil for voice activity only (no Partial or Final inputs).
func NewPipeline(cfg Config, tr Transcriber, emit func(coach.Input) error) *Pipeline {
	cfg = cfg.withDefaults()
	busy, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Pipeline{cfg: cfg, tr: tr, emit: emit, frame: Rate * cfg.VAD.FrameMS / 1000, busy: busy}
	for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		c := &channel{sp: sp, vad: newVAD(cfg.VAD), pcm: make([]int16, p.frame)}
		c.preroll = make([][]int16, max(1, (cfg.PreRollMS+cfg.VAD.OnsetMS)/cfg.VAD.FrameMS+1))
		for j := range c.preroll {
			c.preroll[j] = make([]int16, p.frame)
		}
		p.ch[i] = c
	}
	p.rec = noRecognition{}
	if tr != nil {
		p.rec = syncRecognition{p}
	}
	if a, ok := tr.(Async); ok {
		p.rec = asyncRecognition{p}
		p.results = make(chan Result, 64)
		p.inflight = map[uint64]*segment{}
		p.early = map[uint64]Result{}
		for _, c := range p.ch {
			c.rs = a.Open(c.sp, p.results)
		}
	}
	return p
}

// Stats returns the counts of segments given to an Async transcriber.
func (p *Pipeline) Stats() PipelineStats {
	s := p.stats
	s.Pending = len(p.inflight)
	return s
}

func (p *Pipeline) channel(sp coach.Speaker) (*channel, error) {
	switch sp {
	case coach.Rep:
		return p.ch[0], nil
	case coach.Prospect:
		return p.ch[1], nil
	default:
	}
	return nil, fmt.Errorf("pipeline: no channel for speaker %d", sp)
}

// MediaMS returns the media time processed so far.
func (p *Pipeline) MediaMS() int64 { return p.n * int64(p.cfg.VAD.FrameMS) }

// skipTo advances an unused pipeline's clock to media time ms (rounded
// down to a frame) as if both sides had been silent; it returns the
// frames skipped.
func (p *Pipeline) skipTo(ms int64) int64 {
	p.n = max(p.n, ms/int64(p.cfg.VAD.FrameMS))
	p.tick = p.n * int64(p.cfg.VAD.FrameMS)
	return p.n
}

// Write appends 16 kHz samples in [-1, 1] of side sp and processes every
// frame both sides now have. It returns the first error of emit or of the
// recognizer.
func (p *Pipeline) Write(sp coach.Speaker, pcm []float32) error {
	if p.done {
		return ErrClosed
	}
	c, err := p.channel(sp)
	if err != nil {
		return err
	}
	c.buf = append(c.buf, pcm...)
	return p.process()
}

func (p *Pipeline) process() error {
	r, q := p.ch[0], p.ch[1]
	off := 0
	for len(r.buf)-off >= p.frame && len(q.buf)-off >= p.frame {
		if err := p.step(r.buf[off:off+p.frame], q.buf[off:off+p.frame]); err != nil {
			return err
		}
		off += p.frame
	}
	r.buf = r.buf[:copy(r.buf, r.buf[off:])]
	q.buf = q.buf[:copy(q.buf, q.buf[off:])]
	return nil
}

// step processes frame p.n of both channels.
func (p *Pipeline) step(fr, fp []float32) error {
	for i, f := range [2][]float32{fr, fp} {
		c := p.ch[i]
		c.raw, c.level = c.vad.Frame(f)
		for j, s := range f {
			c.pcm[j] = audio.FloatToInt16(s)
		}
	}
	// Cross-channel bleed suppression: one side's frame is not speech when
	// the other side speaks at the same time and is BleedDB louder.
	r, q := p.ch[0], p.ch[1]
	if b := p.cfg.VAD.BleedDB; b > 0 && r.raw && q.raw {
		switch {
		case q.level-r.level >= b:
			r.raw = false
		case r.level-q.level >= b:
			q.raw = false
		}
	}
	i := p.n
	p.n++
	at := p.n * int64(p.cfg.VAD.FrameMS)
	for _, c := range p.ch {
		if err := p.advance(c, i, at); err != nil {
			return err
		}
	}
	if err := p.rec.frame(at); err != nil {
		return err
	}
	if at-p.tick >= int64(p.cfg.TickMS) {
		p.tick = at
		return p.emit(coach.Input{Kind: coach.Tick, AtMS: at})
	}
	return nil
}

// advance runs one channel's onset/hangover state machine for frame i.
func (p *Pipeline) advance(c *channel, i, at int64) error {
	fms := int64(p.cfg.VAD.FrameMS)
	copy(c.preroll[c.ring], c.pcm)
	c.ring = (c.ring + 1) % len(c.preroll)
	switch c.st {
	case idle:
		if !c.raw {
			c.run = 0
			return nil
		}
		if c.run == 0 {
			c.onset = i
		}
		c.run++
		if c.run*p.cfg.VAD.FrameMS < max(p.cfg.VAD.OnsetMS, 1) {
			return nil
		}
		c.st, c.run, c.silent, c.last = speaking, 0, 0, i
		seg := &segment{sp: c.sp, start: c.onset * fms, partAt: at}
		c.cur = seg
		if err := p.emit(coach.Input{Kind: coach.SpeechStart, AtMS: at, Speaker: c.sp, StartMS: seg.start}); err != nil {
			return err
		}
		return p.rec.begin(c, seg)
	default:
		if c.raw {
			c.last, c.silent = i, 0
		} else {
			c.silent++
		}
		seg := c.cur
		if err := p.rec.audio(c, seg, c.pcm); err != nil {
			return err
		}
		if c.silent*p.cfg.VAD.FrameMS >= p.cfg.VAD.HangoverMS {
			return p.end(c, at)
		}
		return p.partial(seg, at)
	}
}

func (p *Pipeline) partial(seg *segment, at int64) error {
	if seg.utt == nil || at-seg.partAt < int64(p.cfg.PartialMS) {
		return nil
	}
	seg.partAt = at
	h, err := seg.utt.Partial()
	if err != nil {
		return fmt.Errorf("partial transcript: %w", err)
	}
	if h == "" || h == seg.partText {
		return nil
	}
	seg.partText = h
	return p.emit(coach.Input{Kind: coach.Partial, AtMS: at, Speaker: seg.sp, StartMS: seg.start, EndMS: at, Text: h})
}

// end closes the channel's current segment at media time at.
func (p *Pipeline) end(c *channel, at int64) error {
	seg := c.cur
	c.cur, c.st, c.run = nil, idle, 0
	seg.ended = true
	seg.end = (c.last + 1) * int64(p.cfg.VAD.FrameMS)
	if err := p.emit(coach.Input{Kind: coach.SpeechEnd, AtMS: at, Speaker: c.sp, StartMS: seg.start, EndMS: seg.end}); err != nil {
		return err
	}
	return p.rec.end(c, seg, at)
}

func (p *Pipeline) final(seg *segment, at int64) error {
	u := seg.utt
	text, err := u.Finish()
	seg.utt = nil
	if a, ok := u.(Adapter); ok && err == nil {
		if c, cerr := p.channel(seg.sp); cerr == nil {
			c.adapted = a.Adapted()
		}
	}
	p.held--
	if err != nil {
		return fmt.Errorf("final transcript: %w", err)
	}
	if text == "" {
		return nil
	}
	return p.emit(coach.Input{Kind: coach.Final, AtMS: at, Speaker: seg.sp, StartMS: seg.start, EndMS: seg.end, Text: text})
}

// tryStart gives seg a recognizer if one is free now.
func (p *Pipeline) tryStart(seg *segment) {
	u, err := p.tr.Start(p.busy)
	if err != nil {
		return
	}
	if a, ok := u.(Adapter); ok {
		if c, cerr := p.channel(seg.sp); cerr == nil {
			a.Adapt(c.adapted)
		}
	}
	seg.utt = u
	p.held++
}

// feed gives samples to seg's recognizer, or holds them (bounded) until
// one is free.
func (p *Pipeline) feed(seg *segment, pcm []int16) error {
	if seg.utt != nil {
		if err := seg.utt.Write(pcm); err != nil {
			return fmt.Errorf("recognize: %w", err)
		}
		return nil
	}
	seg.pending = append(seg.pending, pcm...)
	if limit := p.cfg.MaxPendingMS * Rate / 1000; len(seg.pending) > limit {
		seg.pending = seg.pending[:copy(seg.pending, seg.pending[len(seg.pending)-limit:])]
	}
	return nil
}

// retry starts recognizers for segments that were waiting for one.
func (p *Pipeline) retry(at int64) error {
	for _, c := range p.ch {
		for len(c.waiting) > 0 {
			seg := c.waiting[0]
			if p.tryStart(seg); seg.utt == nil {
				break
			}
			if err := p.catchUp(seg, at); err != nil {
				return err
			}
			c.waiting = c.waiting[1:]
		}
		if seg := c.cur; seg != nil && seg.utt == nil {
			if p.tryStart(seg); seg.utt != nil {
				if err := p.catchUp(seg, at); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// catchUp feeds the audio held for seg and finishes it if it has ended.
func (p *Pipeline) catchUp(seg *segment, at int64) error {
	pend := seg.pending
	seg.pending = nil
	if err := seg.utt.Write(pend); err != nil {
		return fmt.Errorf("recognize: %w", err)
	}
	if seg.ended {
		return p.final(seg, at)
	}
	return nil
}

// Flush pads the shorter side with silence, ends open segments, waits
// (until ctx is done) for a recognizer for segments still waiting for one,
// emits their finals and a last Tick. The pipeline takes no more audio.
func (p *Pipeline) Flush(ctx context.Context) error {
	if p.done {
		return ErrClosed
	}
	r, q := p.ch[0], p.ch[1]
	n := max(len(r.buf), len(q.buf))
	if n%p.frame != 0 {
		n += p.frame - n%p.frame
	}
	for _, c := range p.ch {
		c.buf = append(c.buf, make([]float32, n-len(c.buf))...)
	}
	if err := p.process(); err != nil {
		return err
	}
	p.done = true
	at := p.MediaMS()
	for _, c := range p.ch {
		if c.st == speaking {
			if err := p.end(c, at); err != nil {
				return err
			}
		}
	}
	if err := p.rec.flush(ctx, at); err != nil {
		return err
	}
	if at > p.tick {
		p.tick = at
		return p.emit(coach.Input{Kind: coach.Tick, AtMS: at})
	}
	return nil
}

// Close gives back any recognizer still held (without transcripts) and
// makes further writes fail with ErrClosed. It is safe to call after Flush
// and more than once.
func (p *Pipeline) Close() error {
	p.done = true
	for _, c := range p.ch {
		if c.cur != nil && c.cur.utt != nil {
			c.cur.utt.Abort()
			c.cur.utt = nil
			p.held--
		}
		for _, s := range c.waiting {
			if s.utt != nil {
				s.utt.Abort()
				s.utt = nil
				p.held--
			}
		}
		c.cur, c.waiting = nil, nil
		if c.rs != nil {
			c.rs.Close()
			c.rs = nil
		}
	}
	return nil
}

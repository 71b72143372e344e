package stream

import (
	"context"
	"fmt"
)

// recognition is how a Pipeline gets transcripts: not at all (voice
// activity only), from recognizers borrowed for each segment (sync), or
// from an Async backend's streams. The pipeline calls it at each point of
// a segment's life and once per frame.
type recognition interface {
	// begin starts seg, with the channel's pre-roll.
	begin(c *channel, seg *segment) error
	// audio feeds one frame of seg.
	audio(c *channel, seg *segment, pcm []int16) error
	// end ends seg at media time at.
	end(c *channel, seg *segment, at int64) error
	// frame runs after every frame: retries, results that arrived.
	frame(at int64) error
	// flush waits, until ctx is done, for what is still due.
	flush(ctx context.Context, at int64) error
}

// noRecognition is voice activity only.
type noRecognition struct{}

func (noRecognition) begin(*channel, *segment) error          { return nil }
func (noRecognition) audio(*channel, *segment, []int16) error { return nil }
func (noRecognition) end(*channel, *segment, int64) error     { return nil }
func (noRecognition) frame(int64) error                       { return nil }
func (noRecognition) flush(context.Context, int64) error      { return nil }

// syncRecognition borrows a recognizer of the shared pool per segment and
// decodes on the pipeline's goroutine; a segment that finds none holds
// its audio (bounded) until one is free.
type syncRecognition struct{ p *Pipeline }

func (r syncRecognition) begin(c *channel, seg *segment) error {
	r.p.tryStart(seg)
	for k := range c.preroll {
		if err := r.p.feed(seg, c.preroll[(c.ring+k)%len(c.preroll)]); err != nil {
			return err
		}
	}
	return nil
}

func (r syncRecognition) audio(_ *channel, seg *segment, pcm []int16) error {
	return r.p.feed(seg, pcm)
}

func (r syncRecognition) end(c *channel, seg *segment, at int64) error {
	if seg.utt == nil {
		c.waiting = append(c.waiting, seg)
		return nil
	}
	return r.p.final(seg, at)
}

func (r syncRecognition) frame(at int64) error {
	if err := r.p.retry(at); err != nil {
		return err
	}
	r.p.countWaiting()
	return nil
}

// flush waits for a recognizer for each segment still waiting for one.
func (r syncRecognition) flush(ctx context.Context, at int64) error {
	p := r.p
	for _, c := range p.ch {
		for len(c.waiting) > 0 {
			seg := c.waiting[0]
			u, err := p.tr.Start(ctx)
			if err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			seg.utt = u
			p.held++
			if err := p.catchUp(seg, at); err != nil {
				return err
			}
			c.waiting = c.waiting[1:]
		}
	}
	return nil
}

// asyncRecognition hands audio to an Async backend without waiting (see
// pipeline_async.go).
type asyncRecognition struct{ p *Pipeline }

func (r asyncRecognition) begin(c *channel, seg *segment) error {
	r.p.begin(c, seg)
	for k := range c.preroll {
		r.p.write(c, seg, c.preroll[(c.ring+k)%len(c.preroll)])
	}
	return nil
}

func (r asyncRecognition) audio(c *channel, seg *segment, pcm []int16) error {
	r.p.write(c, seg, pcm)
	return nil
}

func (r asyncRecognition) end(c *channel, seg *segment, at int64) error {
	return r.p.endAsync(c, seg, at)
}

func (r asyncRecognition) frame(at int64) error { return r.p.drain(at) }

func (r asyncRecognition) flush(ctx context.Context, at int64) error {
	return r.p.awaitAll(ctx, at)
}

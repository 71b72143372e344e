package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/cuecard/cuecard/coach"
)

// The Pipeline's side of Async transcribers. Nothing here waits on the
// network: Streams take audio without blocking, results are drained from a
// bounded channel once per frame and emitted at that frame's media time,
// so AtMS stays non-decreasing and a dead service costs the session
// nothing but its transcripts. Only AwaitFinals (offline) and Flush wait.

// begin hands a new segment to the side's stream, unless too many are
// already waiting for their transcript (the segment is then counted as
// dropped when it ends).
func (p *Pipeline) begin(c *channel, seg *segment) {
	if len(p.inflight) >= p.cfg.MaxOutstanding {
		return
	}
	p.nextID++
	seg.id = p.nextID
	c.rs.Begin(seg.id)
}

func (p *Pipeline) write(c *channel, seg *segment, pcm []int16) {
	if seg.id != 0 {
		c.rs.Write(pcm)
	}
}

func (p *Pipeline) endAsync(c *channel, seg *segment, at int64) error {
	if seg.id == 0 {
		p.stats.Dropped++
		return p.setStatus(at, true, fmt.Sprintf("backlog full: %d segments waiting", p.cfg.MaxOutstanding))
	}
	if err := c.rs.End(); err != nil {
		p.stats.Dropped++
		return p.setStatus(at, true, p.failure(err))
	}
	p.stats.Sent++
	p.inflight[seg.id] = seg
	if p.cfg.AwaitFinals {
		return p.await(seg.id, at)
	}
	return nil
}

// drain emits the results that have arrived, and reports a stall when the
// oldest waiting segment has waited StallMS of media time.
func (p *Pipeline) drain(at int64) error {
	for {
		select {
		case r := <-p.results:
			if err := p.deliver(r, at); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	if p.degraded || p.cfg.StallMS <= 0 || p.cfg.AwaitFinals {
		return nil
	}
	for _, seg := range p.inflight {
		if at-seg.end >= int64(p.cfg.StallMS) {
			return p.setStatus(at, true, fmt.Sprintf("no transcript for %d s: service slow", (at-seg.end)/1000))
		}
	}
	return nil
}

// deliver emits one result at media time at.
func (p *Pipeline) deliver(r Result, at int64) error {
	if !r.Final {
		if p.cfg.AwaitFinals {
			return nil // partials would depend on timing; offline has finals
		}
		seg := p.inflight[r.Seg]
		if seg == nil {
			for _, c := range p.ch {
				if c.cur != nil && c.cur.id == r.Seg {
					seg = c.cur
				}
			}
		}
		if seg == nil || r.Text == "" || r.Text == seg.partText {
			return nil
		}
		seg.partText = r.Text
		end := at
		if seg.ended {
			end = seg.end
		}
		return p.emit(coach.Input{Kind: coach.Partial, AtMS: at, Speaker: seg.sp, StartMS: seg.start, EndMS: end, Text: r.Text})
	}
	seg := p.inflight[r.Seg]
	if seg == nil {
		return nil // lost already (timed out in Flush)
	}
	delete(p.inflight, r.Seg)
	if r.Err != nil {
		p.stats.Failed++
		return p.setStatus(at, true, p.failure(r.Err))
	}
	p.stats.Transcribed++
	if err := p.setStatus(at, false, ""); err != nil {
		return err
	}
	if r.Text == "" {
		return nil
	}
	return p.emit(coach.Input{Kind: coach.Final, AtMS: at, Speaker: seg.sp, StartMS: seg.start, EndMS: seg.end, Text: r.Text})
}

// await waits for segment id's final (AwaitFinals) and emits it at at.
func (p *Pipeline) await(id uint64, at int64) error {
	if r, ok := p.early[id]; ok {
		delete(p.early, id)
		return p.deliver(r, at)
	}
	t := time.NewTimer(p.cfg.AwaitTimeout)
	defer t.Stop()
	for {
		select {
		case r := <-p.results:
			if !r.Final {
				continue
			}
			if r.Seg != id {
				p.early[r.Seg] = r
				continue
			}
			return p.deliver(r, at)
		case <-t.C:
			delete(p.inflight, id)
			p.stats.Failed++
			return p.setStatus(at, true, p.failure(context.DeadlineExceeded))
		}
	}
}

// awaitAll waits, until ctx is done, for every segment still waiting for
// its transcript; those that do not make it are counted as failed.
func (p *Pipeline) awaitAll(ctx context.Context, at int64) error {
	for id, r := range p.early {
		delete(p.early, id)
		if err := p.deliver(r, at); err != nil {
			return err
		}
	}
	for len(p.inflight) > 0 {
		select {
		case r := <-p.results:
			if err := p.deliver(r, at); err != nil {
				return err
			}
		case <-ctx.Done():
			n := len(p.inflight)
			clear(p.inflight)
			p.stats.Failed += n
			return p.setStatus(at, true, fmt.Sprintf("call ended before %d transcripts arrived", n))
		}
	}
	return nil
}

// setStatus emits a Status input when the recognizer's state or the
// reason for its degradation changes.
func (p *Pipeline) setStatus(at int64, degraded bool, reason string) error {
	if degraded == p.degraded && reason == p.reason {
		return nil
	}
	if !degraded && !p.degraded {
		return nil
	}
	p.degraded, p.reason = degraded, reason
	in := coach.Input{Kind: coach.Status, AtMS: at, ASR: "ok", Text: "transcription recovered"}
	if degraded {
		lost := p.stats.Dropped + p.stats.Failed
		in.ASR, in.Text = "degraded", fmt.Sprintf("transcription %s (%d segments without transcript)", reason, lost)
	}
	return p.emit(in)
}

// failure says in a few words why recognition failed, in the backend's
// words when it is a Reasoner.
func (p *Pipeline) failure(err error) string {
	if r, ok := p.tr.(Reasoner); ok {
		return r.Reason(err)
	}
	return "failed: " + err.Error()
}

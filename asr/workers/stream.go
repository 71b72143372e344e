package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/stream"
)

type inKind uint8

const (
	inBegin inKind = iota
	inAudio
	inEnd
)

// input is what the pipeline's goroutine hands to the stream's.
type input struct {
	kind inKind
	id   uint64
	pcm  []int16
}

// reply is a message from a worker (or the server) to an attempt's inbox.
type reply struct {
	att *attempt
	m   *nats.Msg
}

// seg is one segment of the side, kept whole until its transcript comes.
type seg struct {
	id    uint64
	pcm   []int16
	ended bool
	// err, once set, is the segment's result: delivered when it has ended.
	err error
}

// maxWaitFactor times ClientConfig.Timeout is the longest a transcript is
// waited for after the end, however often its worker says it is at it.
const maxWaitFactor = 6

// attempt is one try at a segment, on the worker that accepted it.
type attempt struct {
	sub   *nats.Subscription
	inbox string
	// feed is the worker's subject for the audio; "" until accepted.
	feed    string
	seq     int
	sent    int // samples published
	endSent bool
	endAt   time.Time
	// deadline is for the answer to the start, then (once the end is sent)
	// for the transcript; zero while the segment is still spoken.
	deadline time.Time
}

// state is everything the stream's goroutine owns. queue[0] is the
// segment being recognized; the others wait for its transcript.
type state struct {
	queue   []*seg
	att     *attempt
	tries   int       // workers that took queue[0]
	asked   time.Time // when queue[0] first asked for a worker (this round)
	retryAt time.Time // next start after a busy or no-responders answer
	backoff time.Duration
	why     error // why the last start failed
	adapted []float32
	partial string
}

// Begin implements stream.Stream.
func (s *cliStream) Begin(id uint64) {
	s.open = true
	s.lost = !s.send(input{kind: inBegin, id: id})
}

// Write implements stream.Stream; it never blocks.
func (s *cliStream) Write(pcm []int16) {
	if !s.open || s.lost || len(pcm) == 0 {
		return
	}
	s.lost = !s.send(input{kind: inAudio, pcm: slices.Clone(pcm)})
}

// End implements stream.Stream.
func (s *cliStream) End() error {
	if !s.open {
		return nil
	}
	s.open = false
	if s.lost || !s.send(input{kind: inEnd}) {
		return fmt.Errorf("%w: audio not queued", ErrBacklog)
	}
	return nil
}

// Close implements stream.Stream: the segment in flight is dropped (its
// worker told so) and the stream's goroutine is waited for.
func (s *cliStream) Close() {
	s.once.Do(func() {
		close(s.quit)
		s.wg.Wait()
	})
}

// send queues in without blocking; false if the backlog is full.
func (s *cliStream) send(in input) bool {
	select {
	case s.in <- in:
		return true
	default:
		return false
	}
}

// put queues in, waiting for room until ctx is done.
func (s *cliStream) put(ctx context.Context, in input) error {
	select {
	case s.in <- in:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit hands a result to the pipeline; it gives up when the stream closes.
func (s *cliStream) emit(r stream.Result) {
	select {
	case s.out <- r:
	case <-s.quit:
	}
}

func (s *cliStream) run() {
	defer s.closeAttempt(true)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.progress(time.Now())
		t.Reset(s.wait(time.Now()))
		select {
		case <-s.quit:
			return
		case in := <-s.in:
			s.handleInput(in)
		case r := <-s.ev:
			s.handleReply(r, time.Now())
		case now := <-t.C:
			s.handleTimer(now)
		}
	}
}

// wait is how long until the next deadline.
func (s *cliStream) wait(now time.Time) time.Duration {
	st := &s.st
	next := now.Add(time.Hour)
	if st.att != nil && !st.att.deadline.IsZero() {
		next = st.att.deadline
	} else if st.att == nil && len(st.queue) > 0 && !st.retryAt.IsZero() {
		next = st.retryAt
	}
	return max(next.Sub(now), 0)
}

// progress delivers failed segments, starts attempts and publishes audio.
func (s *cliStream) progress(now time.Time) {
	st := &s.st
	for len(st.queue) > 0 {
		h := st.queue[0]
		if h.err != nil {
			if !h.ended {
				return
			}
			s.closeAttempt(true)
			s.finish(stream.Result{Seg: h.id, Final: true, Err: h.err})
			continue
		}
		switch {
		case st.att == nil && !now.Before(st.retryAt):
			s.startAttempt(h, now)
		case st.att != nil && st.att.feed != "":
			s.flush(h, now)
		}
		return
	}
}

// finish pops the head segment with its result.
func (s *cliStream) finish(r stream.Result) {
	st := &s.st
	st.queue = st.queue[1:]
	st.tries, st.asked, st.retryAt, st.backoff, st.why, st.partial = 0, time.Time{}, time.Time{}, 0, nil, ""
	s.emit(r)
}

// fail makes err g's result, dropping its audio and its attempt.
func (s *cliStream) fail(g *seg, err error) {
	g.err, g.pcm = err, nil
	if len(s.st.queue) > 0 && s.st.queue[0] == g {
		s.closeAttempt(true)
	}
}

func (s *cliStream) handleInput(in input) {
	st := &s.st
	var tail *seg
	if len(st.queue) > 0 {
		tail = st.queue[len(st.queue)-1]
	}
	switch in.kind {
	case inBegin:
		if tail != nil && !tail.ended {
			// The pipeline lost this one's end (backlog full).
			tail.ended = true
			s.fail(tail, fmt.Errorf("%w: segment abandoned", ErrBacklog))
		}
		g := &seg{id: in.id}
		if len(st.queue) > s.c.cfg.MaxQueued {
			g.err = fmt.Errorf("%w: %d segments waiting", ErrBacklog, len(st.queue))
		}
		st.queue = append(st.queue, g)
	case inAudio:
		if tail == nil || tail.ended || tail.err != nil {
			return
		}
		if limit := s.c.cfg.MaxSegmentMS * stream.Rate / 1000; len(tail.pcm)+len(in.pcm) > limit {
			s.fail(tail, fmt.Errorf("%w: over %d ms", ErrTooLarge, s.c.cfg.MaxSegmentMS))
			return
		}
		tail.pcm = append(tail.pcm, in.pcm...)
	case inEnd:
		if tail != nil {
			tail.ended = true
		}
	}
}

// startAttempt asks the queue group for a worker for h.
func (s *cliStream) startAttempt(h *seg, now time.Time) {
	st, nc := &s.st, s.c.nc
	if st.asked.IsZero() {
		st.asked = now
	}
	a := &attempt{inbox: nc.NewInbox(), deadline: now.Add(min(s.c.cfg.AcceptTimeout, s.c.cfg.Timeout))}
	sub, err := nc.Subscribe(a.inbox, func(m *nats.Msg) {
		select {
		case s.ev <- reply{att: a, m: m}:
		default: // a lost answer ends in a timeout and a retry
		}
	})
	if err != nil {
		s.fail(h, fmt.Errorf("%w: %w", ErrNoWorkers, err))
		return
	}
	a.sub = sub
	m := newMsg(segmentSubject(s.c.cfg.Prefix), a.inbox, kindStart)
	m.Header.Set(hdrVersion, version)
	if v := encodeState(st.adapted); v != "" {
		m.Header.Set(hdrAdapt, v)
	}
	st.att = a
	if err := nc.PublishMsg(m); err != nil {
		s.fail(h, fmt.Errorf("%w: %w", ErrNoWorkers, err))
	}
}

// flush publishes h's audio in chunks, and its end once it has ended.
func (s *cliStream) flush(h *seg, now time.Time) {
	a := s.st.att
	chunk := s.c.cfg.ChunkMS * stream.Rate / 1000
	for !a.endSent {
		rest := len(h.pcm) - a.sent
		if rest < chunk && !h.ended {
			return
		}
		n := min(chunk, rest)
		last := h.ended && n == rest
		kind := kindAudio
		if last {
			kind = kindEnd
		}
		// reply=inbox: if the worker is gone, the server says so at once.
		m := newMsg(a.feed, a.inbox, kind)
		m.Header.Set(hdrSeq, strconv.Itoa(a.seq))
		m.Data = encodePCM(make([]byte, 0, 2*n), h.pcm[a.sent:a.sent+n])
		if err := s.c.nc.PublishMsg(m); err != nil {
			s.fail(h, fmt.Errorf("%w: %w", ErrWorkerLost, err))
			return
		}
		a.seq++
		a.sent += n
		if last {
			a.endSent, a.endAt = true, now
			a.deadline = now.Add(s.finalWait())
		}
	}
}

func (s *cliStream) handleReply(r reply, now time.Time) {
	st := &s.st
	a := st.att
	if a == nil || r.att != a || len(st.queue) == 0 {
		return // an earlier attempt's
	}
	h, m := st.queue[0], r.m
	if a.endSent {
		// The worker is alive and at it (a long segment replayed on retry,
		// a loaded machine): wait on, within reason.
		a.deadline = now.Add(s.finalWait())
		if limit := a.endAt.Add(maxWaitFactor * s.finalWait()); limit.Before(a.deadline) {
			a.deadline = limit
		}
	}
	if isNoResponders(m) {
		if a.feed == "" {
			st.why = ErrNoWorkers
			s.retryStart(h, now)
		} else {
			s.retryAttempt(h, now, ErrWorkerLost, "worker gone")
		}
		return
	}
	switch m.Header.Get(hdrKind) {
	case kindBusy:
		st.why = ErrBusy
		s.retryStart(h, now)
	case kindAccept:
		s.handleAccept(h, m)
	case kindPartial:
		if t := string(m.Data); a.feed != "" && t != "" && t != st.partial {
			st.partial = t
			s.emit(stream.Result{Seg: h.id, Text: t})
		}
	case kindFinal:
		if v, err := decodeState(m.Header.Get(hdrAdapt)); err == nil && v != nil {
			st.adapted = v
		}
		s.closeAttempt(false)
		s.finish(stream.Result{Seg: h.id, Text: string(m.Data), Final: true})
	case kindError:
		s.handleError(h, m, now)
	}
}

func (s *cliStream) handleAccept(h *seg, m *nats.Msg) {
	st := &s.st
	if st.att.feed != "" {
		return
	}
	feed := m.Header.Get(hdrFeed)
	if feed == "" {
		s.fail(h, fmt.Errorf("%w: accept without a feed subject", ErrProtocol))
		return
	}
	st.att.feed, st.att.deadline, st.asked = feed, time.Time{}, time.Time{}
	st.tries++
}

func (s *cliStream) handleError(h *seg, m *nats.Msg, now time.Time) {
	code, text := m.Header.Get(hdrCode), string(m.Data)
	switch {
	case code == codeStopping && s.st.att.feed == "":
		s.st.why = ErrBusy
		s.retryStart(h, now)
	case code == codeLost || code == codeStopping:
		s.retryAttempt(h, now, ErrWorkerLost, text)
	case code == codeTooLarge:
		s.fail(h, fmt.Errorf("%w: %s", ErrTooLarge, text))
	case code == codeDecoder:
		s.fail(h, fmt.Errorf("%w: %s", ErrDecoder, text))
	default:
		s.fail(h, fmt.Errorf("%w: %s", ErrProtocol, text))
	}
}

// handleTimer retries an attempt whose deadline passed.
func (s *cliStream) handleTimer(now time.Time) {
	st := &s.st
	a := st.att
	if a == nil || a.deadline.IsZero() || now.Before(a.deadline) || len(st.queue) == 0 {
		return
	}
	h := st.queue[0]
	if a.feed == "" {
		// A worker may have taken it and died before answering: count it
		// as an attempt, and give the next one a window of its own.
		st.tries++
		s.retryAttempt(h, now, ErrTimeout, "no answer to the start")
		return
	}
	s.retryAttempt(h, now, ErrTimeout, fmt.Sprintf("no word from the worker for %s after the end", s.finalWait()))
}

// finalWait is how long the worker of an ended segment may say nothing:
// Timeout, and at least two of its heartbeats.
func (s *cliStream) finalWait() time.Duration {
	return max(s.c.cfg.Timeout, 2*beatEvery)
}

// retryStart asks again, a little later, for a worker for h, or gives up
// when h has waited Timeout.
func (s *cliStream) retryStart(h *seg, now time.Time) {
	st := &s.st
	s.closeAttempt(false)
	limit := s.c.cfg.Timeout
	if errors.Is(st.why, ErrBusy) {
		limit = s.c.cfg.QueueTimeout
	}
	if now.Sub(st.asked) > limit {
		s.fail(h, fmt.Errorf("%w: none took the segment on %s within %s", st.why, segmentSubject(s.c.cfg.Prefix), limit))
		return
	}
	st.backoff = min(max(2*st.backoff, 2*time.Millisecond), 100*time.Millisecond)
	st.retryAt = now.Add(st.backoff)
}

// retryAttempt replays h on another worker at once, unless MaxAttempts
// workers have taken it already.
func (s *cliStream) retryAttempt(h *seg, now time.Time, why error, text string) {
	st := &s.st
	s.closeAttempt(true)
	if st.tries >= s.c.cfg.MaxAttempts {
		s.fail(h, fmt.Errorf("%w: %s (%d attempts)", why, text, st.tries))
		return
	}
	st.why, st.asked, st.retryAt, st.backoff = why, time.Time{}, now, 0
}

// closeAttempt drops the current attempt; cancel tells its worker.
func (s *cliStream) closeAttempt(cancel bool) {
	a := s.st.att
	if a == nil {
		return
	}
	s.st.att = nil
	if cancel && a.feed != "" && !a.endSent {
		m := newMsg(a.feed, "", kindCancel)
		m.Header.Set(hdrSeq, strconv.Itoa(a.seq))
		s.c.nc.PublishMsg(m)
	}
	if a.sub != nil {
		a.sub.Unsubscribe()
	}
}

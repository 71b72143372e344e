package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/cuecard/cuecard/stream"
)

// Config tunes a worker (Serve, Listen).
type Config struct {
	// Prefix starts every subject ("cuecard": cuecard.asr.segment);
	// clients and workers of one cluster share it, tests use their own.
	Prefix string
	// Decoders is how many segments the worker decodes at once; 0 means
	// the Transcriber's pool size when it has one (Size() int, as the
	// embedded recognizer does), else runtime.NumCPU(). More segments than
	// the Transcriber's pool are never taken: a worker with no free
	// decoder answers busy and the client asks again.
	Decoders int
	// MaxSegmentMS bounds one segment's audio; a longer one is refused.
	MaxSegmentMS int
	// PartialMS of audio pass between two partial transcripts.
	PartialMS int
	// IdleTimeout ends a segment whose client has sent nothing for that
	// long (a client that died), giving its decoder back.
	IdleTimeout time.Duration
	// ID names the worker in logs and answers; "" picks a random one.
	ID string
	// Log receives the worker's warnings; nil discards them.
	Log *slog.Logger
}

// DefaultConfig returns the defaults: prefix "cuecard", segments up to
// two minutes, partials every 300 ms of audio, 30 s idle timeout.
func DefaultConfig() Config {
	return Config{Prefix: "cuecard", MaxSegmentMS: 120000, PartialMS: 300, IdleTimeout: 30 * time.Second}
}

// sizer is implemented by recognizer pools that know their size.
type sizer interface{ Size() int }

func (c Config) withDefaults(tr stream.Transcriber) Config {
	d := DefaultConfig()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Decoders <= 0 {
		c.Decoders = runtime.NumCPU()
		if s, ok := tr.(sizer); ok && s.Size() > 0 {
			c.Decoders = s.Size()
		}
	}
	if c.MaxSegmentMS <= 0 {
		c.MaxSegmentMS = d.MaxSegmentMS
	}
	if c.PartialMS <= 0 {
		c.PartialMS = d.PartialMS
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.ID == "" {
		c.ID = nuid.Next()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Worker decodes segments for any client of its prefix. Listen makes
// one; Run serves until its context ends.
type Worker struct {
	nc    *nats.Conn
	cfg   Config
	tr    stream.Transcriber
	sub   *nats.Subscription
	slots chan struct{}
	stop  chan struct{}

	// mu guards stopping, the WaitGroup's Add against Run's Wait, and
	// live, the segments being decoded (for the heartbeat).
	mu       sync.Mutex
	stopping bool
	live     map[*job]struct{}
	jobs     sync.WaitGroup
	beat     sync.WaitGroup
	busy     atomic.Int32
}

// Serve runs a worker with tr's decoders until ctx is done or nc closes:
// Listen, then Run. It returns nil when ctx ends it.
func Serve(ctx context.Context, nc *nats.Conn, cfg Config, tr stream.Transcriber) error {
	w, err := Listen(nc, cfg, tr)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// Listen joins the workers' queue group on nc and returns once the
// server knows the subscription, so a client's next segment may land
// here. Segments are decoded from then on, each on a goroutine the
// Worker owns; Run must be called to stop them.
func Listen(nc *nats.Conn, cfg Config, tr stream.Transcriber) (*Worker, error) {
	cfg = cfg.withDefaults(tr)
	w := &Worker{nc: nc, cfg: cfg, tr: tr, slots: make(chan struct{}, cfg.Decoders), stop: make(chan struct{}),
		live: map[*job]struct{}{}}
	sub, err := nc.QueueSubscribe(segmentSubject(cfg.Prefix), queueGroup(cfg.Prefix), w.handleStart)
	if err != nil {
		return nil, fmt.Errorf("workers: subscribe: %w", err)
	}
	w.sub = sub
	if err := nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("workers: subscribe: %w", err)
	}
	w.beat.Go(w.heartbeat)
	return w, nil
}

// heartbeat tells the client of every segment being decoded, every
// beatEvery until Run stops, that its worker is at it.
func (w *Worker) heartbeat() {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		inboxes := make([][2]string, 0, len(w.live))
		for j := range w.live {
			inboxes = append(inboxes, [2]string{j.inbox, j.sub.Subject})
		}
		w.mu.Unlock()
		for _, in := range inboxes {
			w.answer(in[0], newMsg("", in[1], kindProbe))
		}
	}
}

// ID returns the worker's name.
func (w *Worker) ID() string { return w.cfg.ID }

// Size returns how many segments the worker decodes at once.
func (w *Worker) Size() int { return cap(w.slots) }

// Busy returns how many segments it is decoding now.
func (w *Worker) Busy() int { return int(w.busy.Load()) }

// Run blocks until ctx is done or the connection closes, then stops
// taking segments, ends those in flight (their clients retry them on
// another worker) and waits for their goroutines. It returns nil when ctx
// ended it, an error when the connection closed.
func (w *Worker) Run(ctx context.Context) error {
	closed := w.sub.StatusChanged(nats.SubscriptionClosed)
	var err error
	select {
	case <-ctx.Done():
	case <-closed:
		err = errors.New("workers: nats connection closed")
	}
	w.sub.Unsubscribe()
	w.mu.Lock()
	w.stopping = true
	close(w.stop)
	w.mu.Unlock()
	w.jobs.Wait()
	w.beat.Wait()
	return err
}

// beatEvery is how often a worker tells the client of each segment it
// holds that it is still at it (the client then waits on, however slow
// the decoding), and learns from a no-responders answer that a client
// went away without a word.
const beatEvery = time.Second

// job is one segment on one decoder.
type job struct {
	inbox   string
	utt     stream.Utterance
	sub     *nats.Subscription
	in      chan *nats.Msg
	next    int // sequence number of the next audio message
	samples int
	partAt  int
	part    string
}

// handleStart answers a start: accept with a decoder of its own, or busy.
// It runs on the subscription's goroutine, so it does nothing slow.
func (w *Worker) handleStart(m *nats.Msg) {
	if m.Reply == "" || m.Header.Get(hdrKind) != kindStart {
		return
	}
	if v := m.Header.Get(hdrVersion); v != version {
		w.answer(m.Reply, errorMsg(codeProtocol, fmt.Sprintf("protocol version %q, want %q", v, version)))
		return
	}
	state, err := decodeState(m.Header.Get(hdrAdapt))
	if err != nil {
		w.answer(m.Reply, errorMsg(codeProtocol, err.Error()))
		return
	}
	select {
	case w.slots <- struct{}{}:
	default:
		w.answer(m.Reply, newMsg("", "", kindBusy))
		return
	}
	j, err := w.open(m.Reply, state)
	if err != nil {
		<-w.slots
		w.answer(m.Reply, newMsg("", "", kindBusy))
		return
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		j.utt.Abort()
		j.sub.Unsubscribe()
		<-w.slots
		w.answer(m.Reply, errorMsg(codeStopping, "worker stopping"))
		return
	}
	w.busy.Add(1)
	w.live[j] = struct{}{}
	w.jobs.Go(func() { w.run(j) })
	w.mu.Unlock()
	// reply=feed: if the client is gone by now, the server tells the job.
	acc := newMsg("", j.sub.Subject, kindAccept)
	acc.Header.Set(hdrFeed, j.sub.Subject)
	acc.Header.Set(hdrWorker, w.cfg.ID)
	w.answer(j.inbox, acc)
}

// open takes a decoder without waiting and subscribes the segment's feed.
func (w *Worker) open(inbox string, state []float32) (*job, error) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	u, err := w.tr.Start(cancelled)
	if err != nil {
		return nil, err
	}
	if a, ok := u.(stream.Adapter); ok {
		a.Adapt(state)
	}
	// The feed holds the whole segment if the decoder falls behind, in
	// messages of 20 ms or more.
	j := &job{inbox: inbox, utt: u, in: make(chan *nats.Msg, w.cfg.MaxSegmentMS/20+8)}
	j.sub, err = w.nc.Subscribe(w.nc.NewInbox(), func(m *nats.Msg) {
		select {
		case j.in <- m:
		default: // the gap in the sequence numbers tells the job
		}
	})
	if err != nil {
		u.Abort()
		return nil, err
	}
	return j, nil
}

// run decodes one segment's audio until its end, a cancel, an error, the
// idle timeout or the worker's stop.
func (w *Worker) run(j *job) {
	defer func() {
		j.sub.Unsubscribe()
		w.mu.Lock()
		delete(w.live, j)
		w.mu.Unlock()
		w.busy.Add(-1)
		<-w.slots
	}()
	idle := time.NewTimer(w.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-w.stop:
			j.utt.Abort()
			w.answer(j.inbox, errorMsg(codeStopping, "worker stopping"))
			return
		case <-idle.C:
			j.utt.Abort()
			w.cfg.Log.Warn("segment abandoned by its client", "after", w.cfg.IdleTimeout)
			return
		case m := <-j.in:
			idle.Reset(w.cfg.IdleTimeout)
			if w.handle(j, m) {
				return
			}
		}
	}
}

// handle feeds one message to the decoder; true when the segment is over
// (its utterance finished or aborted, its answer sent).
func (w *Worker) handle(j *job, m *nats.Msg) bool {
	kind := m.Header.Get(hdrKind)
	if kind == kindCancel || isNoResponders(m) {
		// Cancelled, or the client's inbox is gone (a no-responders status
		// to an answer of ours).
		j.utt.Abort()
		return true
	}
	fail := func(code, msg string) bool {
		j.utt.Abort()
		w.answer(j.inbox, errorMsg(code, msg))
		return true
	}
	if kind != kindAudio && kind != kindEnd {
		return fail(codeProtocol, fmt.Sprintf("unexpected %q message", kind))
	}
	if n, ok := seqOf(m); !ok || n != j.next {
		return fail(codeLost, fmt.Sprintf("audio message %d missing", j.next))
	}
	j.next++
	pcm, err := decodePCM(m.Data)
	if err != nil {
		return fail(codeProtocol, err.Error())
	}
	j.samples += len(pcm)
	if limit := w.cfg.MaxSegmentMS * stream.Rate / 1000; j.samples > limit {
		return fail(codeTooLarge, fmt.Sprintf("segment over %d ms", w.cfg.MaxSegmentMS))
	}
	if len(pcm) > 0 {
		if err := j.utt.Write(pcm); err != nil {
			return fail(codeDecoder, err.Error())
		}
	}
	if kind == kindEnd {
		w.finish(j)
		return true
	}
	if j.samples-j.partAt >= w.cfg.PartialMS*stream.Rate/1000 {
		j.partAt = j.samples
		if h, err := j.utt.Partial(); err == nil && h != "" && h != j.part {
			j.part = h
			p := newMsg("", j.sub.Subject, kindPartial)
			p.Data = []byte(h)
			w.answer(j.inbox, p)
		}
	}
	return false
}

// finish ends the utterance and sends its transcript, with the
// recognizer's adaptation state for the side's next segment.
func (w *Worker) finish(j *job) {
	text, err := j.utt.Finish()
	if err != nil {
		w.answer(j.inbox, errorMsg(codeDecoder, err.Error()))
		return
	}
	f := newMsg("", "", kindFinal)
	f.Data = []byte(text)
	if a, ok := j.utt.(stream.Adapter); ok {
		if s := encodeState(a.Adapted()); s != "" {
			f.Header.Set(hdrAdapt, s)
		}
	}
	w.answer(j.inbox, f)
}

// answer publishes m to a client's inbox; a failure (the connection is
// gone) leaves the client to time out and retry.
func (w *Worker) answer(inbox string, m *nats.Msg) {
	m.Subject = inbox
	m.Header.Set(hdrWorker, w.cfg.ID)
	if err := w.nc.PublishMsg(m); err != nil {
		w.cfg.Log.Warn("answer not sent", "err", err)
	}
}

func errorMsg(code, text string) *nats.Msg {
	m := newMsg("", "", kindError)
	m.Header.Set(hdrCode, code)
	m.Data = []byte(text)
	return m
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream shares jobs between nodes through a NATS JetStream stream
// with work-queue retention (a job is deleted once acknowledged) and one
// durable pull consumer that every node's workers fetch from. A job whose
// node dies goes to another node once AckWait passes without a heartbeat.
type JetStream struct {
	cfg      Config
	log      *slog.Logger
	js       jetstream.JetStream
	stream   string
	subject  string // prefix.jobs
	mu       sync.Mutex
	handlers map[string]Handler
	started  bool
	closed   bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

var _ Queue = (*JetStream)(nil)

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// NewJetStream creates (or updates) the stream and the consumer named
// after cfg.Prefix on nc and returns the queue; the caller keeps nc and
// closes it after Close. log may be nil.
func NewJetStream(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*JetStream, error) {
	cfg = cfg.withDefaults()
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("jobs: prefix %q: letters, digits, - and _ only", cfg.Prefix)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jobs: jetstream: %w", err)
	}
	q := &JetStream{cfg: cfg, log: log, js: js, stream: cfg.Prefix + "_JOBS",
		subject: cfg.Prefix + ".jobs", handlers: map[string]Handler{}}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       q.stream,
		Subjects:   []string{q.subject + ".>"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", q.stream, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, q.stream, jetstream.ConsumerConfig{
		Durable:       "workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxAttempts,
		FilterSubject: q.subject + ".>",
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: consumer: %w", err)
	}
	return q, nil
}

// Handle implements Queue.
func (q *JetStream) Handle(kind string, h Handler) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return ErrStarted
	}
	q.handlers[kind] = h
	return nil
}

// Start implements Queue.
func (q *JetStream) Start() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.started {
		return ErrStarted
	}
	cons, err := q.js.Consumer(context.Background(), q.stream, "workers")
	if err != nil {
		return fmt.Errorf("jobs: consumer: %w", err)
	}
	q.started = true
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	for range q.cfg.Workers {
		q.wg.Go(func() { q.work(ctx, cons) })
	}
	return nil
}

// Enqueue implements Queue. The job id is also the message id, so a
// retried publish within ten minutes is not stored twice.
func (q *JetStream) Enqueue(ctx context.Context, kind string, payload []byte) (string, error) {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if !validPrefix.MatchString(kind) {
		return "", fmt.Errorf("jobs: kind %q: letters, digits, - and _ only", kind)
	}
	id := newID()
	if _, err := q.js.Publish(ctx, q.subject+"."+kind, payload, jetstream.WithMsgID(id)); err != nil {
		return "", fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	return id, nil
}

// work fetches one job at a time until ctx ends.
func (q *JetStream) work(ctx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				q.log.Warn("fetch job", "err", err)
				q.pause(ctx, time.Second)
			}
			continue
		}
		q.run(ctx, msg)
	}
}

func (q *JetStream) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// run runs one delivered job, with heartbeats while its handler works,
// and acknowledges, retries or gives it up.
func (q *JetStream) run(ctx context.Context, msg jetstream.Msg) {
	j := Job{Kind: msg.Subject()[len(q.subject)+1:], Payload: msg.Data(), ID: msg.Headers().Get(jetstream.MsgIDHeader)}
	if md, err := msg.Metadata(); err == nil {
		j.Attempt = int(md.NumDelivered)
	}
	j.Final = j.Attempt >= q.cfg.MaxAttempts
	q.mu.Lock()
	h := q.handlers[j.Kind]
	q.mu.Unlock()
	if h == nil {
		// Another node may know the kind (a rolling upgrade).
		_ = msg.NakWithDelay(q.cfg.Backoff)
		return
	}
	err := q.withHeartbeat(ctx, msg, func() error { return h(ctx, j) })
	switch {
	case err == nil:
		// Not ctx: a job done just as the queue closes is still acked.
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		aerr := msg.DoubleAck(actx)
		cancel()
		if aerr != nil {
			q.log.Warn("ack job", "kind", j.Kind, "id", j.ID, "err", aerr)
		}
	case ctx.Err() != nil:
		// Closing: leave it unacknowledged, for another node.
	case j.Final || IsPermanent(err):
		q.log.Error("job given up", "kind", j.Kind, "id", j.ID, "attempt", j.Attempt, "err", err)
		if q.cfg.OnDead != nil {
			q.cfg.OnDead(j, err)
		}
		_ = msg.TermWithReason(err.Error())
	default:
		q.log.Warn("job failed, retrying", "kind", j.Kind, "id", j.ID, "attempt", j.Attempt, "err", err)
		_ = msg.NakWithDelay(q.cfg.Backoff)
	}
}

// withHeartbeat runs f, telling the server every AckWait/3 that the job
// is still in progress, so a long analysis is not handed to another node.
func (q *JetStream) withHeartbeat(ctx context.Context, msg jetstream.Msg, f func() error) error {
	hbCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(q.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					q.log.Warn("job heartbeat", "err", err)
				}
			}
		}
	})
	defer wg.Wait()
	defer stop()
	return f()
}

// Durable implements Queue: jobs are stored by the NATS server.
func (q *JetStream) Durable() bool { return true }

// Close implements Queue. Running handlers see their context end; their
// jobs go to another node (or this one, restarted) after AckWait.
func (q *JetStream) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	cancel := q.cancel
	q.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	q.wg.Wait()
	return nil
}

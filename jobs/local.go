package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// Local runs jobs in goroutines of this process: the single-node engine.
// Its jobs live in memory only, so the code that enqueues them must
// recover unfinished ones at start (as the server does for uploads).
type Local struct {
	cfg      Config
	log      *slog.Logger
	mu       sync.Mutex
	handlers map[string]Handler
	started  bool
	closed   bool
	q        chan Job
	stop     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

var _ Queue = (*Local)(nil)

// NewLocal returns an in-process queue; log may be nil.
func NewLocal(cfg Config, log *slog.Logger) *Local {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Local{cfg: cfg, log: log, handlers: map[string]Handler{},
		q: make(chan Job, cfg.Buffer), stop: make(chan struct{})}
}

// Handle implements Queue.
func (l *Local) Handle(kind string, h Handler) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return ErrStarted
	}
	l.handlers[kind] = h
	return nil
}

// Start implements Queue.
func (l *Local) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.started {
		return ErrStarted
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for range l.cfg.Workers {
		l.wg.Go(func() { l.work(ctx) })
	}
	return nil
}

// Enqueue implements Queue. It blocks while Buffer jobs wait.
func (l *Local) Enqueue(ctx context.Context, kind string, payload []byte) (string, error) {
	j := Job{ID: newID(), Kind: kind, Payload: payload}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	select {
	case l.q <- j:
		return j.ID, nil
	case <-l.stop:
		return "", ErrClosed
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (l *Local) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-l.q:
			l.run(ctx, j)
		}
	}
}

// run tries j until it succeeds, is given up, or the queue closes.
func (l *Local) run(ctx context.Context, j Job) {
	l.mu.Lock()
	h := l.handlers[j.Kind]
	l.mu.Unlock()
	for j.Attempt = 1; ; j.Attempt++ {
		j.Final = j.Attempt >= l.cfg.MaxAttempts
		err := ErrNoHandler
		if h != nil {
			err = h(ctx, j)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		if j.Final || IsPermanent(err) || h == nil {
			l.dead(j, err)
			return
		}
		l.log.Warn("job failed, retrying", "kind", j.Kind, "id", j.ID, "attempt", j.Attempt, "err", err)
		t := time.NewTimer(l.cfg.Backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (l *Local) dead(j Job, err error) {
	l.log.Error("job given up", "kind", j.Kind, "id", j.ID, "attempt", j.Attempt, "err", err)
	if l.cfg.OnDead != nil {
		l.cfg.OnDead(j, err)
	}
}

// Durable implements Queue: Local's jobs die with the process.
func (l *Local) Durable() bool { return false }

// Close implements Queue. Jobs still waiting are dropped.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stop)
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.wg.Wait()
	return nil
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Package remote calls outside services: OpenAI-compatible transcription
// (per segment over HTTP, or streaming over the Realtime WebSocket) and
// the Guard (concurrency limit, retries, circuit breaker) that every remote
// call goes through. It has no cgo; llm uses it for chat completions.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// StatusError is an HTTP error answer of a remote service.
type StatusError struct {
	Code int
	// RetryAfter is the wait the service asked for (Retry-After or
	// retry-after-ms), 0 if none.
	RetryAfter time.Duration
	Err        error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// Resilience bounds what a remote backend may cost and how it rides out a
// slow, rate-limiting or failing service.
type Resilience struct {
	// MaxConcurrent requests run at once, over all sessions.
	MaxConcurrent int
	// MaxQueued requests may wait for a slot; more are dropped at once
	// with ErrQueueFull (and counted).
	MaxQueued int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// MaxAttempts per request, the first included.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff with full
	// jitter between attempts.
	BaseBackoff, MaxBackoff time.Duration
	// Budget bounds a request from its submission, waits and retries
	// included; a Retry-After beyond it fails the request at once.
	Budget time.Duration
	// BreakerFailures consecutive failed attempts open the circuit for
	// BreakerCooldown; then one probe decides whether it closes again.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// DefaultResilience returns limits that suit a hosted service.
func DefaultResilience() Resilience {
	return Resilience{
		MaxConcurrent: 8, MaxQueued: 32, Timeout: 15 * time.Second, MaxAttempts: 3,
		BaseBackoff: 250 * time.Millisecond, MaxBackoff: 4 * time.Second, Budget: 30 * time.Second,
		BreakerFailures: 5, BreakerCooldown: 15 * time.Second,
	}
}

func (r Resilience) withDefaults() Resilience {
	d := DefaultResilience()
	if r.MaxConcurrent <= 0 {
		r.MaxConcurrent = d.MaxConcurrent
	}
	if r.MaxQueued < 0 {
		r.MaxQueued = 0
	}
	if r.Timeout <= 0 {
		r.Timeout = d.Timeout
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 1
	}
	if r.BaseBackoff <= 0 {
		r.BaseBackoff = d.BaseBackoff
	}
	if r.MaxBackoff < r.BaseBackoff {
		r.MaxBackoff = r.BaseBackoff
	}
	if r.Budget <= 0 {
		r.Budget = d.Budget
	}
	if r.BreakerFailures <= 0 {
		r.BreakerFailures = d.BreakerFailures
	}
	if r.BreakerCooldown <= 0 {
		r.BreakerCooldown = d.BreakerCooldown
	}
	return r
}

// GuardStats counts what a Guard did; every request ends in exactly one of
// Succeeded, Failed or Dropped.
type GuardStats struct {
	Requests, Attempts, Retries int64
	Succeeded, Failed, Dropped  int64
	InFlight, Queued            int64
	CircuitOpen                 bool
	LastError                   string
}

// Guard runs the requests of one remote backend under its Resilience:
// bounded concurrency and queue, per-attempt timeouts, retries with backoff
// and jitter honouring Retry-After, and a circuit breaker. One Guard is
// shared by every session using the backend; it is safe for concurrent use.
type Guard struct {
	cfg   Resilience
	slots chan struct{}

	mu        sync.Mutex
	queued    int
	fails     int
	openUntil time.Time
	notBefore time.Time // a Retry-After applies to every request
	probing   bool
	lastErr   string

	requests, attempts, retries, ok, failed, dropped atomic.Int64
}

// NewGuard returns a Guard for cfg (zero fields take their defaults).
func NewGuard(cfg Resilience) *Guard {
	cfg = cfg.withDefaults()
	return &Guard{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}
}

// Config returns the guard's limits.
func (g *Guard) Config() Resilience { return g.cfg }

// Stats returns the guard's counters.
func (g *Guard) Stats() GuardStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GuardStats{
		Requests: g.requests.Load(), Attempts: g.attempts.Load(), Retries: g.retries.Load(),
		Succeeded: g.ok.Load(), Failed: g.failed.Load(), Dropped: g.dropped.Load(),
		InFlight: int64(len(g.slots)), Queued: int64(g.queued),
		CircuitOpen: time.Now().Before(g.openUntil), LastError: g.lastErr,
	}
}

// Admit reports, without blocking, why new work would be refused right now
// (ErrCircuitOpen, ErrQueueFull) or nil. A refusal is counted as dropped.
func (g *Guard) Admit() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.openLocked(time.Now()); err != nil {
		g.requests.Add(1)
		g.dropped.Add(1)
		return err
	}
	return nil
}

func (g *Guard) openLocked(now time.Time) error {
	if now.Before(g.openUntil) || g.probing {
		if g.lastErr != "" {
			return fmt.Errorf("%w: %s", ErrCircuitOpen, g.lastErr)
		}
		return ErrCircuitOpen
	}
	return nil
}

// Do runs fn under the guard and returns its last error. It blocks (waiting
// for a slot, for backoff, for fn), so it runs on a backend's worker
// goroutine, never on a session's. fn gets a context bounded by Timeout;
// errors it returns are retried when they are transient (HTTP 408, 429, 5xx,
// network errors, timeouts).
func (g *Guard) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	g.requests.Add(1)
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Budget)
	defer cancel()
	if err := g.acquire(ctx); err != nil {
		g.dropped.Add(1)
		return err
	}
	defer func() { <-g.slots }()
	var err error
	for attempt := 0; attempt < g.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			g.retries.Add(1)
			if werr := g.backoff(ctx, attempt, err); werr != nil {
				break
			}
		}
		if oerr := g.enter(); oerr != nil {
			if err == nil {
				err = oerr
			}
			break
		}
		g.attempts.Add(1)
		actx, acancel := context.WithTimeout(ctx, g.cfg.Timeout)
		err = fn(actx)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		acancel()
		if err == nil {
			g.success()
			g.ok.Add(1)
			return nil
		}
		if timedOut && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		g.failure(err)
		if !Retryable(err) || ctx.Err() != nil {
			break
		}
	}
	g.failed.Add(1)
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// acquire takes a concurrency slot, waiting in the bounded queue.
func (g *Guard) acquire(ctx context.Context) error {
	g.mu.Lock()
	if err := g.openLocked(time.Now()); err != nil {
		g.mu.Unlock()
		return err
	}
	select {
	case g.slots <- struct{}{}:
		g.mu.Unlock()
		return nil
	default:
	}
	if g.queued >= g.cfg.MaxQueued {
		g.mu.Unlock()
		return ErrQueueFull
	}
	g.queued++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.queued--
		g.mu.Unlock()
	}()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w waiting for a free connection: %w", ErrTimeout, ctx.Err())
	}
}

// enter checks the breaker before an attempt; after the cooldown exactly one
// attempt probes the service.
func (g *Guard) enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if now.Before(g.openUntil) || g.probing {
		return g.openLocked(now)
	}
	if g.fails >= g.cfg.BreakerFailures {
		g.probing = true
	}
	return nil
}

func (g *Guard) success() {
	g.mu.Lock()
	g.fails, g.probing, g.lastErr = 0, false, ""
	g.mu.Unlock()
}

func (g *Guard) failure(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.fails++
	g.lastErr = Reason(err)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		if t := now.Add(se.RetryAfter); t.After(g.notBefore) {
			g.notBefore = t
		}
	}
	if g.probing || g.fails >= g.cfg.BreakerFailures {
		g.probing = false
		g.openUntil = now.Add(g.cfg.BreakerCooldown)
		if g.notBefore.After(g.openUntil) {
			g.openUntil = g.notBefore
		}
	}
}

// backoff waits before attempt (1-based retries): full jitter over an
// exponential ceiling, or at least the Retry-After the service asked for.
// It fails at once if that wait would overrun the budget.
func (g *Guard) backoff(ctx context.Context, attempt int, last error) error {
	ceil := g.cfg.BaseBackoff << min(attempt-1, 20)
	if ceil > g.cfg.MaxBackoff || ceil <= 0 {
		ceil = g.cfg.MaxBackoff
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	g.mu.Lock()
	if w := time.Until(g.notBefore); w > d {
		d = w + time.Duration(rand.Int64N(int64(w)/10+1))
	}
	g.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("%w: retry wait beyond budget", ErrTimeout)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retryable reports whether err is worth another attempt: HTTP 408, 429 and
// 5xx answers, timeouts and network errors.
func Retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	if errors.Is(err, ErrMalformed) || errors.Is(err, ErrCircuitOpen) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// Reason says in a few words why a remote request failed, for status
// events and logs; it never contains credentials or request bodies.
func Reason(err error) string {
	var se *StatusError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		switch {
		case se.Code == http.StatusTooManyRequests:
			return "rate-limited by the service (HTTP 429)"
		case se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden:
			return fmt.Sprintf("service refused the credentials (HTTP %d)", se.Code)
		case se.Code >= 500:
			return fmt.Sprintf("service error (HTTP %d)", se.Code)
		}
		return fmt.Sprintf("service rejected the request (HTTP %d)", se.Code)
	case errors.Is(err, ErrCircuitOpen):
		return "service unavailable after repeated failures"
	case errors.Is(err, ErrQueueFull):
		return "too many segments waiting for the service"
	case errors.Is(err, ErrOverflow):
		return "audio backlog to the service full"
	case errors.Is(err, ErrMalformed):
		return "service answered malformed JSON"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "service timed out"
	case errors.Is(err, ErrRemoteDisabled):
		return ErrRemoteDisabled.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "cannot reach the service"
	}
	return "service failed"
}

// retryAfter reads Retry-After (seconds or an HTTP date) or the
// retry-after-ms extension of an answer; 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// answerKey is the context key of the *httpAnswer a request records into.
type answerKey struct{}

// httpAnswer is what the recording doer saw of the last answer: go-openai's
// errors carry the status code but not the headers.
type httpAnswer struct {
	code       int
	retryAfter time.Duration
}

// recordingDoer is an http.Client wrapper that records status and
// Retry-After into the request context's *httpAnswer.
type recordingDoer struct{ c *http.Client }

func (d recordingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if a, ok := req.Context().Value(answerKey{}).(*httpAnswer); ok && resp != nil {
		a.code = resp.StatusCode
		a.retryAfter = retryAfter(resp.Header, time.Now())
	}
	return resp, err
}

// WithAnswer returns a context in which a client built by NewOpenAIClient
// records the HTTP status and Retry-After of its answer, and a function that
// turns an error of that request into a *StatusError carrying them.
func WithAnswer(ctx context.Context) (context.Context, func(error) error) {
	a := &httpAnswer{}
	return context.WithValue(ctx, answerKey{}, a), func(err error) error {
		if err == nil || a.code == 0 {
			return err
		}
		if a.code < 300 && ctx.Err() == nil {
			// The service said yes but its body did not decode.
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if a.code < 400 {
			return err
		}
		return &StatusError{Code: a.code, RetryAfter: a.retryAfter, Err: err}
	}
}

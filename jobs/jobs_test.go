package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/cluster/clustertest"
	"github.com/cuecard/cuecard/jobs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// natsURL returns the test NATS server, skipping when it is unreachable
// (failing under CI).
func natsConn(tb testing.TB) *nats.Conn {
	tb.Helper()
	return clustertest.Conn(tb)
}

// prefix returns a prefix unique to the test and deletes its stream at
// the end.
func prefix(tb testing.TB, nc *nats.Conn) string {
	tb.Helper()
	p := fmt.Sprintf("t%d_%s", time.Now().UnixNano(), strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name()))
	tb.Cleanup(func() {
		js, _ := jetstream.New(nc)
		_ = js.DeleteStream(context.Background(), p+"_JOBS")
	})
	return p
}

func fast(c jobs.Config) jobs.Config {
	c.Backoff = 10 * time.Millisecond
	return c
}

// engine builds a queue of one engine for the shared tests.
type engine func(tb testing.TB, cfg jobs.Config) jobs.Queue

func engines() map[string]engine {
	return map[string]engine{
		"local": func(tb testing.TB, cfg jobs.Config) jobs.Queue {
			return jobs.NewLocal(fast(cfg), nil)
		},
		"jetstream": func(tb testing.TB, cfg jobs.Config) jobs.Queue {
			tb.Helper()
			nc := natsConn(tb)
			cfg.Prefix = prefix(tb, nc)
			q, err := jobs.NewJetStream(context.Background(), nc, fast(cfg), nil)
			if err != nil {
				tb.Fatal(err)
			}
			return q
		},
	}
}

func wait(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

func TestQueue(t *testing.T) {
	for name, mk := range engines() {
		t.Run(name, func(t *testing.T) {
			t.Run("RunsOnce", func(t *testing.T) { testRunsOnce(t, mk) })
			t.Run("RetriesThenSucceeds", func(t *testing.T) { testRetries(t, mk) })
			t.Run("PoisonStopsAtMaxAttempts", func(t *testing.T) { testPoison(t, mk) })
			t.Run("Permanent", func(t *testing.T) { testPermanent(t, mk) })
		})
	}
}

func testRunsOnce(t *testing.T, mk engine) {
	q := mk(t, jobs.Config{Workers: 3})
	defer q.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	if err := q.Handle("analyze", func(_ context.Context, j jobs.Job) error {
		mu.Lock()
		defer mu.Unlock()
		seen[string(j.Payload)]++
		if len(seen) == 10 {
			close(done)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	if err := q.Handle("late", nil); !errors.Is(err, jobs.ErrStarted) {
		t.Errorf("Handle after Start: %v", err)
	}
	for i := range 10 {
		if _, err := q.Enqueue(context.Background(), "analyze", fmt.Appendf(nil, "u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, done, "ten jobs")
	q.Close()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("job %s ran %d times", k, n)
		}
	}
	if _, err := q.Enqueue(context.Background(), "analyze", nil); !errors.Is(err, jobs.ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
}

func testRetries(t *testing.T, mk engine) {
	q := mk(t, jobs.Config{MaxAttempts: 4})
	defer q.Close()
	done := make(chan struct{})
	var attempts []int
	q.Handle("flaky", func(_ context.Context, j jobs.Job) error {
		attempts = append(attempts, j.Attempt)
		if j.Attempt < 3 {
			return errors.New("transient")
		}
		close(done)
		return nil
	})
	q.Start()
	q.Enqueue(context.Background(), "flaky", nil)
	wait(t, done, "third attempt")
	q.Close()
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Errorf("attempts %v, want [1 2 3]", attempts)
	}
}

func testPoison(t *testing.T, mk engine) {
	dead := make(chan struct{})
	var deadErr error
	var deadJob jobs.Job
	q := mk(t, jobs.Config{MaxAttempts: 3, OnDead: func(j jobs.Job, err error) {
		deadJob, deadErr = j, err
		close(dead)
	}})
	defer q.Close()
	var runs atomic.Int32
	var finals []bool
	q.Handle("poison", func(_ context.Context, j jobs.Job) error {
		runs.Add(1)
		finals = append(finals, j.Final)
		return fmt.Errorf("cannot decode upload (attempt %d)", j.Attempt)
	})
	q.Start()
	q.Enqueue(context.Background(), "poison", []byte("x"))
	wait(t, dead, "the job to be given up")
	q.Close()
	if runs.Load() != 3 || deadJob.Attempt != 3 || !deadJob.Final {
		t.Errorf("runs %d, dead job %+v", runs.Load(), deadJob)
	}
	if deadErr == nil || !strings.Contains(deadErr.Error(), "cannot decode upload (attempt 3)") {
		t.Errorf("dead error %v", deadErr)
	}
	if fmt.Sprint(finals) != "[false false true]" {
		t.Errorf("final flags %v", finals)
	}
}

func testPermanent(t *testing.T, mk engine) {
	dead := make(chan struct{})
	q := mk(t, jobs.Config{MaxAttempts: 5, OnDead: func(jobs.Job, error) { close(dead) }})
	defer q.Close()
	var runs atomic.Int32
	q.Handle("bad", func(context.Context, jobs.Job) error {
		runs.Add(1)
		return jobs.Permanent(errors.New("unsupported file"))
	})
	q.Start()
	q.Enqueue(context.Background(), "bad", nil)
	wait(t, dead, "the job to be given up")
	q.Close()
	if runs.Load() != 1 {
		t.Errorf("a permanent failure ran %d times", runs.Load())
	}
}

// TestJetStreamFailover: node A takes a job and dies before acknowledging
// it (its connection closes); node B gets it after AckWait and completes
// it, once.
func TestJetStreamFailover(t *testing.T) {
	ncA, ncB := natsConn(t), natsConn(t)
	cfg := jobs.Config{Prefix: prefix(t, ncB), AckWait: time.Second, MaxAttempts: 5, Backoff: 10 * time.Millisecond}
	a, err := jobs.NewJetStream(context.Background(), ncA, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	startedA := make(chan struct{})
	a.Handle("upload", func(ctx context.Context, _ jobs.Job) error {
		close(startedA)
		<-ctx.Done() // A "dies" here: it never finishes
		return ctx.Err()
	})
	a.Start()
	if _, err := a.Enqueue(context.Background(), "upload", []byte("u1")); err != nil {
		t.Fatal(err)
	}
	wait(t, startedA, "node A to take the job")
	ncA.Close()
	defer a.Close()

	var done atomic.Int32
	finished := make(chan struct{})
	b, err := jobs.NewJetStream(context.Background(), ncB, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Handle("upload", func(_ context.Context, j jobs.Job) error {
		if string(j.Payload) != "u1" || j.Attempt != 2 {
			t.Errorf("B got %q attempt %d", j.Payload, j.Attempt)
		}
		if done.Add(1) == 1 {
			close(finished)
		}
		return nil
	})
	b.Start()
	wait(t, finished, "node B to complete the job")
	b.Close()
	a.Close()
	js, _ := jetstream.New(ncB)
	st, err := js.Stream(context.Background(), cfg.Prefix+"_JOBS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream after ack: %+v %v (the job would run again)", info.State, err)
	}
	if done.Load() != 1 {
		t.Fatalf("done %d times", done.Load())
	}
}

// TestJetStreamHeartbeat: a job running for several AckWaits is not
// handed to another worker, because its handler's heartbeats say it is in
// progress.
func TestJetStreamHeartbeat(t *testing.T) {
	nc := natsConn(t)
	q, err := jobs.NewJetStream(context.Background(), nc, jobs.Config{
		Prefix: prefix(t, nc), AckWait: 600 * time.Millisecond, Workers: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var runs atomic.Int32
	done := make(chan struct{})
	q.Handle("long", func(ctx context.Context, _ jobs.Job) error {
		if runs.Add(1) > 1 {
			return nil
		}
		select { // a long analysis: 3 AckWaits
		case <-time.After(1800 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		close(done)
		return nil
	})
	q.Start()
	q.Enqueue(context.Background(), "long", nil)
	wait(t, done, "the long job")
	q.Close()
	if runs.Load() != 1 {
		t.Fatalf("long job delivered %d times despite heartbeats", runs.Load())
	}
}

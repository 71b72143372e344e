package workers_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/cuecard/cuecard/asr/workers"
	"github.com/cuecard/cuecard/stream"
)

// natsURL is the NATS server the tests use ($CUECARD_TEST_NATS, else the
// one on loopback).
func natsURL() string {
	if u := os.Getenv("CUECARD_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// connect opens a connection to the test server, closed when the test
// ends; without a server the test is skipped (failed in CI).
func connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(natsURL(), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("NATS at %s is required in CI: %v", natsURL(), err)
		}
		tb.Skipf("no NATS server at %s: %v", natsURL(), err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// prefix is a subject prefix of the test's own.
func prefix() string { return "test" + strings.ToLower(nuid.Next()) }

// startWorker runs a worker on a connection of its own until the test
// ends; it returns the worker and that connection (close it to kill the
// worker).
func startWorker(tb testing.TB, cfg workers.Config, tr stream.Transcriber) (*workers.Worker, *nats.Conn) {
	tb.Helper()
	nc := connect(tb)
	w, err := workers.Listen(nc, cfg, tr)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return w, nc
}

// words is what the test recognizer says for each 100 ms of audio.
var words = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// testRec is a small deterministic recognizer of our own: each full
// 100 ms of audio is a word, chosen by the value of its first sample, so a
// transcript shows exactly which audio reached the decoder and in what
// order. It adapts: the state is the number of samples heard so far on
// the side, which the final transcript reports.
type testRec struct {
	slots chan struct{}
	// started receives the id of every utterance started; hold, if not
	// nil, makes Write wait for it to close; failAt makes Write fail once
	// that many samples were written.
	started chan string
	hold    chan struct{}
	failAt  int
	// slow makes Finish take that long (a loaded machine).
	slow time.Duration
	id   string

	mu     sync.Mutex
	active int
}

func newTestRec(id string, n int) *testRec {
	return &testRec{id: id, slots: make(chan struct{}, n), started: make(chan string, 64)}
}

func (r *testRec) Size() int { return cap(r.slots) }

func (r *testRec) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

func (r *testRec) Start(ctx context.Context) (stream.Utterance, error) {
	select {
	case r.slots <- struct{}{}:
	default:
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, stream.ErrBusy
		}
	}
	r.mu.Lock()
	r.active++
	r.mu.Unlock()
	select {
	case r.started <- r.id:
	default:
	}
	return &testUtt{r: r}, nil
}

type testUtt struct {
	r     *testRec
	pcm   []int16
	from  float32
	after []float32
	done  bool
}

func (u *testUtt) Adapt(state []float32) {
	if len(state) == 1 {
		u.from = state[0]
	}
}

func (u *testUtt) Adapted() []float32 { return u.after }

func (u *testUtt) Write(pcm []int16) error {
	if u.r.hold != nil {
		<-u.r.hold
	}
	u.pcm = append(u.pcm, pcm...)
	if u.r.failAt > 0 && len(u.pcm) >= u.r.failAt {
		return fmt.Errorf("decoder exploded at sample %d", len(u.pcm))
	}
	return nil
}

func (u *testUtt) Partial() (string, error) { return transcribe(u.pcm), nil }

func (u *testUtt) Finish() (string, error) {
	defer u.release()
	time.Sleep(u.r.slow)
	u.after = []float32{u.from + float32(len(u.pcm))}
	return fmt.Sprintf("%s (after %d)", transcribe(u.pcm), int(u.from)), nil
}

func (u *testUtt) Abort() { u.release() }

func (u *testUtt) release() {
	if u.done {
		return
	}
	u.done = true
	u.r.mu.Lock()
	u.r.active--
	u.r.mu.Unlock()
	<-u.r.slots
}

// transcribe is the test recognizer's reading of pcm.
func transcribe(pcm []int16) string {
	var out []string
	for i := 0; i+1600 <= len(pcm); i += 1600 {
		out = append(out, words[int(pcm[i])%len(words)])
	}
	return strings.Join(out, " ")
}

// speech returns n ms of test audio whose 100 ms blocks say words[k],
// words[k+1], ...
func speech(ms, k int) []int16 {
	pcm := make([]int16, ms*16)
	for i := range pcm {
		pcm[i] = int16((k + i/1600) % len(words))
	}
	return pcm
}

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

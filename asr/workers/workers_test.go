package workers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/asr/workers"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func clientConfig(p string) workers.ClientConfig {
	cfg := workers.DefaultClientConfig()
	cfg.Prefix, cfg.Timeout = p, 2*time.Second
	return cfg
}

func workerConfig(p string) workers.Config {
	cfg := workers.DefaultConfig()
	cfg.Prefix = p
	return cfg
}

// TestRecognize sends a segment through a worker: the transcript is the
// test recognizer's reading of exactly the audio sent, and partials come
// before it.
func TestRecognize(t *testing.T) {
	p := prefix()
	startWorker(t, workerConfig(p), newTestRec("w1", 2))
	cl := workers.NewClient(connect(t), clientConfig(p))
	pcm := append(speech(1000, 3), speech(450, 0)...)
	var partials []string
	got, err := cl.Recognize(context.Background(), pcm, func(s string) { partials = append(partials, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := transcribe(pcm) + " (after 0)"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(partials) == 0 || !strings.HasPrefix(transcribe(pcm), partials[len(partials)-1]) {
		t.Fatalf("partials %q: want some, each a prefix of the transcript", partials)
	}
}

// TestStreamCarriesState runs two segments of one side through a stream,
// as a pipeline does: the second starts from the state the first ended
// with, and the results come in order with their segment ids.
func TestStreamCarriesState(t *testing.T) {
	p := prefix()
	startWorker(t, workerConfig(p), newTestRec("w1", 1))
	startWorker(t, workerConfig(p), newTestRec("w2", 1))
	cl := workers.NewClient(connect(t), clientConfig(p))
	out := make(chan stream.Result, 64)
	s := cl.Open(coach.Rep, out)
	defer s.Close()
	segs := []struct {
		id uint64
		ms int
	}{{1, 800}, {2, 500}}
	for _, g := range segs {
		s.Begin(g.id)
		pcm := speech(g.ms, int(g.id))
		for i := 0; i < len(pcm); i += 320 {
			s.Write(pcm[i:min(i+320, len(pcm))])
		}
		if err := s.End(); err != nil {
			t.Fatal(err)
		}
	}
	wants := []string{transcribe(speech(800, 1)) + " (after 0)", transcribe(speech(500, 2)) + " (after 12800)"}
	for i, want := range wants {
		r := finalOf(t, out)
		if r.Seg != segs[i].id || r.Err != nil || r.Text != want {
			t.Fatalf("result %d: %+v, want segment %d %q", i, r, segs[i].id, want)
		}
	}
}

// finalOf waits for the next final result.
func finalOf(t *testing.T, out <-chan stream.Result) stream.Result {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-out:
			if r.Final {
				return r
			}
		case <-timeout:
			t.Fatal("no final result")
		}
	}
}

// TestWorkerDies kills the worker decoding a segment (its connection
// closes) in the middle of it: the segment is replayed on the other
// worker and its transcript is whole.
func TestWorkerDies(t *testing.T) {
	p := prefix()
	r1, r2 := newTestRec("w1", 1), newTestRec("w2", 1)
	_, nc1 := startWorker(t, workerConfig(p), r1)
	_, nc2 := startWorker(t, workerConfig(p), r2)
	cl := workers.NewClient(connect(t), clientConfig(p))
	out := make(chan stream.Result, 64)
	s := cl.Open(coach.Prospect, out)
	defer s.Close()
	pcm := speech(2000, 5)
	s.Begin(7)
	s.Write(pcm[:16000])
	var first string
	select {
	case first = <-mergeStarted(r1, r2):
	case <-time.After(5 * time.Second):
		t.Fatal("no worker took the segment")
	}
	if first == "w1" {
		nc1.Close()
	} else {
		nc2.Close()
	}
	for i := 16000; i < len(pcm); i += 320 {
		s.Write(pcm[i:min(i+320, len(pcm))])
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	r := finalOf(t, out)
	if r.Err != nil || r.Text != transcribe(pcm)+" (after 0)" {
		t.Fatalf("after %s died: %+v", first, r)
	}
}

// mergeStarted receives the id of the first worker whose recognizer
// starts an utterance.
func mergeStarted(rs ...*testRec) <-chan string {
	ch := make(chan string, len(rs))
	for _, r := range rs {
		go func() {
			select {
			case id := <-r.started:
				ch <- id
			case <-time.After(5 * time.Second):
			}
		}()
	}
	return ch
}

func TestFailures(t *testing.T) {
	t.Run("no workers", func(t *testing.T) {
		cfg := clientConfig(prefix())
		cfg.Timeout = 300 * time.Millisecond
		cl := workers.NewClient(connect(t), cfg)
		start := time.Now()
		_, err := cl.Recognize(context.Background(), speech(500, 0), nil)
		took := time.Since(start)
		if !errors.Is(err, workers.ErrNoWorkers) || !strings.Contains(err.Error(), ".asr.segment") {
			t.Fatalf("err = %v, want ErrNoWorkers naming the subject", err)
		}
		if took < cfg.Timeout || took > cfg.Timeout+time.Second {
			t.Fatalf("gave up after %s, want about %s", took, cfg.Timeout)
		}
	})
	t.Run("busy", func(t *testing.T) {
		p := prefix()
		rec := newTestRec("w1", 1)
		rec.hold = make(chan struct{})
		defer close(rec.hold)
		startWorker(t, workerConfig(p), rec)
		cfg := clientConfig(p)
		cfg.QueueTimeout = 300 * time.Millisecond
		cl := workers.NewClient(connect(t), cfg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go cl.Recognize(ctx, speech(500, 0), nil)
		<-rec.started
		_, err := cl.Recognize(context.Background(), speech(500, 0), nil)
		if !errors.Is(err, workers.ErrBusy) {
			t.Fatalf("err = %v, want ErrBusy", err)
		}
	})
	t.Run("too large for the client", func(t *testing.T) {
		p := prefix()
		rec := newTestRec("w1", 1)
		startWorker(t, workerConfig(p), rec)
		cfg := clientConfig(p)
		cfg.MaxSegmentMS = 1000
		_, err := workers.NewClient(connect(t), cfg).Recognize(context.Background(), speech(1500, 0), nil)
		if !errors.Is(err, workers.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		waitFor(t, 5*time.Second, "the decoder given back", func() bool { return rec.Active() == 0 })
	})
	t.Run("too large for the worker", func(t *testing.T) {
		p := prefix()
		wc := workerConfig(p)
		wc.MaxSegmentMS = 1000
		rec := newTestRec("w1", 1)
		startWorker(t, wc, rec)
		_, err := workers.NewClient(connect(t), clientConfig(p)).Recognize(context.Background(), speech(1500, 0), nil)
		if !errors.Is(err, workers.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		if rec.Active() != 0 {
			t.Fatal("decoder not given back")
		}
	})
	t.Run("slow decoder waited for", func(t *testing.T) {
		p := prefix()
		rec := newTestRec("w1", 1)
		rec.slow = 1500 * time.Millisecond
		startWorker(t, workerConfig(p), rec)
		cfg := clientConfig(p)
		cfg.Timeout = 500 * time.Millisecond
		got, err := workers.NewClient(connect(t), cfg).Recognize(context.Background(), speech(500, 0), nil)
		if err != nil || len(rec.started) != 1 {
			t.Fatalf("%q, %v after %d attempts: a worker that says it is at it must be waited for", got, err, len(rec.started))
		}
	})
	t.Run("decoder error", func(t *testing.T) {
		p := prefix()
		rec := newTestRec("w1", 2)
		rec.failAt = 4000
		startWorker(t, workerConfig(p), rec)
		_, err := workers.NewClient(connect(t), clientConfig(p)).Recognize(context.Background(), speech(1000, 0), nil)
		if !errors.Is(err, workers.ErrDecoder) || !strings.Contains(err.Error(), "exploded") {
			t.Fatalf("err = %v, want ErrDecoder with the decoder's message", err)
		}
		if n := len(rec.started); n != 1 {
			t.Fatalf("%d utterances started: a decoder error must not be retried", n)
		}
	})
}

// TestCancel cancels a recognition while the worker decodes: Recognize
// returns the context's error at once and the worker gives its decoder
// back.
func TestCancel(t *testing.T) {
	p := prefix()
	rec := newTestRec("w1", 1)
	rec.hold = make(chan struct{})
	w, _ := startWorker(t, workerConfig(p), rec)
	cl := workers.NewClient(connect(t), clientConfig(p))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Recognize(ctx, speech(1000, 0), nil)
		errc <- err
	}()
	<-rec.started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Recognize did not return after cancel")
	}
	close(rec.hold)
	waitFor(t, 5*time.Second, "the decoder given back", func() bool { return w.Busy() == 0 && rec.Active() == 0 })
}

// TestWorkerJoins adds a worker while a segment waits for a free decoder:
// the segment goes to the newcomer.
func TestWorkerJoins(t *testing.T) {
	p := prefix()
	busy := newTestRec("w1", 1)
	busy.hold = make(chan struct{})
	defer close(busy.hold)
	startWorker(t, workerConfig(p), busy)
	cfg := clientConfig(p)
	cfg.Timeout = 10 * time.Second
	cl := workers.NewClient(connect(t), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Recognize(ctx, speech(500, 0), nil)
	<-busy.started
	// A plain subscriber sees every start the waiting segment sends.
	spy := connect(t)
	starts := make(chan struct{}, 64)
	if _, err := spy.Subscribe(p+".asr.segment", func(*nats.Msg) {
		select {
		case starts <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	spy.Flush()
	errc := make(chan error, 1)
	var got string
	go func() {
		var err error
		got, err = cl.Recognize(context.Background(), speech(500, 4), nil)
		errc <- err
	}()
	for range 2 {
		<-starts // asked, answered busy, asking again
	}
	startWorker(t, workerConfig(p), newTestRec("w2", 1))
	if err := <-errc; err != nil || got != transcribe(speech(500, 4))+" (after 0)" {
		t.Fatalf("got %q, %v", got, err)
	}
}

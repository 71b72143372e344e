package stream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/stream"
)

// fakeAsync is an Async backend answering "final N" (N samples received)
// after latency, or failing as its function fields say.
type fakeAsync struct {
	latency func(id uint64) time.Duration // nil: at once
	refuse  func() error                  // End's error
	fail    func(id uint64) error         // the final's error
	stall   bool                          // never answer

	mu    sync.Mutex
	ended map[uint64]time.Time
}

// Reason words failures as the remote backends do.
func (f *fakeAsync) Reason(err error) string { return remote.Reason(err) }

func (f *fakeAsync) Open(sp coach.Speaker, out chan<- stream.Result) stream.Stream {
	return &fakeStream{f: f, out: out, done: make(chan struct{})}
}

type fakeStream struct {
	f    *fakeAsync
	out  chan<- stream.Result
	done chan struct{}
	wg   sync.WaitGroup
	id   uint64
	n    int
}

func (s *fakeStream) Begin(id uint64)   { s.id, s.n = id, 0 }
func (s *fakeStream) Write(pcm []int16) { s.n += len(pcm) }
func (s *fakeStream) End() error {
	if s.f.refuse != nil {
		if err := s.f.refuse(); err != nil {
			return err
		}
	}
	id, n := s.id, s.n
	s.f.mu.Lock()
	if s.f.ended == nil {
		s.f.ended = map[uint64]time.Time{}
	}
	s.f.ended[id] = time.Now()
	s.f.mu.Unlock()
	if s.f.stall {
		return nil
	}
	var d time.Duration
	if s.f.latency != nil {
		d = s.f.latency(id)
	}
	var err error
	if s.f.fail != nil {
		err = s.f.fail(id)
	}
	s.wg.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		select {
		case s.out <- stream.Result{Seg: id, Final: true, Text: fmt.Sprintf("final %d seg %d", n, id), Err: err}:
		case <-s.done:
		}
	})
	return nil
}
func (s *fakeStream) Close() { close(s.done); s.wg.Wait() }

// fakeRemote is a Transcriber that is Async (what the pipeline uses).
type fakeRemote struct{ *fakeAsync }

func (fakeRemote) Start(context.Context) (stream.Utterance, error) {
	return nil, errors.New("fake remote: use Open")
}

func runAsync(tb testing.TB, cfg stream.Config, f *fakeAsync, rep, pro []float32, flush time.Duration) ([]coach.Input, stream.PipelineStats) {
	tb.Helper()
	var p *stream.Pipeline
	got := calltest.Collect(tb, func(emit func(coach.Input) error) error {
		p = stream.NewPipeline(cfg, fakeRemote{f}, emit)
		defer p.Close()
		calltest.Feed(tb, p, rep, pro, nil)
		ctx, cancel := context.WithTimeout(context.Background(), flush)
		defer cancel()
		return p.Flush(ctx)
	})
	return got, p.Stats()
}

func TestPipelineAsyncAwaitIsDeterministic(t *testing.T) {
	rep, pro := calltest.ToneCall(5, 1500)
	cfg := stream.DefaultConfig()
	cfg.AwaitFinals = true
	var runs [2][]coach.Input
	for i := range runs {
		f := &fakeAsync{latency: func(id uint64) time.Duration { return time.Duration((id*7+uint64(i)*3)%5) * time.Millisecond }}
		got, st := runAsync(t, cfg, f, rep, pro, time.Second)
		runs[i] = got
		ends, finals := calltest.Kinds(got, coach.SpeechEnd), calltest.Kinds(got, coach.Final)
		if len(ends) != 5 || len(finals) != 5 {
			t.Fatalf("%d ends, %d finals, want 5 each", len(ends), len(finals))
		}
		for j := range finals {
			if finals[j].AtMS != ends[j].AtMS || finals[j].StartMS != ends[j].StartMS || finals[j].EndMS != ends[j].EndMS {
				t.Errorf("final %+v not at its segment's end %+v", finals[j], ends[j])
			}
		}
		if st.Transcribed != 5 || st.Pending != 0 {
			t.Errorf("stats %+v", st)
		}
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Error("two runs with different backend timing gave different inputs")
	}
}

func TestPipelineAsyncLiveNeverWaits(t *testing.T) {
	rep, pro := calltest.ToneCall(4, 1200)
	f := &fakeAsync{latency: func(uint64) time.Duration { return 300 * time.Millisecond }}
	var p *stream.Pipeline
	var slowest time.Duration
	got := calltest.Collect(t, func(emit func(coach.Input) error) error {
		p = stream.NewPipeline(stream.DefaultConfig(), fakeRemote{f}, emit)
		defer p.Close()
		last := time.Now()
		calltest.Feed(t, p, rep, pro, func() {
			slowest = max(slowest, time.Since(last))
			last = time.Now()
		})
		return p.Flush(context.Background())
	})
	if slowest >= 300*time.Millisecond {
		t.Errorf("a frame took %s: the pipeline waited for the backend", slowest)
	}
	ends, finals := calltest.Kinds(got, coach.SpeechEnd), calltest.Kinds(got, coach.Final)
	if len(finals) != len(ends) || len(ends) != 4 {
		t.Fatalf("%d ends, %d finals", len(ends), len(finals))
	}
	for _, fin := range finals {
		if fin.AtMS < fin.EndMS {
			t.Errorf("final before its segment ended: %+v", fin)
		}
	}
}

func TestPipelineAsyncBackendDown(t *testing.T) {
	rep, pro := calltest.ToneCall(6, 1200)
	down := errors.New("connection refused")
	var mu sync.Mutex
	broken := true
	f := &fakeAsync{fail: func(id uint64) error {
		mu.Lock()
		defer mu.Unlock()
		if broken && id <= 3 {
			return fmt.Errorf("%w: %w", remote.ErrTimeout, down)
		}
		return nil
	}}
	cfg := stream.DefaultConfig()
	cfg.AwaitFinals = true // deterministic order of the status inputs
	got, st := runAsync(t, cfg, f, rep, pro, time.Second)
	status := calltest.Kinds(got, coach.Status)
	if len(status) != 2 || status[0].ASR != "degraded" || status[1].ASR != "ok" {
		t.Fatalf("status inputs %+v, want degraded then ok", status)
	}
	if want := "transcription service timed out (1 segments without transcript)"; status[0].Text != want {
		t.Errorf("reason %q, want %q", status[0].Text, want)
	}
	if st.Failed != 3 || st.Transcribed != 3 {
		t.Errorf("stats %+v, want 3 failed, 3 transcribed", st)
	}
	// Talk carries on: every segment still has its start and end, ticks
	// flow to the end.
	if n := len(calltest.Kinds(got, coach.SpeechEnd)); n != 6 {
		t.Errorf("%d speech ends, want 6", n)
	}
	ticks := calltest.Kinds(got, coach.Tick)
	if last := ticks[len(ticks)-1].AtMS; last < int64(len(pro)/16)-20 {
		t.Errorf("ticks stop at %d ms of %d", last, len(pro)/16)
	}
}

func TestPipelineAsyncStalledBackendIsBounded(t *testing.T) {
	rep, pro := calltest.ToneCall(30, 800)
	f := &fakeAsync{stall: true}
	cfg := stream.DefaultConfig()
	cfg.MaxOutstanding = 4
	got, st := runAsync(t, cfg, f, rep, pro, 10*time.Millisecond)
	if st.Sent != 4 || st.Dropped != 26 || st.Failed != 4 || st.Pending != 0 {
		t.Errorf("stats %+v, want 4 sent (then failed at the end), 26 dropped", st)
	}
	status := calltest.Kinds(got, coach.Status)
	if len(status) == 0 || status[0].ASR != "degraded" {
		t.Fatalf("no degraded status: %+v", status)
	}
	t.Logf("status: %+v", status)
	if n := len(calltest.Kinds(got, coach.SpeechEnd)); n != 30 {
		t.Errorf("%d speech ends, want 30", n)
	}
}

func TestPipelineAsyncRefused(t *testing.T) {
	rep, pro := calltest.ToneCall(2, 1000)
	f := &fakeAsync{refuse: func() error { return remote.ErrCircuitOpen }}
	got, st := runAsync(t, stream.DefaultConfig(), f, rep, pro, time.Second)
	if st.Dropped != 2 || len(calltest.Kinds(got, coach.Final)) != 0 {
		t.Errorf("stats %+v", st)
	}
	s := calltest.Kinds(got, coach.Status)
	if len(s) != 1 || s[0].Text != "transcription service unavailable after repeated failures (1 segments without transcript)" {
		t.Errorf("status %+v", s)
	}
}

package remote_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/stream"
)

// transcriptionServer speaks /v1/audio/transcriptions: it checks the
// multipart request and answers with answer(n) for the n-th request.
type transcriptionServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []transcriptionReq
	n       atomic.Int32
	answer  func(n int, w http.ResponseWriter, r *http.Request)
	release chan struct{}
}

type transcriptionReq struct {
	path, auth, model, format, language string
	samples, rate                       int
}

func newTranscriptionServer(tb testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *transcriptionServer {
	tb.Helper()
	s := &transcriptionServer{answer: answer, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		q := transcriptionReq{path: r.URL.Path, auth: r.Header.Get("Authorization"), model: r.FormValue("model"),
			format: r.FormValue("response_format"), language: r.FormValue("language")}
		if f, _, err := r.FormFile("file"); err == nil {
			b, _ := io.ReadAll(f)
			if len(b) >= 44 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE" {
				q.rate = int(binary.LittleEndian.Uint32(b[24:]))
				q.samples = int(binary.LittleEndian.Uint32(b[40:])) / 2
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, q)
		s.mu.Unlock()
		s.answer(int(s.n.Add(1)), w, r)
	}))
	tb.Cleanup(func() { close(s.release); s.Close() })
	return s
}

func (s *transcriptionServer) requests() []transcriptionReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]transcriptionReq(nil), s.reqs...)
}

func fastResilience() remote.Resilience {
	return remote.Resilience{MaxConcurrent: 2, MaxQueued: 2, Timeout: 300 * time.Millisecond, MaxAttempts: 3,
		BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Budget: 3 * time.Second,
		BreakerFailures: 4, BreakerCooldown: time.Hour}
}

func newOpenAI(tb testing.TB, url, format string) *remote.OpenAI {
	tb.Helper()
	cfg := remote.DefaultOpenAIConfig()
	cfg.Remote.BaseURL, cfg.Remote.APIKey, cfg.Remote.Model, cfg.Remote.Language = url+"/v1", "sk-test", "whisper-1", "en"
	cfg.Remote.Resilience = fastResilience()
	cfg.Format = format
	o, err := remote.NewOpenAI(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func jsonAnswer(body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func TestOpenAITranscribe(t *testing.T) {
	pcm := make([]int16, 16000*3/2) // 1.5 s
	cases := []struct {
		name, format, answer, want string
	}{
		{"json", "json", `{"text":" we lose two deals a month "}`, "we lose two deals a month"},
		{"verbose_json drops non-speech segments", "verbose_json", `{"task":"transcribe","language":"english","duration":1.5,"text":"we lose deals. Thank you.",
			"segments":[{"id":0,"start":0,"end":1.2,"text":" we lose deals.","no_speech_prob":0.01},{"id":1,"start":1.2,"end":1.5,"text":" Thank you.","no_speech_prob":0.95}]}`, "we lose deals."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newTranscriptionServer(t, jsonAnswer(c.answer))
			o := newOpenAI(t, srv.URL, c.format)
			got, err := o.Transcribe(context.Background(), pcm)
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
			r := srv.requests()
			if len(r) != 1 {
				t.Fatalf("%d requests", len(r))
			}
			want := transcriptionReq{path: "/v1/audio/transcriptions", auth: "Bearer sk-test", model: "whisper-1", format: c.format, language: "en", samples: len(pcm), rate: 16000}
			if r[0] != want {
				t.Errorf("request %+v, want %+v", r[0], want)
			}
		})
	}
}

func TestOpenAIFailures(t *testing.T) {
	pcm := make([]int16, 8000)
	cases := []struct {
		name     string
		answer   func(n int, w http.ResponseWriter, r *http.Request)
		wantErr  error // nil: succeeds
		requests int
		minWait  time.Duration
	}{
		{"429 with Retry-After is honoured", func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(429)
				io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
				return
			}
			jsonAnswer(`{"text":"ok"}`)(n, w, nil)
		}, nil, 2, time.Second},
		{"500 then success", func(n int, w http.ResponseWriter, _ *http.Request) {
			if n < 3 {
				http.Error(w, "upstream crashed", 500)
				return
			}
			jsonAnswer(`{"text":"ok"}`)(n, w, nil)
		}, nil, 3, 0},
		{"500 every time", func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream crashed", 500)
		}, &remote.StatusError{}, 3, 0},
		{"timeouts", func(_ int, w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, remote.ErrTimeout, 3, 900 * time.Millisecond},
		{"malformed JSON is not retried", jsonAnswer(`{"text": "unterminated`), remote.ErrMalformed, 1, 0},
		{"401 is not retried", func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`)
		}, &remote.StatusError{}, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newTranscriptionServer(t, c.answer)
			o := newOpenAI(t, srv.URL, "json")
			start := time.Now()
			got, err := o.Transcribe(context.Background(), pcm)
			took := time.Since(start)
			switch want := c.wantErr.(type) { //nolint:errorlint // the case's expectation, not a returned error
			case nil:
				if err != nil || got != "ok" {
					t.Fatalf("got %q, %v", got, err)
				}
			case *remote.StatusError:
				if !errors.As(err, &want) {
					t.Fatalf("error %v, want a StatusError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error %v, want %v", err, want)
				}
			}
			if n := len(srv.requests()); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
			if took < c.minWait {
				t.Errorf("took %s, want at least %s", took, c.minWait)
			}
			if err != nil && strings.Contains(err.Error(), "sk-test") {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

func TestOpenAICircuitBreaker(t *testing.T) {
	srv := newTranscriptionServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	o := newOpenAI(t, srv.URL, "json")
	pcm := make([]int16, 1600)
	for range 2 {
		o.Transcribe(context.Background(), pcm) // 3 attempts each; the 4th failure opens the circuit
	}
	n := len(srv.requests())
	_, err := o.Transcribe(context.Background(), pcm)
	if !errors.Is(err, remote.ErrCircuitOpen) {
		t.Fatalf("error %v, want circuit open", err)
	}
	if len(srv.requests()) != n || n != 4 {
		t.Errorf("%d requests before, %d after the circuit opened; want 4, 4", n, len(srv.requests()))
	}
	if st := o.Guard().Stats(); !st.CircuitOpen || st.LastError != "service error (HTTP 503)" {
		t.Errorf("stats %+v", st)
	}
}

func TestNoRemote(t *testing.T) {
	cfg := remote.DefaultOpenAIConfig()
	cfg.Remote.BaseURL, cfg.Remote.NoRemote = "https://api.openai.com/v1", true
	if _, err := remote.NewOpenAI(cfg); !errors.Is(err, remote.ErrRemoteDisabled) {
		t.Errorf("openai: %v, want ErrRemoteDisabled", err)
	}
	rc := remote.DefaultRealtimeConfig()
	rc.Remote.BaseURL, rc.Remote.NoRemote = "https://api.openai.com/v1", true
	if _, err := remote.NewRealtime(rc); !errors.Is(err, remote.ErrRemoteDisabled) {
		t.Errorf("realtime: %v, want ErrRemoteDisabled", err)
	}
	cfg.Remote.BaseURL = "http://127.0.0.1:8000/v1" // a local whisper.cpp server
	o, err := remote.NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("local server refused: %v", err)
	}
	if b := o.Backend(); b.Remote || b.Host != "127.0.0.1:8000" {
		t.Errorf("backend %+v", b)
	}
	if s := (remote.Config{APIKey: "sk-secret"}).String(); strings.Contains(s, "sk-secret") {
		t.Errorf("String shows the key: %s", s)
	}
}

// TestOpenAIPipelineStalledService runs the real backend against a
// service that never answers: the session goes on, reports degradation,
// and the work held stays bounded.
func TestOpenAIPipelineStalledService(t *testing.T) {
	srv := newTranscriptionServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	cfg := remote.DefaultOpenAIConfig()
	cfg.Remote.BaseURL, cfg.Remote.Model = srv.URL+"/v1", "whisper-1"
	cfg.Remote.Resilience = remote.Resilience{MaxConcurrent: 2, MaxQueued: 2, Timeout: time.Hour, MaxAttempts: 1, Budget: time.Hour, BreakerFailures: 100}
	o, err := remote.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, pro := calltest.ToneCall(20, 800)
	pcfg := stream.DefaultConfig()
	pcfg.MaxOutstanding = 8
	var p *stream.Pipeline
	got := calltest.Collect(t, func(emit func(coach.Input) error) error {
		p = stream.NewPipeline(pcfg, o, emit)
		defer p.Close()
		calltest.Feed(t, p, rep, pro, nil)
		calltest.WaitFor(t, 5*time.Second, "queue-full results", func() bool { return o.Guard().Stats().Dropped == 16 })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		return p.Flush(ctx)
	})
	st := p.Stats()
	// 2 requests in flight and 2 queued; the others fail at once (queue
	// full), the 4 held fail when the call ends.
	if st.Sent != 20 || st.Transcribed != 0 || st.Failed != 20 {
		t.Errorf("pipeline stats %+v", st)
	}
	if gs := o.Guard().Stats(); gs.InFlight != 0 || gs.Queued != 0 {
		t.Errorf("guard still holds work after Close: %+v", gs)
	}
	if s := calltest.Kinds(got, coach.Status); len(s) == 0 || s[0].ASR != "degraded" {
		t.Errorf("status %+v", s)
	}
	if len(calltest.Kinds(got, coach.SpeechEnd)) != 20 {
		t.Error("talk did not go on")
	}
}

package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	openai "github.com/sashabaranov/go-openai"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// DefaultBaseURL is the OpenAI API, used when neither the configuration
// nor OPENAI_BASE_URL names another OpenAI-compatible service.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config says how to reach an OpenAI-compatible service (OpenAI,
// whisper.cpp server, speaches, LocalAI, vLLM, Ollama).
type Config struct {
	// BaseURL of the API, ending in /v1 for most servers.
	BaseURL string
	// APIKey is sent as a bearer token; String never shows it.
	APIKey string
	// Model and Language (ISO 639-1, "" to detect) of the requests.
	Model    string
	Language string
	// NoRemote refuses every service that is not on this machine
	// (a loopback address or "localhost"): no audio or text leaves it.
	NoRemote bool
	// Resilience bounds requests to the service.
	Resilience Resilience
	// HTTPClient is used for requests (nil: a plain client; attempts are
	// bounded by Resilience.Timeout).
	HTTPClient *http.Client
}

// WithEnv fills an empty BaseURL and APIKey from getenv's OPENAI_BASE_URL
// and OPENAI_API_KEY (pass os.Getenv), and BaseURL from DefaultBaseURL.
func (c Config) WithEnv(getenv func(string) string) Config {
	if c.BaseURL == "" && getenv != nil {
		c.BaseURL = getenv("OPENAI_BASE_URL")
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.APIKey == "" && getenv != nil {
		c.APIKey = getenv("OPENAI_API_KEY")
	}
	return c
}

// String describes the configuration without its key.
func (c Config) String() string {
	key := "none"
	if c.APIKey != "" {
		key = "set"
	}
	return fmt.Sprintf("base_url=%s model=%s language=%s api_key=%s", c.BaseURL, c.Model, c.Language, key)
}

// LogValue keeps the key out of structured logs too.
func (c Config) LogValue() string { return c.String() }

// Host returns the host the service runs on.
func (c Config) Host() string {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// Check validates the base URL and enforces NoRemote.
func (c Config) Check() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad base URL %q: want http(s)://host/path", c.BaseURL)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return fmt.Errorf("bad base URL %q: want http(s)://host/path", c.BaseURL)
	}
	if c.Model == "" {
		return errors.New("no model configured")
	}
	if c.NoRemote && !IsLoopback(u.Hostname()) {
		return fmt.Errorf("%w: %s is not on this machine", ErrRemoteDisabled, u.Host)
	}
	return nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewOpenAIClient returns a go-openai client for c (after Check) whose
// answers' status and Retry-After can be read with WithAnswer.
func NewOpenAIClient(c Config) (*openai.Client, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	oc := openai.DefaultConfig(c.APIKey)
	oc.BaseURL = strings.TrimRight(c.BaseURL, "/")
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	oc.HTTPClient = recordingDoer{c: hc}
	return openai.NewClientWithConfig(oc), nil
}

// APIError classifies an error of a go-openai call made with a context from
// WithAnswer (wrap is WithAnswer's second result): HTTP errors become
// *StatusError, undecodable answers ErrMalformed.
func APIError(err error, wrap func(error) error) error {
	if err == nil {
		return nil
	}
	err = wrap(err)
	var se *StatusError
	if errors.As(err, &se) {
		return err
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return err
}

// OpenAIConfig tunes the OpenAI-compatible /audio/transcriptions backend.
type OpenAIConfig struct {
	Remote Config
	// Format is "json" (default), "verbose_json" or "text".
	Format string
	// Prompt guides the model's spelling (product names, jargon).
	Prompt string
	// MaxSegmentMS of audio is sent per segment; the rest is cut (the
	// service's upload limit is far above a spoken turn).
	MaxSegmentMS int
	// NoSpeechProb drops verbose_json segments the model itself thinks
	// are not speech (Whisper's hallucinations on noise); 0 keeps all.
	NoSpeechProb float64
}

// DefaultOpenAIConfig returns the per-segment transcription defaults.
func DefaultOpenAIConfig() OpenAIConfig {
	return OpenAIConfig{
		Remote:       Config{Model: openai.GPT4oMiniTranscribe, Resilience: DefaultResilience()},
		Format:       "json",
		MaxSegmentMS: 120000,
		NoSpeechProb: 0.8,
	}
}

// OpenAI transcribes each finished speech segment with one request to an
// OpenAI-compatible /audio/transcriptions endpoint, sending it as an
// in-memory 16 kHz WAV. It implements stream.Async (what a Pipeline uses)
// and stream.Transcriber; it is safe for concurrent use by many sessions,
// which share its Guard.
type OpenAI struct {
	cfg    OpenAIConfig
	client *openai.Client
	guard  *Guard
}

var (
	_ stream.Transcriber = (*OpenAI)(nil)
	_ stream.Async       = (*OpenAI)(nil)
)

// withDefaults returns c with its zero fields set to the defaults.
func (c OpenAIConfig) withDefaults() OpenAIConfig {
	d := DefaultOpenAIConfig()
	if c.Format == "" {
		c.Format = d.Format
	}
	if c.MaxSegmentMS <= 0 {
		c.MaxSegmentMS = d.MaxSegmentMS
	}
	return c
}

// NewOpenAI returns the backend for cfg; it fails without any network I/O
// on a bad configuration or when NoRemote forbids the host.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	cfg = cfg.withDefaults()
	switch cfg.Format {
	case "json", "verbose_json", "text":
	default:
		return nil, fmt.Errorf("openai transcription: unsupported response format %q", cfg.Format)
	}
	c, err := NewOpenAIClient(cfg.Remote)
	if err != nil {
		return nil, fmt.Errorf("openai transcription: %w", err)
	}
	return &OpenAI{cfg: cfg, client: c, guard: NewGuard(cfg.Remote.Resilience)}, nil
}

// Backend implements stream.Describer.
func (o *OpenAI) Backend() stream.Backend {
	return stream.Backend{Role: "asr", Name: "openai", Remote: !o.cfg.Remote.Local(), Host: o.cfg.Remote.Host(), Model: o.cfg.Remote.Model}
}

// Local reports whether the service runs on this machine (a loopback
// host): then nothing leaves it.
func (c Config) Local() bool {
	u, err := url.Parse(c.BaseURL)
	return err == nil && IsLoopback(u.Hostname())
}

// Reason implements stream.Reasoner.
func (o *OpenAI) Reason(err error) string { return Reason(err) }

// Guard returns the backend's shared guard (for metrics).
func (o *OpenAI) Guard() *Guard { return o.guard }

// Transcribe sends one segment of 16 kHz samples and returns its
// transcript. It blocks for up to the Resilience budget.
func (o *OpenAI) Transcribe(ctx context.Context, pcm []int16) (string, error) {
	wav := audio.EncodeWAV16(pcm, stream.Rate)
	var text string
	err := o.guard.Do(ctx, func(ctx context.Context) error {
		actx, wrap := WithAnswer(ctx)
		resp, err := o.client.CreateTranscription(actx, openai.AudioRequest{
			Model:    o.cfg.Remote.Model,
			FilePath: "segment.wav",
			Reader:   bytes.NewReader(wav),
			Language: o.cfg.Remote.Language,
			Prompt:   o.cfg.Prompt,
			Format:   openai.AudioResponseFormat(o.cfg.Format),
		})
		if err != nil {
			return APIError(err, wrap)
		}
		text = o.text(resp)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("openai transcription: %w", err)
	}
	return text, nil
}

func (o *OpenAI) text(resp openai.AudioResponse) string {
	if len(resp.Segments) == 0 || o.cfg.NoSpeechProb <= 0 {
		return strings.TrimSpace(resp.Text)
	}
	var parts []string
	for _, s := range resp.Segments {
		if s.NoSpeechProb <= o.cfg.NoSpeechProb {
			parts = append(parts, strings.TrimSpace(s.Text))
		}
	}
	return strings.Join(parts, " ")
}

// Start implements stream.Transcriber: the returned Utterance's Finish blocks on
// the request.
func (o *OpenAI) Start(context.Context) (stream.Utterance, error) {
	return stream.Blocking(o, coach.NoSpeaker), nil
}

// Open implements stream.Async.
func (o *OpenAI) Open(sp coach.Speaker, out chan<- stream.Result) stream.Stream {
	ctx, cancel := context.WithCancel(context.Background())
	return &openaiStream{o: o, out: out, ctx: ctx, cancel: cancel, max: o.cfg.MaxSegmentMS * stream.Rate / 1000}
}

// openaiStream collects a segment's audio and uploads it when it ends.
// Its context is the lifetime of its request goroutines (cancelled by
// Close), not a request's, which is why it is kept in the struct.
type openaiStream struct {
	o      *OpenAI
	out    chan<- stream.Result
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	max    int

	id  uint64
	pcm []int16
	on  bool
}

func (s *openaiStream) Begin(id uint64) {
	s.id, s.on = id, true
	s.pcm = make([]int16, 0, 4*stream.Rate)
}

func (s *openaiStream) Write(pcm []int16) {
	if !s.on {
		return
	}
	n := min(len(pcm), s.max-len(s.pcm))
	if n > 0 {
		s.pcm = append(s.pcm, pcm[:n]...)
	}
}

func (s *openaiStream) End() error {
	if !s.on {
		return nil
	}
	s.on = false
	id, pcm := s.id, s.pcm
	s.pcm = nil
	if err := s.o.guard.Admit(); err != nil {
		return err
	}
	s.wg.Go(func() {
		text, err := s.o.Transcribe(s.ctx, pcm)
		select {
		case s.out <- stream.Result{Seg: id, Text: text, Final: true, Err: err}:
		case <-s.ctx.Done():
		}
	})
	return nil
}

func (s *openaiStream) Close() {
	s.cancel()
	s.wg.Wait()
}

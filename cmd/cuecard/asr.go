package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/asr/workers"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/llm"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/stream"
)

// asrFlags choose and configure the speech recognizer and the optional
// language model, the same way for serve, analyze and eval.
type asrFlags struct {
	kind     string // embedded, none, openai, openai-realtime
	sphinx   sphinxFlags
	baseURL  string
	apiKey   string
	model    string
	language string
	format   string
	chunkMS  int
	useLLM   bool
	llmModel string
	noRemote bool
	// oneCall: only one call at a time (analyze, eval), so two
	// recognizers (one per side) are enough unless --sphinx-pool says more.
	oneCall bool
	// withWorkers offers --asr workers (serve); nc is then the NATS
	// connection the workers are reached through.
	withWorkers   bool
	workersPrefix string
	nc            *nats.Conn
}

// register adds the flags; the language model (--llm) is for live
// sessions only.
func (f *asrFlags) register(fs *flag.FlagSet, allowNone, withLLM bool) {
	kinds := "embedded (PocketSphinx, offline), openai (an OpenAI-compatible /audio/transcriptions service) or openai-realtime (the Realtime transcription WebSocket)"
	if f.withWorkers {
		kinds += ", workers (the embedded recognizer on `cuecard worker` processes, through --nats)"
		fs.StringVar(&f.workersPrefix, "asr-workers-prefix", workers.DefaultClientConfig().Prefix, "--asr workers: the workers' --prefix")
	}
	if allowNone {
		kinds += ", or none (talk metrics and time-based cues only)"
	}
	fs.StringVar(&f.kind, "asr", "embedded", "speech recognition: "+kinds)
	f.sphinx.register(fs)
	fs.StringVar(&f.baseURL, "openai-base-url", "", "base URL of the OpenAI-compatible service (default $OPENAI_BASE_URL, else OpenAI's)")
	fs.StringVar(&f.apiKey, "openai-api-key", "", "API key (default $OPENAI_API_KEY); never logged")
	fs.StringVar(&f.model, "asr-model", "", "transcription model (default gpt-4o-mini-transcribe, gpt-4o-transcribe for openai-realtime)")
	fs.StringVar(&f.language, "asr-language", "en", "language of the calls (ISO 639-1; empty to detect)")
	fs.StringVar(&f.format, "asr-format", "json", "response format of /audio/transcriptions: json, verbose_json or text")
	fs.IntVar(&f.chunkMS, "realtime-chunk-ms", 3000, "openai-realtime: commit this much speech at a time while someone talks, for partial transcripts")
	if withLLM {
		fs.BoolVar(&f.useLLM, "llm", false, "ask a chat model (same base URL and key) for second opinions on cues and for post-call notes")
		fs.StringVar(&f.llmModel, "llm-model", "gpt-4o-mini", "chat model for --llm")
	}
	fs.BoolVar(&f.noRemote, "no-remote", false, "refuse any service not on this machine: no audio or text leaves it")
}

func (f *asrFlags) check(allowNone bool) error {
	switch f.kind {
	case "embedded", "openai", "openai-realtime":
	case "workers":
		if !f.withWorkers {
			return usagef("--asr workers is for serve only")
		}
	case "none":
		if !allowNone {
			return usagef("--asr none is not available here")
		}
	default:
		return usagef("--asr must be embedded, openai or openai-realtime")
	}
	return nil
}

func (f *asrFlags) remote(model string) remote.Config {
	rc := remote.Config{BaseURL: f.baseURL, APIKey: f.apiKey, Model: model, Language: f.language, NoRemote: f.noRemote,
		Resilience: remote.DefaultResilience()}
	return rc.WithEnv(os.Getenv)
}

// open opens the chosen recognizer and what releases it; the recognizer
// is nil (no recognition) for --asr none.
func (f *asrFlags) open() (stream.Transcriber, io.Closer, error) {
	switch f.kind {
	case "none":
		return nil, nopCloser{}, nil
	case "workers":
		if f.nc == nil {
			return nil, nil, usagef("--asr workers needs --nats URL")
		}
		cfg := workers.DefaultClientConfig()
		cfg.Prefix = f.workersPrefix
		return workers.NewClient(f.nc, cfg), nopCloser{}, nil
	case "openai":
		cfg := remote.DefaultOpenAIConfig()
		model := f.model
		if model == "" {
			model = cfg.Remote.Model
		}
		cfg.Remote, cfg.Format = f.remote(model), f.format
		o, err := remote.NewOpenAI(cfg)
		if err != nil {
			return nil, nil, remoteError(err)
		}
		return o, nopCloser{}, nil
	case "openai-realtime":
		cfg := remote.DefaultRealtimeConfig()
		model := f.model
		if model == "" {
			model = cfg.Remote.Model
		}
		res := cfg.Remote.Resilience
		cfg.Remote = f.remote(model)
		cfg.Remote.Resilience = res
		cfg.ChunkMS = f.chunkMS
		cfg.Resample = soxr.New
		r, err := remote.NewRealtime(cfg)
		if err != nil {
			return nil, nil, remoteError(err)
		}
		return r, nopCloser{}, nil
	}
	sf := f.sphinx
	if f.oneCall && sf.pool == 0 {
		sf.pool = 2
	}
	s, err := sf.open()
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// advisor opens the language model client for --llm, or nil.
func (f *asrFlags) advisor() (*llm.Client, error) {
	if !f.useLLM {
		return nil, nil
	}
	cfg := llm.DefaultConfig()
	res := cfg.Remote.Resilience
	cfg.Remote = f.remote(f.llmModel)
	cfg.Remote.Resilience = res
	c, err := llm.New(cfg)
	if err != nil {
		return nil, remoteError(err)
	}
	return c, nil
}

// describe names the backends that process a call, for its privacy record.
func describe(tr stream.Transcriber, adv *llm.Client) string {
	var parts []string
	if tr == nil {
		parts = append(parts, "no speech recognition")
	} else if b, ok := stream.DescribeTranscriber(tr); ok {
		parts = append(parts, backendString(b))
	}
	if adv != nil {
		parts = append(parts, backendString(adv.Backend()))
	}
	return strings.Join(parts, "; ")
}

func backendString(b stream.Backend) string {
	where := "on this machine"
	if b.Remote {
		where = "remote: " + b.Host
	} else if b.Host != "" {
		where = "local: " + b.Host
	}
	s := fmt.Sprintf("%s %s (%s", b.Role, b.Name, where)
	if b.Model != "" {
		s += ", model " + b.Model
	}
	return s + ")"
}

func remoteError(err error) error {
	if errors.Is(err, remote.ErrRemoteDisabled) {
		return usageError{err.Error()}
	}
	return err
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

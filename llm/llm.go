// Package llm asks an OpenAI-compatible chat-completions service (OpenAI,
// vLLM, LocalAI, Ollama, ...) for what rules find hard: a second opinion on
// an ambiguous cue, a cue body in the prospect's own context, and the
// notes after a call. Every answer is JSON constrained by a JSON schema.
// Nothing here is on the cue path: reviews run in the background and only
// ever revise a cue that has already been shown.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/stream"
)

// ErrBadAnswer means the model's answer did not follow the schema.
var ErrBadAnswer = errors.New("answer does not follow the schema")

// Config tunes the language-model client.
type Config struct {
	// Remote says where the service is; its Model is the chat model.
	Remote remote.Config
	// Cues lists the cue ids worth a second opinion: the ambiguous
	// signals (pain, value, offer, resistance).
	Cues []string
	// FreshFor is how long after a cue a refined body is still worth
	// showing; later ones are not sent (the rule-based body stays).
	// Withdrawals are sent whenever they come.
	FreshFor time.Duration
	// ContextLines of final transcript are sent with a review.
	ContextLines int
	// MaxReviews run or wait at once per Reviewer; more are dropped
	// (and counted).
	MaxReviews int
	// MaxBody bounds a refined body, in bytes.
	MaxBody int
	// NoLabels turns off the second detector: without it, every final
	// utterance is also labelled with the coach's signals (see Labeler).
	NoLabels bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	r := remote.DefaultResilience()
	r.Timeout, r.MaxAttempts, r.Budget = 8*time.Second, 2, 15*time.Second
	return Config{
		Remote:       remote.Config{Model: "gpt-4o-mini", Resilience: r},
		Cues:         []string{"future_forward", "make_the_ask", "door_opened", "resistance"},
		FreshFor:     4 * time.Second,
		ContextLines: 12,
		MaxReviews:   4,
		MaxBody:      400,
	}
}

// Client calls the chat-completions service. It is safe for concurrent
// use; its Guard is shared by every session.
type Client struct {
	cfg   Config
	oc    *openai.Client
	guard *remote.Guard
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Remote.Model == "" {
		c.Remote.Model = d.Remote.Model
	}
	if c.Cues == nil {
		c.Cues = d.Cues
	}
	if c.FreshFor <= 0 {
		c.FreshFor = d.FreshFor
	}
	if c.ContextLines <= 0 {
		c.ContextLines = d.ContextLines
	}
	if c.MaxReviews <= 0 {
		c.MaxReviews = d.MaxReviews
	}
	if c.MaxBody <= 0 {
		c.MaxBody = d.MaxBody
	}
	return c
}

// New returns a client for cfg (zero fields take their defaults). It does
// no network I/O; it fails on a bad configuration or when NoRemote forbids
// the host.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	oc, err := remote.NewOpenAIClient(cfg.Remote)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	return &Client{cfg: cfg, oc: oc, guard: remote.NewGuard(cfg.Remote.Resilience)}, nil
}

// Backend describes the service for the call's privacy record.
func (c *Client) Backend() stream.Backend {
	return stream.Backend{Role: "llm", Name: "openai-chat", Remote: !c.cfg.Remote.Local(), Host: c.cfg.Remote.Host(), Model: c.cfg.Remote.Model}
}

// Guard returns the client's shared guard (for metrics).
func (c *Client) Guard() *remote.Guard { return c.guard }

// Line is one final utterance of the call, as sent to the model.
type Line struct {
	Speaker string `json:"speaker"`
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
	Text    string `json:"text"`
}

// LineOf returns the Line of a final transcript event.
func LineOf(ev coach.Event) Line {
	return Line{Speaker: ev.Speaker.String(), StartMS: ev.StartMS, EndMS: ev.EndMS, Text: ev.Text}
}

func render(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "[%d s] %s: %s\n", l.StartMS/1000, l.Speaker, l.Text)
	}
	return b.String()
}

// chat runs one JSON-schema-constrained completion and decodes the
// answer into v. It blocks for up to the Resilience budget.
func (c *Client) chat(ctx context.Context, name string, schema json.RawMessage, system, user string, v any) error {
	return c.guard.Do(ctx, func(ctx context.Context) error {
		actx, wrap := remote.WithAnswer(ctx)
		resp, err := c.oc.CreateChatCompletion(actx, openai.ChatCompletionRequest{
			Model: c.cfg.Remote.Model,
			Messages: []openai.ChatCompletionMessage{
				{Role: openai.ChatMessageRoleSystem, Content: system},
				{Role: openai.ChatMessageRoleUser, Content: user},
			},
			Temperature: 0.2,
			ResponseFormat: &openai.ChatCompletionResponseFormat{
				Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
				JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: name, Schema: schema, Strict: true},
			},
		})
		if err != nil {
			return remote.APIError(err, wrap)
		}
		if len(resp.Choices) == 0 {
			return fmt.Errorf("%w: %w: no choices", remote.ErrMalformed, ErrBadAnswer)
		}
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), v); err != nil {
			return fmt.Errorf("%w: %w: %w", remote.ErrMalformed, ErrBadAnswer, err)
		}
		return nil
	})
}

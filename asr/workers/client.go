package workers

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// ClientConfig tunes a Client.
type ClientConfig struct {
	// Prefix is the workers' (Config.Prefix).
	Prefix string
	// Timeout bounds each wait on workers: for one to answer at all (no
	// worker: ErrNoWorkers), and for the transcript after the segment's
	// end while its worker says nothing (at least two seconds: a worker
	// says it is at it every second, however slow the decoding; one that
	// keeps saying so is still given up on after maxWaitFactor times
	// that).
	Timeout time.Duration
	// QueueTimeout bounds how long a segment waits for a free decoder
	// while every worker answers busy; its audio is kept meanwhile.
	QueueTimeout time.Duration
	// AcceptTimeout bounds the wait for a worker's answer to a start (a
	// live worker answers at once, busy or not); no answer counts as an
	// attempt.
	AcceptTimeout time.Duration
	// MaxAttempts is how many workers may take one segment: when one goes
	// away or times out, the segment is replayed on the next.
	MaxAttempts int
	// MaxSegmentMS bounds one segment's audio, all of which the client
	// keeps until its transcript arrives (for a retry); a longer segment
	// is refused with ErrTooLarge.
	MaxSegmentMS int
	// ChunkMS of audio go in one message while a segment is spoken.
	ChunkMS int
	// MaxQueued segments of one side may wait for the previous one's
	// transcript; further ones fail with ErrBacklog.
	MaxQueued int
	// BacklogMS of audio may wait for the stream's goroutine; beyond, the
	// segment is lost (End reports ErrBacklog).
	BacklogMS int
}

// DefaultClientConfig returns the defaults: prefix "cuecard", 5 s timeout,
// 3 attempts, segments up to two minutes, 40 ms chunks (at the end of a
// segment its worker has at most that much audio left to decode).
func DefaultClientConfig() ClientConfig {
	return ClientConfig{Prefix: "cuecard", Timeout: 5 * time.Second, QueueTimeout: 30 * time.Second, AcceptTimeout: time.Second, MaxAttempts: 3, MaxSegmentMS: 120000,
		ChunkMS: 40, MaxQueued: 8, BacklogMS: 10000}
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = d.QueueTimeout
	}
	if c.AcceptTimeout <= 0 {
		c.AcceptTimeout = d.AcceptTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxSegmentMS <= 0 {
		c.MaxSegmentMS = d.MaxSegmentMS
	}
	if c.ChunkMS <= 0 {
		c.ChunkMS = d.ChunkMS
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = d.MaxQueued
	}
	if c.BacklogMS <= 0 {
		c.BacklogMS = d.BacklogMS
	}
	return c
}

// Client recognizes speech on workers: it implements stream.Async (what
// a Pipeline uses: audio is handed over without waiting, transcripts come
// back later) and stream.Transcriber (blocking, one utterance at a time).
// It holds no decoder. It is safe for concurrent use; each Stream owns one
// goroutine, ended by its Close.
type Client struct {
	nc  *nats.Conn
	cfg ClientConfig
}

var (
	_ stream.Transcriber = (*Client)(nil)
	_ stream.Async       = (*Client)(nil)
	_ stream.Describer   = (*Client)(nil)
	_ stream.Reasoner    = (*Client)(nil)
)

// NewClient returns a client of the workers reached through nc, which
// the caller keeps and closes after the client's streams.
func NewClient(nc *nats.Conn, cfg ClientConfig) *Client {
	return &Client{nc: nc, cfg: cfg.withDefaults()}
}

// Backend implements stream.Describer: audio leaves the process for the
// workers behind the NATS server (remote unless that is on loopback).
func (c *Client) Backend() stream.Backend {
	host := ""
	if u, err := url.Parse(c.nc.ConnectedUrlRedacted()); err == nil {
		host = u.Hostname()
	}
	ip := net.ParseIP(host)
	local := host == "localhost" || (ip != nil && ip.IsLoopback())
	return stream.Backend{Role: "asr", Name: "pocketsphinx-workers", Remote: !local, Host: host}
}

// Reason implements stream.Reasoner.
func (c *Client) Reason(err error) string {
	for _, e := range []error{ErrNoWorkers, ErrBusy, ErrTimeout, ErrWorkerLost, ErrTooLarge, ErrDecoder, ErrBacklog, ErrProtocol} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "failed: " + err.Error()
}

// Start implements stream.Transcriber: one stream per utterance, whose
// Finish blocks until the transcript or the failure. Pipelines use Open.
func (c *Client) Start(context.Context) (stream.Utterance, error) {
	return stream.Blocking(c, coach.NoSpeaker), nil
}

// Open implements stream.Async. The side's segments are recognized one
// after another, each on a worker of its own, starting from the
// adaptation state the previous one ended with (as a pipeline does with
// an in-process recognizer), so the transcripts do not depend on where
// each segment was decoded.
func (c *Client) Open(sp coach.Speaker, out chan<- stream.Result) stream.Stream {
	return c.open(sp, out)
}

func (c *Client) open(_ coach.Speaker, out chan<- stream.Result) *cliStream {
	s := &cliStream{c: c, out: out, quit: make(chan struct{}),
		in: make(chan input, c.cfg.BacklogMS/20+4), ev: make(chan reply, 256)}
	s.wg.Go(s.run)
	return s
}

// Recognize decodes one segment on a worker: it sends pcm (16 kHz mono),
// calls partial (if not nil) with each partial transcript, and returns
// the final one. It returns ctx's error when ctx ends first, and then
// tells the worker to drop the segment.
func (c *Client) Recognize(ctx context.Context, pcm []int16, partial func(string)) (string, error) {
	out := make(chan stream.Result, 16)
	s := c.open(coach.NoSpeaker, out)
	defer s.Close()
	s.Begin(1)
	step := c.cfg.ChunkMS * stream.Rate / 1000
	for i := 0; i < len(pcm); i += step {
		if err := s.put(ctx, input{kind: inAudio, pcm: pcm[i:min(i+step, len(pcm))]}); err != nil {
			return "", err
		}
	}
	if err := s.put(ctx, input{kind: inEnd}); err != nil {
		return "", err
	}
	for {
		select {
		case r := <-out:
			if !r.Final {
				if partial != nil {
					partial(r.Text)
				}
				continue
			}
			return r.Text, r.Err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// cliStream is one side's stream: the pipeline's goroutine queues inputs;
// run owns every other field, the subscriptions and the publishes.
type cliStream struct {
	c    *Client
	out  chan<- stream.Result
	in   chan input
	ev   chan reply
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	// pipeline goroutine only
	open, lost bool

	// run goroutine only
	st state
}

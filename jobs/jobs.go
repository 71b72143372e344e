// Package jobs runs durable background work (an upload's analysis, a
// backtest) at least once, on whichever node is free: in-process on one
// node (Local) or shared by every node through a NATS JetStream work
// queue (JetStream). A job is redelivered when the node running it dies
// before acknowledging it, so handlers must be idempotent.
package jobs

import (
	"context"
	"time"
)

// Job is one unit of work as a handler sees it.
type Job struct {
	ID      string
	Kind    string
	Payload []byte
	// Attempt counts deliveries, from 1.
	Attempt int
	// Final is set on the last attempt the queue will make: a handler
	// that fails now should record the failure where users see it.
	Final bool
}

// Handler runs one job. It returns nil when the job is done (the queue
// acknowledges it), an error to have it retried (until MaxAttempts), or
// Permanent(err) to give it up. ctx ends when the queue closes.
type Handler func(ctx context.Context, j Job) error

// Queue is what both engines provide.
type Queue interface {
	// Handle registers the handler of kind; call it before Start.
	Handle(kind string, h Handler) error
	// Start starts the workers; they run until Close.
	Start() error
	// Enqueue stores a job and returns its id once it is durable (for
	// Local: queued in memory). It does not wait for the job to run.
	Enqueue(ctx context.Context, kind string, payload []byte) (string, error)
	// Durable reports whether queued jobs survive this process (JetStream)
	// or must be enqueued again by their owner after a restart (Local).
	Durable() bool
	// Close stops taking jobs, cancels running handlers and waits for
	// the workers. Jobs not acknowledged run again later (JetStream) or
	// are recovered by their owner at the next start (Local).
	Close() error
}

// Config tunes a queue; zero fields take DefaultConfig's values.
type Config struct {
	// Workers is how many jobs one node runs at once.
	Workers int
	// MaxAttempts bounds deliveries of one job, crashes included.
	MaxAttempts int
	// AckWait is how long a delivered job may go without a heartbeat
	// before another node gets it; a running handler's heartbeat comes
	// every AckWait/3.
	AckWait time.Duration
	// Backoff is the delay before retrying a failed job.
	Backoff time.Duration
	// Buffer bounds Local's queue of waiting jobs; Enqueue blocks when
	// it is full.
	Buffer int
	// Prefix names the JetStream stream, subjects and consumer, so that
	// deployments (and tests) sharing a NATS server stay apart. Letters,
	// digits, '-' and '_' only.
	Prefix string
	// OnDead, if set, is called (from a worker) when a job is given up:
	// after MaxAttempts or a Permanent error.
	OnDead func(j Job, err error)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Workers:     2,
		MaxAttempts: 5,
		AckWait:     30 * time.Second,
		Backoff:     2 * time.Second,
		Buffer:      256,
		Prefix:      "cuecard",
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.Backoff <= 0 {
		c.Backoff = d.Backoff
	}
	if c.Buffer <= 0 {
		c.Buffer = d.Buffer
	}
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	return c
}

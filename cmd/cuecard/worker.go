package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/asr/workers"
)

// runWorker is `cuecard worker`: the embedded recognizer, decoding
// speech segments for any server of the cluster (--asr workers).
func runWorker(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("worker", stderr)
	var (
		natsURL, prefix string
		decoders        int
		sf              sphinxFlags
	)
	d := workers.DefaultConfig()
	fs.StringVar(&natsURL, "nats", "", "NATS server URL, e.g. nats://127.0.0.1:4222 (required)")
	fs.StringVar(&prefix, "prefix", d.Prefix, "subject prefix shared with the servers' --asr-workers-prefix")
	fs.IntVar(&decoders, "decoders", 0, "segments decoded at once, each on a recognizer of its own (0: --sphinx-pool's size, four per CPU)")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if natsURL == "" {
		return usagef("--nats is required")
	}
	if decoders < 0 {
		return usagef("--decoders must not be negative")
	}
	if decoders > 0 && sf.pool == 0 {
		sf.pool = decoders
	}
	rec, err := sf.open()
	if err != nil {
		return fmt.Errorf("speech recognition: %w", err)
	}
	defer rec.Close()
	nc, err := connectNATS(natsURL, "cuecard worker")
	if err != nil {
		return err
	}
	defer nc.Close()
	cfg := d
	cfg.Prefix, cfg.Decoders = prefix, decoders
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	w, err := workers.Listen(nc, cfg, rec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cuecard worker %s: %d decoders serving %s.asr.segment on %s\n", w.ID(), w.Size(), prefix, nc.ConnectedUrlRedacted())
	return w.Run(ctx)
}

// connectNATS connects to the NATS server at url; the connection tries to
// reconnect for as long as it is open.
func connectNATS(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return nc, nil
}

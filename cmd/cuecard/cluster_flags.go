package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/jobs"
	"github.com/cuecard/cuecard/server"
)

// storageFlags choose where recordings live and how uploads run when
// several nodes share the work: --recordings (a shared directory or S3)
// and --jobs (in process, or a NATS JetStream work queue).
type storageFlags struct {
	recordings string
	jobs       string
	jobsPrefix string
	node       string
	nats       natsFlag

	store blob.Store
	queue jobs.Queue
}

func (f *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.recordings, "recordings", "", "keep recordings where every node reads them: dir:/shared/path, or s3://bucket?endpoint=host:port&region=r&insecure=1 (keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); default: under --data only")
	fs.StringVar(&f.jobs, "jobs", "", "run upload analyses as jobs: local (this process) or nats (a JetStream work queue any node takes from; needs --nats); default: nats with --nats, else on the node that accepted them")
	fs.StringVar(&f.jobsPrefix, "jobs-prefix", jobs.DefaultConfig().Prefix, "name of the JetStream stream and subjects of --jobs nats (deployments sharing a NATS server each take their own)")
}

// check validates the flags, once the cluster's --nats and --node-id are
// set in f; it contacts nothing.
func (f *storageFlags) check() error {
	if f.jobs == "" && f.nats.url != "" {
		f.jobs = "nats"
	}
	if f.recordings != "" {
		st, err := blob.Parse(f.recordings)
		if err != nil {
			return usagef("--recordings: %v", err)
		}
		f.store = st
	}
	switch f.jobs {
	case "", "local":
	case "nats":
		if f.nats.url == "" {
			return usagef("--jobs nats needs --nats")
		}
	default:
		return usagef("--jobs: want local or nats, not %q", f.jobs)
	}
	return nil
}

// open connects what the flags name and sets cfg's Recordings, Jobs and
// NodeID; call start after server.New.
func (f *storageFlags) open(ctx context.Context, cfg *server.Config, log *slog.Logger) error {
	cfg.Recordings, cfg.NodeID = f.store, f.node
	jc := jobs.DefaultConfig()
	jc.Prefix = f.jobsPrefix
	switch f.jobs {
	case "local":
		f.queue = jobs.NewLocal(jc, log)
	case "nats":
		nc, err := f.nats.connect(log)
		if err != nil {
			return err
		}
		q, err := jobs.NewJetStream(ctx, nc, jc, log)
		if err != nil {
			return err
		}
		f.queue = q
	default:
		return nil
	}
	cfg.Jobs = f.queue
	return nil
}

// start starts the job workers (after the server registered its
// handlers).
func (f *storageFlags) start() error {
	if f.queue == nil {
		return nil
	}
	return f.queue.Start()
}

// close stops the job workers (unfinished jobs go to another node) and
// closes the NATS connection.
func (f *storageFlags) close() {
	if f.queue != nil {
		f.queue.Close()
	}
	f.nats.close()
}

// natsFlag is the connection to the cluster's --nats that the jobs use,
// apart from the cluster's events.
type natsFlag struct {
	url string
	nc  *nats.Conn
}

// connect returns the connection, opening it at the first call.
func (n *natsFlag) connect(log *slog.Logger) (*nats.Conn, error) {
	if n.nc != nil {
		return n.nc, nil
	}
	nc, err := nats.Connect(n.url, nats.Name("cuecard"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", n.url, err)
	}
	n.nc = nc
	return nc, nil
}

func (n *natsFlag) close() {
	if n.nc != nil {
		n.nc.Close()
		n.nc = nil
	}
}

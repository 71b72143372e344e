package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/nats-io/nuid"

	"github.com/cuecard/cuecard/bench"
)

// benchNodeFlags are bench's flags for a cluster of servers.
type benchNodeFlags struct {
	nodes    int
	database string
	watch    bool
}

func (f *benchNodeFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.nodes, "nodes", 1, "server processes to start; more than one makes a cluster on --database and --nats, and calls are spread over them")
	fs.StringVar(&f.database, "database", "", "--nodes: the PostgreSQL database the nodes share (a scratch one: bench leaves its sessions there)")
	fs.BoolVar(&f.watch, "watch", true, "--nodes: watch each call from another node too (cross-node event push)")
}

func (f *benchNodeFlags) check(natsURL string) error {
	switch {
	case f.nodes < 1 || f.nodes > 16:
		return usagef("--nodes: want 1 to 16")
	case f.nodes > 1 && (f.database == "" || natsURL == ""):
		return usagef("--nodes %d needs --database URL and --nats URL", f.nodes)
	}
	return nil
}

// benchNodes are the server processes of one bench level.
type benchNodes struct {
	srvs   []*bench.Server
	secret string
}

// startBenchNodes starts f.nodes servers with args, each with a data
// directory under data; several join one cluster of their own.
func startBenchNodes(ctx context.Context, exe, data, natsURL string, f benchNodeFlags, args []string) (*benchNodes, error) {
	b := &benchNodes{}
	if f.nodes == 1 {
		srv, err := bench.StartServer(ctx, exe, append(args, "--data", data)...)
		if err != nil {
			return nil, err
		}
		b.srvs = append(b.srvs, srv)
		return b, nil
	}
	prefix := "bench" + strings.ToLower(nuid.Next())
	b.secret = filepath.Join(data, "cluster.secret")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.secret, []byte(nuid.Next()+nuid.Next()), 0o600); err != nil {
		return nil, err
	}
	for k := range f.nodes {
		id := "n" + strconv.Itoa(k+1)
		srv, err := bench.StartServer(ctx, exe, append(args, "--data", filepath.Join(data, id), "--database", f.database,
			"--nats", natsURL, "--cluster-prefix", prefix, "--cluster-secret-file", b.secret, "--jobs-prefix", prefix, "--node-id", id)...)
		if err != nil {
			b.stop()
			return nil, fmt.Errorf("node %s: %w", id, err)
		}
		b.srvs = append(b.srvs, srv)
	}
	return b, nil
}

func (b *benchNodes) urls() []string {
	var us []string
	for _, s := range b.srvs {
		us = append(us, s.URL)
	}
	return us
}

// usage sums the nodes' usage.
func (b *benchNodes) usage() (bench.Usage, error) {
	var sum bench.Usage
	for _, s := range b.srvs {
		u, err := s.Usage()
		if err != nil {
			return sum, err
		}
		sum.CPU += u.CPU
		sum.RSS += u.RSS
		sum.Peak += u.Peak
		sum.Goroutines += u.Goroutines
		sum.Dropped += u.Dropped
		sum.Published += u.Published
	}
	return sum, nil
}

// commits returns how many transactions the cluster's PostgreSQL database
// has committed so far (0 without one).
func (f benchNodeFlags) commits(ctx context.Context) (int64, error) {
	if f.nodes == 1 || f.database == "" {
		return 0, nil
	}
	db, err := sql.Open("pgx", f.database)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// report prints what the cluster moved per second of call.
func (f benchNodeFlags) report(out io.Writer, before, after bench.Usage, commits int64, audio time.Duration) {
	if f.nodes == 1 {
		return
	}
	fmt.Fprintf(out, "          cluster: %d nodes, %.1f events published to NATS and %.1f PostgreSQL commits per s of call (commits counted for the whole database)\n",
		f.nodes, (after.Published-before.Published)/audio.Seconds(), float64(commits)/audio.Seconds())
}

func (b *benchNodes) setToken(tok string) {
	for _, s := range b.srvs {
		s.Token = tok
	}
}

func (b *benchNodes) stop() {
	for _, s := range b.srvs {
		s.Stop()
	}
}

// Package clustertest gives tests a NATS server with JetStream: the shared
// one the machine runs (skipped, or failed in CI, when it is not there),
// or a private nats-server of the test's own that can be paused and
// restarted; and names of their own for each test's buckets and subjects.
package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cuecard/cuecard/cluster"
)

// URL returns the shared NATS server's URL ($CUECARD_TEST_NATS, else
// nats://127.0.0.1:4222). It skips the test when the server cannot be
// reached, or fails it when $CI is set.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("CUECARD_TEST_NATS")
	if u == "" {
		u = nats.DefaultURL
	}
	nc, err := nats.Connect(u, nats.Timeout(time.Second))
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("NATS at %s unreachable in CI: %v", u, err)
		}
		tb.Skipf("NATS at %s unreachable: %v", u, err)
	}
	nc.Close()
	return u
}

// Conn connects to the shared NATS server (see URL) and closes the
// connection when the test ends.
func Conn(tb testing.TB) *nats.Conn {
	tb.Helper()
	u := URL(tb)
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		tb.Fatalf("NATS at %s: %v", u, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

var seq atomic.Int64

// Config returns a cluster configuration for node on the NATS server at
// url with a prefix of the test's own (its buckets are deleted when the
// test ends) and a fast heartbeat: a node is dead 500 ms after its last.
// Configurations of the same cluster share the returned Prefix.
func Config(tb testing.TB, url string) cluster.Config {
	tb.Helper()
	cfg := cluster.DefaultConfig()
	cfg.URL = url
	cfg.Prefix = fmt.Sprintf("cctest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, seq.Add(1))
	cfg.HeartbeatEvery = 100 * time.Millisecond
	cfg.TTL = 500 * time.Millisecond
	tb.Cleanup(func() { dropBuckets(url, cfg.Prefix) })
	return cfg
}

func dropBuckets(url, prefix string) {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js.DeleteKeyValue(ctx, prefix+"_nodes")
	js.DeleteKeyValue(ctx, prefix+"_sessions")
}

// Join joins node id (advertised at url) to the cluster of cfg; it leaves
// when the test ends.
func Join(tb testing.TB, cfg cluster.Config, id, url string) *cluster.Node {
	tb.Helper()
	cfg.NodeID, cfg.AdvertiseURL = id, url
	n, err := cluster.Join(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Close)
	return n
}

// NATS is a private nats-server with JetStream (its store in a temporary
// directory), on a free loopback port that a restart keeps.
type NATS struct {
	tb   testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

// Start runs a private nats-server (/usr/sbin/nats-server or one on the
// PATH); it is skipped (failed in CI) without one, and stopped when the
// test ends.
func Start(tb testing.TB) *NATS {
	tb.Helper()
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nats-server"); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatal("nats-server not installed")
			}
			tb.Skip("nats-server not installed")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &NATS{tb: tb, bin: bin, port: port, dir: tb.TempDir()}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// URL returns the server's URL.
func (s *NATS) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Restart starts the server (again, after Stop) and waits until it
// answers.
func (s *NATS) Restart() {
	s.tb.Helper()
	s.Stop()
	s.cmd = exec.Command(s.bin, "-js", "-sd", s.dir, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(s.URL(), nats.Timeout(200*time.Millisecond))
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("nats-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// Pause stops the server's process (SIGSTOP): connections stay open and
// nothing answers.
func (s *NATS) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *NATS) Resume() { s.signal(syscall.SIGCONT) }

func (s *NATS) signal(sig os.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatal(err)
	}
}

// Stop kills the server (paused or not) and waits for it.
func (s *NATS) Stop() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

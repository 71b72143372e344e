package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/cluster/clustertest"
)

func TestClusterFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("a long enough cluster secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CUECARD_CLUSTER_SECRET", "")
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"alone", nil, ""},
		{"no secret", []string{"--nats", "nats://127.0.0.1:4222"}, "cluster secret"},
		{"node id alone", []string{"--node-id", "n1"}, "need --nats"},
		{"bad advertise URL", []string{"--nats", "nats://x", "--cluster-secret-file", secret, "--advertise-url", "ftp://x"}, "--advertise-url"},
		{"bad node id", []string{"--nats", "nats://x", "--cluster-secret-file", secret, "--node-id", "a.b"}, "--node-id"},
		{"ok", []string{"--nats", "nats://x", "--cluster-secret-file", secret}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newServeMain(io.Discard, io.Discard)
			err := m.ParseFlags(tt.args, io.Discard)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
			if tt.name == "ok" && (m.cluster.nodeID == "" || string(m.cluster.secret) != "a long enough cluster secret") {
				t.Fatalf("node id %q, secret %q", m.cluster.nodeID, m.cluster.secret)
			}
		})
	}
}

// TestServeJoinsCluster runs cuecard serve --nats: the node joins with its
// listener's address as the URL other nodes reach it at.
func TestServeJoinsCluster(t *testing.T) {
	cfg := clustertest.Config(t, clustertest.URL(t))
	t.Setenv("CUECARD_CLUSTER_SECRET", "a long enough cluster secret")
	m, stop := startServeMain(t, t.TempDir(), io.Discard, "--nats", cfg.URL, "--cluster-prefix", cfg.Prefix, "--node-id", "n1")
	defer stop()
	n := m.cluster.node
	if n == nil || n.ID() != "n1" || n.URL() != "http://"+m.ln.Addr().String() {
		t.Fatalf("node %+v", n)
	}
}

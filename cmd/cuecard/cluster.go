package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cuecard/cuecard/cluster"
	"github.com/cuecard/cuecard/server"
)

// clusterFlags are the flags of cluster mode (cuecard serve --nats).
type clusterFlags struct {
	natsURL    string
	prefix     string
	nodeID     string
	advertise  string
	secretFile string
	secret     []byte
	node       *cluster.Node
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.natsURL, "nats", "", "join a cluster through this NATS server (JetStream), e.g. nats://127.0.0.1:4222; needs a shared --database")
	fs.StringVar(&f.prefix, "cluster-prefix", "cuecard", "prefix of the cluster's NATS subjects and buckets (clusters sharing one NATS server need their own)")
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id in the cluster (default: the host name and a random suffix)")
	fs.StringVar(&f.advertise, "advertise-url", "", "this node's own base URL as the other nodes reach it (default: from the listen address)")
	fs.StringVar(&f.secretFile, "cluster-secret-file", "", "file holding the secret every node of the cluster shares (default: $CUECARD_CLUSTER_SECRET)")
}

// check validates the flags after parsing and reads the secret.
func (f *clusterFlags) check() error {
	if f.natsURL == "" {
		if f.nodeID != "" || f.advertise != "" || f.secretFile != "" {
			return usagef("--node-id, --advertise-url and --cluster-secret-file need --nats")
		}
		return nil
	}
	s := os.Getenv("CUECARD_CLUSTER_SECRET")
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return usagef("--cluster-secret-file: %v", err)
		}
		s = string(b)
	}
	if s = strings.TrimSpace(s); len(s) < 16 {
		return usagef("--nats needs a cluster secret of at least 16 characters (--cluster-secret-file or $CUECARD_CLUSTER_SECRET)")
	}
	f.secret = []byte(s)
	if f.nodeID == "" {
		f.nodeID = defaultNodeID()
	}
	if strings.Trim(f.nodeID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return usagef("--node-id %q: letters, digits, '-' and '_' only", f.nodeID)
	}
	if f.advertise != "" {
		if u, err := url.Parse(f.advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--advertise-url %q: want http(s)://host[:port]", f.advertise)
		}
	}
	return nil
}

// defaultNodeID is the host name (letters, digits, '-' and '_' kept) and a
// random suffix, so that a restarted node is a new one.
func defaultNodeID() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, h)
	b := make([]byte, 3)
	rand.Read(b)
	if h == "" {
		h = "node"
	}
	return h + "-" + hex.EncodeToString(b)
}

// advertiseURL is --advertise-url, else the listener's address with the
// scheme of --public-url (a host name for a listener on all interfaces).
func (f *clusterFlags) advertiseURL(ln net.Listener, publicURL string, tls bool) string {
	if f.advertise != "" {
		return strings.TrimSuffix(f.advertise, "/")
	}
	scheme := "http"
	if u, err := url.Parse(publicURL); tls || (err == nil && u.Scheme == "https") {
		scheme = "https"
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host, _ = os.Hostname()
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// join joins the cluster, if --nats was given, and sets cfg to use it.
func (f *clusterFlags) join(ctx context.Context, cfg *server.Config, ln net.Listener, publicURL string) error {
	if f.natsURL == "" {
		return nil
	}
	cc := cluster.DefaultConfig()
	cc.URL, cc.NodeID, cc.Prefix = f.natsURL, f.nodeID, f.prefix
	cc.AdvertiseURL = f.advertiseURL(ln, publicURL, cfg.TLS != nil)
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n, err := cluster.Join(jctx, cc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	f.node = n
	cfg.Cluster, cfg.ClusterSecret = n, f.secret
	return nil
}

// close leaves the cluster.
func (f *clusterFlags) close() {
	if f.node != nil {
		f.node.Close()
	}
}

var _ server.Cluster = (*cluster.Node)(nil)

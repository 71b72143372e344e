// Package cluster joins cuecard servers into one: a registry of nodes
// (heartbeats with a time to live) and of which node owns each live
// session, both in NATS JetStream key-value buckets, and the live events of
// every session on NATS subjects so that any node can show them. It knows
// nothing of HTTP or of the server; the server declares what it needs of a
// Node.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Node.
type Config struct {
	// URL is the NATS server (or a comma-separated list of them).
	URL string
	// NodeID names this node; it must be unique in the cluster.
	NodeID string
	// AdvertiseURL is this node's base URL as other nodes reach it
	// (scheme://host:port), where relayed requests are sent.
	AdvertiseURL string
	// Prefix starts every subject and bucket name ("cuecard"), so that
	// clusters (and tests) sharing one NATS server do not meet.
	Prefix string
	// HeartbeatEvery is how often the node renews its registry entry and
	// reports the progress of its sessions.
	HeartbeatEvery time.Duration
	// TTL is how long after its last heartbeat a node counts as dead.
	TTL time.Duration
	// PublishBuffer bounds the events waiting to be published; beyond it
	// they are dropped (and counted), never waited for.
	PublishBuffer int
	// OpTimeout bounds one registry operation.
	OpTimeout time.Duration
	// Log receives connection changes; nil discards them.
	Log *slog.Logger
}

// DefaultConfig returns the defaults: prefix "cuecard", a heartbeat every
// second, dead after 3 s.
func DefaultConfig() Config {
	return Config{
		URL:            nats.DefaultURL,
		Prefix:         "cuecard",
		HeartbeatEvery: time.Second,
		TTL:            3 * time.Second,
		PublishBuffer:  8192,
		OpTimeout:      2 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.URL == "" {
		c.URL = d.URL
	}
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = d.HeartbeatEvery
	}
	if c.TTL <= 0 {
		c.TTL = d.TTL
	}
	if c.TTL < 2*c.HeartbeatEvery {
		c.TTL = 2 * c.HeartbeatEvery
	}
	if c.PublishBuffer <= 0 {
		c.PublishBuffer = d.PublishBuffer
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Peer is a node of the cluster.
type Peer struct {
	ID  string
	URL string // its AdvertiseURL
}

// Record is what the registry holds of a session's owner: the node and
// the media time the session had reached at wall time At (reported every
// heartbeat).
type Record struct {
	Node    string
	MediaMS int64
	At      time.Time
}

type recordJSON struct {
	Node    string `json:"node"`
	MediaMS int64  `json:"media_ms"`
	At      int64  `json:"at"` // unix ms
}

type nodeJSON struct {
	URL      string `json:"url"`
	At       int64  `json:"at"` // unix ms
	Sessions int    `json:"sessions"`
}

// Stats counts what the node did; see Node.Stats.
type Stats struct {
	Published     uint64 // events handed to NATS
	Dropped       uint64 // events not published (buffer full, NATS refused)
	SlowConsumers uint64 // subscriptions that fell behind
	Takeovers     uint64 // sessions claimed from a dead node
	Disconnects   uint64
	Reconnects    uint64
}

// owned is a session this node claimed.
type owned struct {
	rev     uint64
	mediaMS int64
	dirty   bool
}

type pubMsg struct {
	subject string
	seq     int64
	data    []byte
}

// Node is this server's membership of the cluster. Join starts it; its
// goroutines (heartbeat, publisher) end in Close. Safe for concurrent use.
type Node struct {
	cfg      Config
	nc       *nats.Conn
	nodes    jetstream.KeyValue
	sessions jetstream.KeyValue
	pubq     chan pubMsg
	quit     chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	owned map[string]*owned

	closeOnce                                         sync.Once
	published, dropped, slow, takeovers, disc, reconn atomic.Uint64
}

// Join connects to NATS, creates the registry buckets if needed, registers
// the node and starts its heartbeat. It fails if NATS cannot be reached
// within ctx; once joined, losing NATS only degrades the node (events are
// dropped, claims fail) until it reconnects.
func Join(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if cfg.NodeID == "" || !validID(cfg.NodeID) {
		return nil, fmt.Errorf("join cluster: node id %q: %w", cfg.NodeID, ErrBadID)
	}
	n := &Node{cfg: cfg, pubq: make(chan pubMsg, cfg.PublishBuffer), quit: make(chan struct{}), owned: map[string]*owned{}}
	nc, err := nats.Connect(cfg.URL, n.options()...)
	if err != nil {
		return nil, fmt.Errorf("join cluster: connect %s: %w", cfg.URL, err)
	}
	n.nc = nc
	if err := n.buckets(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	if err := n.heartbeat(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("join cluster: register node: %w", err)
	}
	n.wg.Go(n.heartbeatLoop)
	n.wg.Go(n.publishLoop)
	return n, nil
}

func (n *Node) options() []nats.Option {
	log := n.cfg.Log
	return []nats.Option{
		nats.Name("cuecard " + n.cfg.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(8 << 20),
		nats.Timeout(n.cfg.OpTimeout),
		nats.FlusherTimeout(n.cfg.OpTimeout),
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.disc.Add(1)
			log.Warn("cluster: disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.reconn.Add(1)
			log.Info("cluster: reconnected to NATS", "url", c.ConnectedUrl())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.slow.Add(1)
				return
			}
			log.Warn("cluster: NATS error", "err", err)
		}),
	}
}

// buckets creates (or opens) the registry's two buckets.
func (n *Node) buckets(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 4*n.cfg.OpTimeout)
	defer cancel()
	n.nodes, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.cfg.Prefix + "_nodes", TTL: n.cfg.TTL, History: 1, Storage: jetstream.FileStorage,
		Description: "cuecard nodes: id to advertise URL and heartbeat",
	})
	if err != nil {
		return fmt.Errorf("nodes bucket: %w", err)
	}
	n.sessions, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.cfg.Prefix + "_sessions", History: 1, Storage: jetstream.FileStorage,
		Description: "cuecard sessions: id to owner node",
	})
	if err != nil {
		return fmt.Errorf("sessions bucket: %w", err)
	}
	return nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// URL returns the node's advertise URL.
func (n *Node) URL() string { return n.cfg.AdvertiseURL }

// Connected reports whether the node is connected to NATS now.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Stats returns the node's counters so far.
func (n *Node) Stats() Stats {
	return Stats{Published: n.published.Load(), Dropped: n.dropped.Load(), SlowConsumers: n.slow.Load(),
		Takeovers: n.takeovers.Load(), Disconnects: n.disc.Load(), Reconnects: n.reconn.Load()}
}

// Close stops the heartbeat and the publisher and closes the connection.
// The node's registry entry is left to expire, as after a crash: sessions
// it still owns can be taken over once it has. Safe to call more than once.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		close(n.quit)
		n.nc.Close()
		n.wg.Wait()
	})
}

func (n *Node) closed() bool {
	select {
	case <-n.quit:
		return true
	default:
		return false
	}
}

// heartbeatLoop renews the node's entry and reports its sessions'
// progress until Close.
func (n *Node) heartbeatLoop() {
	t := time.NewTicker(n.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
		if err := n.heartbeat(ctx); err != nil && !n.closed() {
			n.cfg.Log.Warn("cluster: heartbeat", "err", err)
		}
		n.reportProgress(ctx)
		cancel()
	}
}

func (n *Node) heartbeat(ctx context.Context) error {
	n.mu.Lock()
	count := len(n.owned)
	n.mu.Unlock()
	b, _ := json.Marshal(nodeJSON{URL: n.cfg.AdvertiseURL, At: time.Now().UnixMilli(), Sessions: count})
	_, err := n.nodes.Put(ctx, n.cfg.NodeID, b)
	return err
}

// reportProgress writes the media time of each owned session that moved
// since the last report. A session whose record changed under it was taken
// over by another node: it is forgotten here.
func (n *Node) reportProgress(ctx context.Context) {
	type upd struct {
		id  string
		rev uint64
		ms  int64
	}
	var ups []upd
	n.mu.Lock()
	for id, o := range n.owned {
		if o.dirty {
			ups = append(ups, upd{id, o.rev, o.mediaMS})
			o.dirty = false
		}
	}
	n.mu.Unlock()
	for _, u := range ups {
		rev, err := n.sessions.Update(ctx, u.id, n.record(u.ms), u.rev)
		n.mu.Lock()
		if o := n.owned[u.id]; o != nil && o.rev == u.rev {
			switch {
			case err == nil:
				o.rev = rev
			case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
				delete(n.owned, u.id)
				n.cfg.Log.Warn("cluster: session taken over by another node", "session", u.id)
			default:
				o.dirty = true
			}
		}
		n.mu.Unlock()
	}
}

func (n *Node) record(mediaMS int64) []byte {
	b, _ := json.Marshal(recordJSON{Node: n.cfg.NodeID, MediaMS: mediaMS, At: time.Now().UnixMilli()})
	return b
}

func decodeRecord(b []byte) Record {
	var r recordJSON
	json.Unmarshal(b, &r)
	rec := Record{Node: r.Node, MediaMS: r.MediaMS}
	if r.At > 0 {
		rec.At = time.UnixMilli(r.At)
	}
	return rec
}

// Claim makes this node the owner of session id: it succeeds when nobody
// owns it, when this node already does, or when its owner is dead (its
// registry entry expired), and fails with ErrOwned when a live node owns
// it. The registry's revisions make it safe against other nodes claiming
// at the same time. It returns the previous owner's record (zero if there
// was none), whose progress a takeover resumes from.
func (n *Node) Claim(ctx context.Context, id string) (Record, error) {
	if !validID(id) {
		return Record{}, ErrBadID
	}
	if n.closed() {
		return Record{}, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.OpTimeout)
	defer cancel()
	for {
		e, err := n.sessions.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			rev, err := n.sessions.Create(ctx, id, n.record(0))
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // claimed meanwhile: look again
			}
			if err != nil {
				return Record{}, fmt.Errorf("claim %s: %w", id, err)
			}
			n.own(id, rev, 0)
			return Record{}, nil
		}
		if err != nil {
			return Record{}, fmt.Errorf("claim %s: %w", id, err)
		}
		prev := decodeRecord(e.Value())
		if prev.Node != n.cfg.NodeID {
			if _, alive, err := n.peer(ctx, prev.Node); err != nil {
				return prev, fmt.Errorf("claim %s: %w", id, err)
			} else if alive {
				return prev, ErrOwned
			}
		}
		rev, err := n.sessions.Update(ctx, id, n.record(prev.MediaMS), e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return prev, fmt.Errorf("claim %s: %w", id, err)
		}
		if prev.Node != n.cfg.NodeID {
			n.takeovers.Add(1)
		}
		n.own(id, rev, prev.MediaMS)
		return prev, nil
	}
}

func (n *Node) own(id string, rev uint64, mediaMS int64) {
	n.mu.Lock()
	n.owned[id] = &owned{rev: rev, mediaMS: mediaMS}
	n.mu.Unlock()
}

// Release gives up the ownership of session id (at its end). It does
// nothing if another node owns it.
func (n *Node) Release(ctx context.Context, id string) error {
	n.mu.Lock()
	delete(n.owned, id)
	n.mu.Unlock()
	if !validID(id) {
		return ErrBadID
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	e, err := n.sessions.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	if decodeRecord(e.Value()).Node != n.cfg.NodeID {
		return nil
	}
	err = n.sessions.Delete(ctx, id, jetstream.LastRevision(e.Revision()))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("release %s: %w", id, err)
	}
	return nil
}

// Progress notes that session id, owned here, has reached media time
// mediaMS; the next heartbeat reports it. It never blocks on the network.
func (n *Node) Progress(id string, mediaMS int64) {
	n.mu.Lock()
	if o := n.owned[id]; o != nil && o.mediaMS != mediaMS {
		o.mediaMS, o.dirty = mediaMS, true
	}
	n.mu.Unlock()
}

// Owns reports whether this node still owns session id: it claimed it,
// has not released it, and no other node took it over (which the next
// progress report finds out). It never blocks on the network.
func (n *Node) Owns(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owned[id] != nil
}

// Owner returns the node that owns session id and whether it is alive,
// with the owner's record. It fails with ErrNoOwner if none claimed it.
func (n *Node) Owner(ctx context.Context, id string) (Peer, bool, error) {
	p, alive, _, err := n.OwnerRecord(ctx, id)
	return p, alive, err
}

// OwnerRecord is Owner with the owner's record (its last progress).
func (n *Node) OwnerRecord(ctx context.Context, id string) (Peer, bool, Record, error) {
	if !validID(id) {
		return Peer{}, false, Record{}, ErrBadID
	}
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.OpTimeout)
	defer cancel()
	e, err := n.sessions.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Peer{}, false, Record{}, ErrNoOwner
	}
	if err != nil {
		return Peer{}, false, Record{}, fmt.Errorf("owner of %s: %w", id, err)
	}
	rec := decodeRecord(e.Value())
	p, alive, err := n.peer(ctx, rec.Node)
	return p, alive, rec, err
}

// peer looks node id up in the registry; a node without an entry is dead.
func (n *Node) peer(ctx context.Context, id string) (Peer, bool, error) {
	if id == n.cfg.NodeID {
		return Peer{ID: id, URL: n.cfg.AdvertiseURL}, !n.closed(), nil
	}
	if !validID(id) {
		return Peer{ID: id}, false, nil
	}
	e, err := n.nodes.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Peer{ID: id}, false, nil
	}
	if err != nil {
		return Peer{ID: id}, false, fmt.Errorf("node %s: %w", id, err)
	}
	var v nodeJSON
	json.Unmarshal(e.Value(), &v)
	return Peer{ID: id, URL: v.URL}, true, nil
}

// subject is where session id's live events go.
func (n *Node) subject(id string) string { return n.cfg.Prefix + ".session." + id + ".events" }

// Header names of a published event.
const (
	hdrSeq  = "Cuecard-Seq"
	hdrNode = "Cuecard-Node"
)

// Publish sends one event of session id (its sequence number seq and its
// JSON) to the nodes watching it. It never blocks: when the publisher is
// behind (NATS slow or away) the event is dropped and counted. Viewers fill
// such gaps from the store.
func (n *Node) Publish(id string, seq int64, data []byte) {
	if n.closed() {
		n.dropped.Add(1)
		return
	}
	select {
	case n.pubq <- pubMsg{subject: n.subject(id), seq: seq, data: data}:
	default:
		n.dropped.Add(1)
	}
}

// publishLoop hands queued events to NATS (which buffers them while it
// reconnects, up to its reconnect buffer) until Close.
func (n *Node) publishLoop() {
	for {
		select {
		case <-n.quit:
			return
		case m := <-n.pubq:
			msg := &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{}}
			msg.Header.Set(hdrSeq, strconv.FormatInt(m.seq, 10))
			msg.Header.Set(hdrNode, n.cfg.NodeID)
			if err := n.nc.PublishMsg(msg); err != nil {
				n.dropped.Add(1)
				continue
			}
			n.published.Add(1)
		}
	}
}

// validID reports whether s can be one token of a subject and a key.
func validID(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

package server_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/cluster"
	"github.com/cuecard/cuecard/cluster/clustertest"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
)

// clusterSecret is the test cluster's shared secret.
var clusterSecret = []byte("a secret every test node shares")

// node is one server of a test cluster.
type node struct {
	*testServer
	id     string
	member *cluster.Node
	url    string
}

// startNodes starts one server per id, all on the data directory dir (one
// SQLite file: the shared store) and in the cluster of cfg.
func startNodes(t *testing.T, cfg cluster.Config, dir string, edit func(*server.Config), ids ...string) []*node {
	t.Helper()
	var nodes []*node
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n := &node{id: id, url: "http://" + ln.Addr().String()}
		n.member = clustertest.Join(t, cfg, id, n.url)
		s := servertest.Start(t, servertest.Options{Dir: dir, Edit: func(c *server.Config) {
			c.InputBuffer = 100000
			c.Cluster, c.ClusterSecret = n.member, clusterSecret
			if edit != nil {
				edit(c)
			}
		}, Listener: func(l net.Listener) net.Listener { l.Close(); return ln }})
		n.testServer = &testServer{srv: s.Srv, ts: s.TS, db: s.DB, dir: s.Dir, cl: s.Client, st: s}
		nodes = append(nodes, n)
	}
	return nodes
}

// kill stops the node as kill -9 would: no more heartbeats, its sessions
// stop without ending, its sockets drop.
func (n *node) kill() {
	n.member.Close()
	n.srv.Kill()
	n.st.Close()
}

// balancer is a load balancer in front of the nodes, sending every new
// connection to the node chosen last.
type balancer struct {
	target atomic.Pointer[url.URL]
	ts     *httptest.Server
}

func newBalancer(t *testing.T, to *node) *balancer {
	t.Helper()
	b := &balancer{}
	b.point(to)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(b.target.Load()) }}
	b.ts = httptest.NewServer(rp)
	t.Cleanup(b.ts.Close)
	return b
}

func (b *balancer) point(to *node) {
	u, _ := url.Parse(to.url)
	b.target.Store(u)
}

// watch reads a viewer socket of session id on n until it closes.
func watch(t *testing.T, n *node, id string) (*collector, <-chan error) {
	t.Helper()
	conn, err := n.cl.DialEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var c collector
	done := make(chan error, 1)
	go func() { done <- client.ReadEvents(conn, c.add) }()
	return &c, done
}

func waitDone(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: not done after 60 s", what)
	}
}

// eventKeys identifies events for comparisons.
func eventKeys(evs []coach.Event) []string {
	var out []string
	for _, ev := range evs {
		b, _ := ev.MarshalJSON()
		out = append(out, string(b))
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want []coach.Event) {
	t.Helper()
	g, w := eventKeys(got), eventKeys(want)
	if len(g) != len(w) {
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				for j := max(0, i-2); j < min(i+4, len(g), len(w)); j++ {
					t.Logf("%d: got %.90s\n     want %.90s", j, g[j], w[j])
				}
				break
			}
		}
		t.Fatalf("%s: %d events, want %d", what, len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("%s: event %d is %s, want %s", what, i, g[i], w[i])
		}
	}
}

// storedOn returns the stored events of session id as node n serves them.
func storedOn(t *testing.T, n *node, id string) []coach.Event {
	t.Helper()
	return storedEvents(t, n.testServer, id)
}

// TestClusterWatchFromAnotherNode streams a call into node A while coaches
// watch it from node B, one from the start and one who joins halfway: both
// get every event once, in order, like the stored call.
func TestClusterWatchFromAnotherNode(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	nodes := startNodes(t, cfg, t.TempDir(), nil, "a", "b")
	a, b := nodes[0], nodes[1]
	id := a.create(t)
	early, earlyDone := watch(t, b, id)
	ctx := context.Background()
	var second collector
	err := a.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StopAtMS: 20000, NoStop: true}, nil)
	if err != nil && !isGoingAway(err) {
		t.Fatalf("first part: %v", err)
	}
	late, lateDone := watch(t, b, id)
	if err := a.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StartMS: 20000}, second.add); err != nil {
		t.Fatalf("second part: %v", err)
	}
	waitDone(t, "early viewer", earlyDone)
	waitDone(t, "late viewer", lateDone)
	stored := storedOn(t, b, id)
	if len(stored) == 0 || stored[len(stored)-1].Type != coach.EventSummary {
		t.Fatalf("stored call: %d events", len(stored))
	}
	sameEvents(t, "viewer on B from the start", early.all(), stored)
	sameEvents(t, "viewer on B from halfway", late.all(), stored)
}

// TestClusterRelaysStream reconnects the audio of a call that node A runs
// through node B: B relays the socket to A, the call goes on there.
func TestClusterRelaysStream(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	nodes := startNodes(t, cfg, t.TempDir(), nil, "a", "b")
	a, b := nodes[0], nodes[1]
	id := a.create(t)
	ctx := context.Background()
	var second collector
	err := a.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StopAtMS: 20000, NoStop: true}, nil)
	if err != nil && !isGoingAway(err) {
		t.Fatalf("first part: %v", err)
	}
	if err := b.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StartMS: 20000}, second.add); err != nil {
		t.Fatalf("second part through B: %v", err)
	}
	evs := second.all()
	sum := evs[len(evs)-1]
	if sum.Type != coach.EventSummary || sum.Summary.Metrics.DurationMS < 40000 {
		t.Fatalf("last event %s, duration %d", sum.Type, sum.Summary.Metrics.DurationMS)
	}
	if len(filter(evs, coach.EventStatus)) != 0 {
		t.Fatal("the session moved, but its node never died")
	}
	if got := metric(t, b.testServer, "cuecard_cluster_relayed_total"); got != 1 {
		t.Fatalf("B relayed %v requests, want 1", got)
	}
	if got := metric(t, a.testServer, "cuecard_cluster_relayed_total"); got != 0 {
		t.Fatalf("A relayed %v requests, want 0 (a relayed request is never relayed again)", got)
	}
	stored := storedOn(t, a, id)
	if len(stored) < len(evs) {
		t.Fatalf("%d events stored, %d sent after the relay", len(stored), len(evs))
	}
	sameEvents(t, "audio client after the relay", evs, stored[len(stored)-len(evs):])
}

// TestClusterWHIPRedirect sends a WHIP offer for a call that node A runs
// to node B: B answers 307 to A.
func TestClusterWHIPRedirect(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	rc := server.DefaultWebRTCConfig()
	rc.UDPPort, rc.ListenIP = 0, "127.0.0.1"
	rtc, err := server.NewWebRTC(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtc.Close() })
	nodes := startNodes(t, cfg, t.TempDir(), func(c *server.Config) { c.WebRTC = rtc }, "a", "b")
	a, b := nodes[0], nodes[1]
	id := a.create(t)
	err = a.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{StopAtMS: 2000, NoStop: true}, nil)
	if err != nil && !isGoingAway(err) {
		t.Fatal(err)
	}
	hc := *b.st.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	path := "/v1/sessions/" + id + "/webrtc"
	resp, err := hc.Post(b.ts.URL+path, "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.url+path {
		t.Fatalf("WHIP offer to B: %d, Location %q; want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), a.url+path)
	}
}

// callMS is the length of the synthesized test call.
const callMS = 43680

// TestClusterTakeover kills node A mid-call: the client reconnects through
// the load balancer to node B, which takes the session over from the
// stored inputs; a coach watching on node C sees a status event and the
// rest of the call; the summary covers the whole call.
func TestClusterTakeover(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	nodes := startNodes(t, cfg, t.TempDir(), nil, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	lb := newBalancer(t, a)
	id := a.create(t)
	viewer, viewerDone := watch(t, c, id)

	killAt := make(chan struct{})
	var once sync.Once
	var sent, lostAt atomic.Int64
	var got collector
	cl := &client.Client{BaseURL: lb.ts.URL, Token: a.st.Token}
	opt := client.StreamOptions{Speed: 8, Reconnect: 20 * time.Second, OnSent: func(ms int64, _ time.Time) {
		sent.Store(ms)
		if ms >= 20000 {
			once.Do(func() { close(killAt) })
		}
	}, OnReconnect: func(err error) {
		if err != nil {
			lostAt.CompareAndSwap(0, sent.Load())
		}
	}}
	streamDone := make(chan error, 1)
	go func() { streamDone <- cl.Stream(context.Background(), id, rep(), prospect(), opt, got.add) }()
	select {
	case <-killAt:
	case err := <-streamDone:
		t.Fatalf("stream ended before the kill: %v", err)
	}
	a.kill()
	lb.point(b)
	waitDone(t, "stream", streamDone)
	waitDone(t, "viewer on C", viewerDone)

	stored := storedOn(t, c, id)
	moved := -1
	for i, ev := range stored {
		if ev.Type == coach.EventStatus && ev.Node == "b" {
			moved = i
		}
	}
	if moved < 0 {
		t.Fatal("no status event of the move stored")
	}
	st := stored[moved]
	if st.LostMS < 0 || st.LostMS > 10000 || !strings.Contains(st.Reason, "from node a") {
		t.Fatalf("status of the move: %+v", st)
	}
	t.Logf("moved at %d ms: %s; the client had sent %d ms", st.AtMS, st.Reason, lostAt.Load())
	if len(filter(stored, coach.EventSummary)) != 1 {
		t.Fatalf("%d summaries stored", len(filter(stored, coach.EventSummary)))
	}
	// The call resumes at the status event's media time with the audio
	// the client sends after its reconnect. (The client here plays faster
	// than real time: the wall-clock gap understates what it skipped.)
	sum := stored[len(stored)-1]
	if sum.Type != coach.EventSummary || sum.Summary.Metrics.DurationMS < st.AtMS+callMS-lostAt.Load()-1000 {
		t.Fatalf("last event %s, duration %d; resumed at %d, the client had sent %d of %d ms",
			sum.Type, sum.Summary.Metrics.DurationMS, st.AtMS, lostAt.Load(), callMS)
	}
	// The coach's state was rebuilt: its talk time counts the speech
	// before the move too.
	var speech int64
	for _, ev := range filter(stored, coach.EventSpeech) {
		speech += ev.EndMS - ev.StartMS
	}
	m := sum.Summary.Metrics
	if before := len(filter(stored[:moved], coach.EventSpeech)); before == 0 || float64(m.RepMS+m.ProspectMS) < 0.9*float64(speech) {
		t.Fatalf("summary talk %d+%d ms, stored speech %d ms (%d segments before the move)", m.RepMS, m.ProspectMS, speech, before)
	}
	// The viewer on C saw the move and, after it, exactly what was stored.
	ve := viewer.all()
	vm := -1
	for i, ev := range ve {
		if ev.Type == coach.EventStatus && ev.Node == "b" {
			vm = i
		}
	}
	if vm < 0 {
		t.Fatalf("the viewer on C saw no status event (%d events)", len(ve))
	}
	sameEvents(t, "viewer on C after the move", ve[vm:], stored[moved:])
	if ses, err := c.db.GetSession(context.Background(), id); err != nil || ses.Status != store.StatusEnded {
		t.Fatalf("session %+v, %v", ses, err)
	}
}

// TestClusterRecoveryLeavesLiveSessions starts a node while another runs
// a call: the new node's recovery leaves the call alone.
func TestClusterRecoveryLeavesLiveSessions(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	dir := t.TempDir()
	a := startNodes(t, cfg, dir, nil, "a")[0]
	id := a.create(t)
	err := a.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{StopAtMS: 5000, NoStop: true}, nil)
	if err != nil && !isGoingAway(err) {
		t.Fatal(err)
	}
	b := startNodes(t, cfg, dir, nil, "b")[0]
	if n, err := b.srv.RecoverSessions(context.Background()); err != nil || n != 0 {
		t.Fatalf("recovery on B ended %d sessions (%v)", n, err)
	}
	if ses, _ := b.db.GetSession(context.Background(), id); ses.Status != store.StatusLive {
		t.Fatalf("session %s after B's recovery", ses.Status)
	}
}

// TestClusterNATSRestart pauses, then restarts, the NATS server mid-call:
// the call goes on and ends with its summary, and a coach watching on
// another node gets every event.
func TestClusterNATSRestart(t *testing.T) {
	needCall(t)
	if testing.Short() {
		t.Skip("runs a NATS server")
	}
	ns := clustertest.Start(t)
	cfg := clustertest.Config(t, ns.URL())
	cfg.OpTimeout = 500 * time.Millisecond
	nodes := startNodes(t, cfg, t.TempDir(), nil, "a", "b")
	a, b := nodes[0], nodes[1]
	id := a.create(t)
	viewer, viewerDone := watch(t, b, id)
	var paused, restarted sync.Once
	at := make(chan string, 2)
	opt := client.StreamOptions{Speed: 4, OnSent: func(ms int64, _ time.Time) {
		if ms >= 10000 {
			paused.Do(func() { at <- "pause" })
		}
		if ms >= 25000 {
			restarted.Do(func() { at <- "restart" })
		}
	}}
	var got collector
	streamDone := make(chan error, 1)
	go func() { streamDone <- a.cl.Stream(context.Background(), id, rep(), prospect(), opt, got.add) }()
	for range 2 {
		select {
		case what := <-at:
			if what == "pause" {
				ns.Pause()
				time.Sleep(2 * time.Second) // NATS away for a while: what is tested
				ns.Resume()
			} else {
				ns.Restart()
			}
		case err := <-streamDone:
			t.Fatalf("stream ended early: %v", err)
		}
	}
	waitDone(t, "stream", streamDone)
	waitDone(t, "viewer on B", viewerDone)
	stored := storedOn(t, b, id)
	sameEvents(t, "audio client", got.all(), stored)
	sameEvents(t, "viewer on B", viewer.all(), stored)
}

// TestClusterEndsOrphans kills the node that runs a call whose client
// never comes back: once the reconnect window has passed, another node's
// recovery ends it, with a summary of what was stored.
func TestClusterEndsOrphans(t *testing.T) {
	needCall(t)
	cfg := clustertest.Config(t, clustertest.URL(t))
	nodes := startNodes(t, cfg, t.TempDir(), func(c *server.Config) { c.ReconnectWindow = time.Second }, "a", "b")
	a, b := nodes[0], nodes[1]
	id := a.create(t)
	err := a.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{StopAtMS: 10000, NoStop: true}, nil)
	if err != nil && !isGoingAway(err) {
		t.Fatal(err)
	}
	waitStored(t, a, id, 9000)
	a.kill()
	// Within the window (the owner may be dead already) nothing ends.
	if n, err := b.srv.RecoverSessions(context.Background()); err != nil || n != 0 {
		t.Fatalf("recovery within the reconnect window ended %d sessions (%v)", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := b.srv.RecoverSessions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphaned session was not ended")
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	ses, err := b.db.GetSession(context.Background(), id)
	if err != nil || ses.Status != store.StatusEnded {
		t.Fatalf("session %+v, %v", ses, err)
	}
	stored := storedOn(t, b, id)
	if sum := stored[len(stored)-1]; sum.Type != coach.EventSummary || sum.Summary.Metrics.DurationMS < 9000 {
		t.Fatalf("last stored event %+v", sum)
	}
}

// waitStored waits until session id has stored events up to media time ms.
func waitStored(t *testing.T, n *node, id string, ms int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := storedOn(t, n, id)
		if len(evs) > 0 && evs[len(evs)-1].AtMS >= ms {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events stored up to %d ms only", evs[len(evs)-1].AtMS)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

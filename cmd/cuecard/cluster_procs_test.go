package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/cluster/clustertest"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store/storetest"
)

// balancer is a load balancer in front of the test's nodes: each request
// goes to the first node, in order, that accepts a TCP connection, as a
// proxy with health checks would send it.
type balancer struct {
	url      string
	backends []*url.URL
	mu       sync.Mutex
	hits     map[string]int
}

func newProcBalancer(t *testing.T, nodes ...*serveProc) *balancer {
	t.Helper()
	b := &balancer{hits: map[string]int{}}
	for _, n := range nodes {
		u, err := url.Parse(n.url)
		if err != nil {
			t.Fatal(err)
		}
		b.backends = append(b.backends, u)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(b.pick())
		pr.Out.Host = pr.In.Host
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b.url = "http://" + ln.Addr().String()
	return b
}

func (b *balancer) pick() *url.URL {
	for _, u := range b.backends {
		c, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			b.mu.Lock()
			b.hits[u.Host]++
			b.mu.Unlock()
			return u
		}
	}
	return b.backends[len(b.backends)-1]
}

// TestClusterProcesses runs a cluster as a user would: three `cuecard
// serve` processes and two `cuecard worker` processes on loopback, sharing
// PostgreSQL, NATS and a recordings directory. A call streams into node A
// through a load balancer, a coach watches it on node C, node B lists it;
// then node A is killed with SIGKILL mid-call. The client reconnects
// through the balancer, node B takes the call over, the coach on C sees a
// status event and the rest of the call, and the summary covers it all.
func TestClusterProcesses(t *testing.T) {
	dbURL := storetest.NewSchema(t)
	cc := clustertest.Config(t, clustertest.URL(t))
	call := synthCall(t, 30000)
	bin := buildCuecard(t)
	t.Setenv("CUECARD_CLUSTER_SECRET", "the cluster secret of the process test")
	shared := t.TempDir()
	common := []string{"--database", dbURL, "--nats", cc.URL, "--cluster-prefix", cc.Prefix,
		"--asr", "workers", "--asr-workers-prefix", cc.Prefix, "--jobs-prefix", cc.Prefix,
		"--recordings", "dir:" + shared}
	for range 2 {
		startWorkerProc(t, bin, "--nats", cc.URL, "--prefix", cc.Prefix, "--decoders", "1")
	}
	var nodes []*serveProc
	for _, id := range []string{"a", "b", "c"} {
		nodes = append(nodes, startServeProc(t, bin, filepath.Join(t.TempDir(), id), append([]string{"--node-id", id}, common...)...))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	lb := newProcBalancer(t, a, b, c)
	code, out, errs := runCmd(t, "token", "create", "--database", dbURL, "--email", "ana@example.com", "--role", "rep", "--team", "East")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rep := &client.Client{BaseURL: lb.url, Token: lines[len(lines)-1]}
	ses, err := rep.CreateSession(context.Background(), client.CreateRequest{Consent: true, ConsentText: "recorded for coaching"})
	if err != nil {
		t.Fatal(err)
	}

	// A coach (the administrator) watches on C.
	coachC := &client.Client{BaseURL: c.url, Token: c.token}
	var seen []coach.Event
	var seenMu sync.Mutex
	watchDone := make(chan error, 1)
	startWatch := make(chan struct{})
	var killedAt, sent atomic.Int64
	go func() {
		<-startWatch
		conn, err := coachC.DialEvents(context.Background(), ses.ID)
		if err != nil {
			watchDone <- err
			return
		}
		defer conn.Close()
		watchDone <- client.ReadEvents(conn, func(ev coach.Event) {
			seenMu.Lock()
			seen = append(seen, ev)
			seenMu.Unlock()
		})
	}()
	var once sync.Once
	var killTime, backTime atomic.Int64 // unix ns
	err = rep.Stream(context.Background(), ses.ID, call.Rep, call.Prospect, client.StreamOptions{Speed: 1, Reconnect: 20 * time.Second,
		OnReconnect: func(err error) {
			if err == nil {
				backTime.CompareAndSwap(0, time.Now().UnixNano())
			}
		},
		OnSent: func(ms int64, _ time.Time) {
			sent.Store(ms)
			if ms >= 1000 {
				once.Do(func() { close(startWatch) })
			}
			if ms >= 12000 && killedAt.CompareAndSwap(0, ms) {
				// Listed from B while it runs on A.
				var page struct {
					Sessions []struct {
						ID     string `json:"id"`
						Status string `json:"status"`
					} `json:"sessions"`
				}
				getJSON(t, b.url+"/v1/sessions", &page)
				if len(page.Sessions) == 0 || page.Sessions[0].ID != ses.ID || page.Sessions[0].Status != "live" {
					t.Errorf("listed on B: %+v", page.Sessions)
				}
				a.kill(t)
				killTime.Store(time.Now().UnixNano())
			}
		}}, nil)
	if err != nil {
		t.Fatalf("stream across the kill: %v\n%s", err, a.stderr)
	}
	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatalf("watching on C: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the watch on C did not end with the call")
	}

	var got sessionView
	getJSON(t, c.url+"/v1/sessions/"+ses.ID, &got)
	if got.Status != "ended" || got.Summary == nil {
		t.Fatalf("after the call: status %s, summary %+v", got.Status, got.Summary)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	var move *coach.Event
	for i, ev := range seen {
		if ev.Type == coach.EventStatus && ev.Node != "" && ev.Node != "a" {
			move = &seen[i]
		}
	}
	if move == nil {
		t.Fatalf("the coach on C saw no status event of the move (%d events)", len(seen))
	}
	t.Logf("killed at %d ms of audio; moved to node %s at %d ms, %d ms of audio lost (%s)", killedAt.Load(), move.Node, move.AtMS, move.LostMS, move.Reason)
	back := time.Duration(backTime.Load() - killTime.Load())
	t.Logf("the client streamed again %v after the kill", back.Round(time.Millisecond))
	if backTime.Load() == 0 || back > 5*time.Second {
		t.Errorf("the client streamed again %v after the kill, want within 5 s", back)
	}
	if move.LostMS < 0 || move.LostMS > 2000 {
		t.Errorf("%d ms of audio lost in the move, want at most 2000", move.LostMS)
	}
	var after, finals int
	for _, ev := range seen {
		if ev.AtMS > move.AtMS {
			after++
		}
		if ev.Type == coach.EventTranscript && ev.Final {
			finals++
		}
	}
	if after == 0 || finals == 0 || seen[len(seen)-1].Type != coach.EventSummary {
		t.Fatalf("the coach on C saw %d events after the move, %d final transcripts, last %s", after, finals, seen[len(seen)-1].Type)
	}
	if d := got.Summary.Metrics.DurationMS; d < sent.Load()-move.LostMS-1500 {
		t.Errorf("summary covers %d ms of a %d ms call (%d ms lost)", d, sent.Load(), move.LostMS)
	}
}

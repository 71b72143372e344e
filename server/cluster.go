package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/cluster"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// Cluster is what the server needs of the cluster it belongs to (a
// *cluster.Node): who owns which live session, and the live events of
// sessions that run on other nodes. With Config.Cluster nil the server
// runs alone.
type Cluster interface {
	// ID is this node's id.
	ID() string
	// Claim makes this node the owner of a session (see cluster.Node.Claim).
	Claim(ctx context.Context, sessionID string) (cluster.Record, error)
	// Release gives the session up at its end.
	Release(ctx context.Context, sessionID string) error
	// OwnerRecord says which node owns a session and whether it is alive.
	OwnerRecord(ctx context.Context, sessionID string) (cluster.Peer, bool, cluster.Record, error)
	// Progress notes an owned session's media time; it never blocks.
	Progress(sessionID string, mediaMS int64)
	// Owns reports whether this node still owns a session it claimed
	// (another node may have taken it over); it never blocks.
	Owns(sessionID string) bool
	// Publish sends a session's event to other nodes; it never blocks.
	Publish(sessionID string, seq int64, data []byte)
	// Subscribe receives a session's events published on any node.
	Subscribe(sessionID string, size int) (*cluster.Subscription, error)
	// Stats counts the node's events published, dropped and the like.
	Stats() cluster.Stats
}

// relayHeader marks a request one node relays to a session's owner: the
// sending node, the time and an HMAC of both and the request line under
// the cluster secret. The owner handles such a request itself, never
// relaying it again.
const relayHeader = "Cuecard-Relay"

// relayMaxAge bounds the age of a relay header.
const relayMaxAge = time.Minute

func (s *Server) relayMAC(node, ts, method, path string) string {
	m := hmac.New(sha256.New, s.cfg.ClusterSecret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s", node, ts, method, path)
	return hex.EncodeToString(m.Sum(nil))
}

// isRelayed reports whether r was relayed by another node of the cluster
// (a header with a valid HMAC).
func (s *Server) isRelayed(r *http.Request) bool {
	h := r.Header.Get(relayHeader)
	if h == "" || len(s.cfg.ClusterSecret) == 0 {
		return false
	}
	f := strings.Fields(h)
	if len(f) != 3 {
		return false
	}
	sec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > relayMaxAge {
		return false
	}
	want := s.relayMAC(f[0], f[1], r.Method, r.URL.Path)
	return hmac.Equal([]byte(want), []byte(f[2]))
}

// remoteOwner returns the live node other than this one that owns session
// id, if there is one and r was not relayed already.
func (s *Server) remoteOwner(r *http.Request, id string) (cluster.Peer, bool) {
	cl := s.cfg.Cluster
	if cl == nil || s.isRelayed(r) {
		return cluster.Peer{}, false
	}
	s.mu.Lock()
	_, here := s.live[id]
	s.mu.Unlock()
	if here {
		return cluster.Peer{}, false
	}
	p, alive, _, err := cl.OwnerRecord(r.Context(), id)
	if err != nil || !alive || p.ID == cl.ID() || p.URL == "" {
		return cluster.Peer{}, false
	}
	return p, true
}

// relayToOwner proxies r (a WebSocket upgrade included) to the node that
// owns its session, when that is another live node; it reports whether it
// did. The credentials go along (the owner authenticates the request
// again, against the shared store), and so does the Host, which the owner
// checks as if the client had come to it.
func (s *Server) relayToOwner(w http.ResponseWriter, r *http.Request) bool {
	p, ok := s.remoteOwner(r, r.PathValue("id"))
	if !ok {
		return false
	}
	target, err := url.Parse(p.URL)
	if err != nil {
		s.log.Error("relay: bad advertise URL", "node", p.ID, "url", p.URL, "err", err)
		return false
	}
	// A relayed WebSocket lives longer than any request timeout.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	s.metrics.relayed.Inc()
	node := s.cfg.Cluster.ID()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			pr.Out.Header.Set(relayHeader, node+" "+ts+" "+s.relayMAC(node, ts, pr.Out.Method, pr.Out.URL.Path))
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("relay to session owner failed", "node", p.ID, "err", err)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the server running this session is unreachable; try again"})
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	rp.ServeHTTP(w, r)
	return true
}

// redirectToOwner answers a WHIP offer for a session that another live
// node runs with 307 to that node (RFC 9725 allows it); it reports whether
// it did.
func (s *Server) redirectToOwner(w http.ResponseWriter, r *http.Request) bool {
	p, ok := s.remoteOwner(r, r.PathValue("id"))
	if !ok {
		return false
	}
	http.Redirect(w, r, strings.TrimSuffix(p.URL, "/")+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	return true
}

// resumePoint is where a session that ran on a node that died resumes.
type resumePoint struct {
	from     string // the node it ran on
	storedMS int64  // media time of the last stored event or report
	atMS     int64  // media time the resumed audio starts at
}

// claimSession makes this node the owner of session id before it runs
// here. A session that ran before (it has stored events: its node died,
// or this one restarted) resumes: the returned point is not nil. atMS is
// the media time of the audio the reconnecting client sends next (it kept
// what it could not send), or -1 when the client does not say.
func (s *Server) claimSession(ctx context.Context, id string, seq, atMS int64) (*resumePoint, error) {
	prev, err := s.cfg.Cluster.Claim(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrOwned):
		return nil, fmt.Errorf("%w: session %s runs on node %s", ErrOwnedElsewhere, id, prev.Node)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	case seq == 0:
		return nil, nil
	}
	_, end, err := s.storedInputs(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	rp := &resumePoint{from: prev.Node, storedMS: max(end, prev.MediaMS)}
	rp.atMS = rp.storedMS
	switch {
	case atMS >= 0:
		// The client goes on from where it was: only what the dead node
		// had and had not reported is lost. (A client that goes back
		// before that resumes at the stored point.)
		rp.atMS = max(rp.atMS, atMS)
	case !prev.At.IsZero():
		// Audio is real time: what the dead node heard since its last
		// report, and what nobody heard since, is lost.
		rp.atMS = max(rp.atMS, prev.MediaMS+time.Since(prev.At).Milliseconds())
	}
	return rp, nil
}

// resume rebuilds the coach's state of a session that ran elsewhere from
// its stored inputs, without emitting anything again, starts its audio at
// the resume point and keeps the status event that tells its viewers
// where it went and what was lost for the loop to send first. It runs
// before the session's loop does.
func (ls *liveSession) resume(ctx context.Context, rp *resumePoint) error {
	s := ls.srv
	inputs, _, err := s.storedInputs(ctx, ls.id, nil)
	if err != nil {
		return err
	}
	ls.priming = true
	_, err = stream.ReplayInputs(ctx, inputs, int64(max(s.pb.Talk.IntervalMS, 1)), rp.storedMS, ls.call.Step)
	ls.priming = false
	if err != nil {
		return fmt.Errorf("rebuild session %s: %w", ls.id, err)
	}
	if err := ls.call.StartAt(rp.atMS); err != nil {
		return err
	}
	lost := rp.atMS - rp.storedMS
	node := s.cfg.Cluster.ID()
	s.log.Info("session taken over", "session", ls.id, "from", rp.from, "resume_ms", rp.atMS, "lost_ms", lost)
	why := "session resumed on node " + node
	if rp.from != "" && rp.from != node {
		why = "session moved from node " + rp.from + " to node " + node
	}
	ls.moved = &coach.Event{Type: coach.EventStatus, AtMS: rp.atMS, ASR: "ok",
		Reason: fmt.Sprintf("%s; %d ms of audio lost", why, lost), Node: node, LostMS: lost}
	return nil
}

// announceMove sends the status event of a session resumed here, first
// of its events on this node.
func (ls *liveSession) announceMove(log *slog.Logger) {
	if ls.moved == nil {
		return
	}
	ls.srv.metrics.takeovers.Inc()
	ls.srv.metrics.audioLost.Add(float64(ls.moved.LostMS) / 1000)
	if err := ls.onEvent(*ls.moved); err != nil {
		log.Error("status", "err", err)
	}
}

// stillOwned reports the session's progress to the cluster, and whether
// this node still owns it: when another node took it over (this one was
// cut off from the cluster meanwhile) it must be dropped here, so that its
// client reconnects to the owner. Alone, it is always true.
func (ls *liveSession) stillOwned(log *slog.Logger) bool {
	cl := ls.srv.cfg.Cluster
	if cl == nil {
		return true
	}
	if !cl.Owns(ls.id) {
		log.Warn("session taken over by another node; dropping it here")
		return false
	}
	cl.Progress(ls.id, ls.call.MediaMS())
	return true
}

// watchCluster streams to a viewer the events of a session that does not
// run on this node: the stored events first, then the live ones its owner
// publishes, by sequence number, so that none is missed or repeated. It
// returns when the session ends, the viewer goes (gone) or the server
// stops, closing out.C.
func (s *Server) watchCluster(id string, backlog bool, out *subscriber, gone <-chan struct{}) {
	defer close(out.C)
	sub, err := s.cfg.Cluster.Subscribe(id, s.cfg.SubscriberBuffer)
	if err != nil {
		s.log.Warn("watch session through the cluster", "session", id, "err", err)
		return
	}
	defer sub.Close()
	w := &clusterWatch{s: s, id: id, out: out, gone: gone}
	if backlog {
		if !w.fromStore(0) {
			return
		}
	} else if seq, err := s.st.LastSeq(s.base, id); err == nil {
		w.last = seq
	}
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				out.dropped.Store(sub.Dropped())
				return
			}
			if !w.live(ev) {
				return
			}
		case <-check.C:
			if ses, err := s.st.GetSession(s.base, id); err == nil && ses.Status == store.StatusEnded {
				w.fromStore(w.last)
				return
			}
		case <-gone:
			return
		case <-s.base.Done():
			return
		}
	}
}

// clusterWatch is the state of one viewer fed through the cluster.
type clusterWatch struct {
	s    *Server
	id   string
	out  *subscriber
	gone <-chan struct{}
	last int64  // sequence number of the last event sent
	node string // the node whose events are coming
}

// send queues one event for the viewer's writer; a viewer too slow to
// take it is dropped. It reports whether the viewer is still there.
func (w *clusterWatch) send(data []byte) bool {
	select {
	case w.out.C <- data:
		return true
	default:
		w.out.dropped.Store(true)
		w.s.metrics.evictions.Inc()
		return false
	}
}

// fromStore sends the stored events after sequence number after.
func (w *clusterWatch) fromStore(after int64) bool {
	ok := true
	err := w.s.st.ReadEvents(w.s.base, w.id, after, func(seq int64, data []byte) error {
		if seq <= w.last {
			return nil
		}
		select {
		case <-w.gone:
			ok = false
			return errViewerGone
		default:
		}
		if !w.send(append([]byte(nil), data...)) {
			ok = false
			return errViewerGone
		}
		w.last = seq
		return nil
	})
	if err != nil && !errors.Is(err, errViewerGone) {
		w.s.log.Warn("watch session: stored events", "session", w.id, "err", err)
	}
	return ok
}

// live handles one published event; it reports whether to go on.
func (w *clusterWatch) live(ev cluster.Event) bool {
	if ev.Node != w.node {
		// A new owner (after a takeover) numbers on from what was stored,
		// which may be behind what its dead predecessor published.
		if w.node != "" && ev.Seq <= w.last {
			w.last = ev.Seq - 1
		}
		w.node = ev.Node
	}
	if ev.Seq > w.last+1 && !w.catchUp(ev.Seq) {
		return false
	}
	if ev.Seq <= w.last {
		return true // already sent, from the store
	}
	if !w.send(ev.Data) {
		return false
	}
	w.last = ev.Seq
	return !strings.HasPrefix(string(ev.Data), `{"type":"summary"`)
}

// catchUp fills a gap before event seq from the store, waiting a little
// for the owner to store what it published (it writes every
// PersistInterval); what never gets stored is skipped.
func (w *clusterWatch) catchUp(seq int64) bool {
	deadline := time.Now().Add(4*w.s.cfg.PersistInterval + time.Second)
	for {
		if !w.fromStore(w.last) {
			return false
		}
		if w.last >= seq-1 || time.Now().After(deadline) {
			return true
		}
		select {
		case <-time.After(w.s.cfg.PersistInterval / 2):
		case <-w.gone:
			return false
		}
	}
}

// isLive reports whether session id runs on this node.
func (s *Server) isLive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id] != nil
}

// viewCluster feeds a viewer's socket with a session that runs on another
// node, or on none yet (see watchCluster), until either ends.
func (s *Server) viewCluster(conn *websocket.Conn, id string, backlog bool, gone <-chan struct{}) {
	sub := &subscriber{C: make(chan []byte, s.cfg.SubscriberBuffer)}
	var wg sync.WaitGroup
	wg.Go(func() { s.watchCluster(id, backlog, sub, gone) })
	s.writeLoop(conn, sub, nil, nil, nil)
	conn.Close() // the reader goroutine ends, gone closes, and so the watch
	wg.Wait()
}

// clusterJanitor ends, every so often, the sessions whose node died and
// whose client did not come back (see recoverOrphans), until ctx is done.
func (s *Server) clusterJanitor(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.ReconnectWindow/3, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.recoverOrphans(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("end sessions of dead nodes", "err", err)
			}
		}
	}
}

// recoverOrphans ends, like RecoverSessions does alone, the live sessions
// of the cluster that no node runs: their owner is dead (or none claimed
// them) and no client resumed them within the reconnect window. A node
// claims each first, so only one ends it. It returns how many it ended.
func (s *Server) recoverOrphans(ctx context.Context) (int, error) {
	n := 0
	f := store.ListFilter{Status: store.StatusLive, Source: store.SourceLive, Limit: 100}
	for {
		page, err := s.st.ListSessions(ctx, f)
		if err != nil {
			return n, err
		}
		for _, ses := range page.Sessions {
			if !s.orphaned(ctx, ses.ID) {
				continue
			}
			if _, err := s.cfg.Cluster.Claim(ctx, ses.ID); err != nil {
				continue // taken by another node meanwhile
			}
			if err := s.recoverSession(ctx, ses); err != nil {
				s.log.Error("recover session", "session", ses.ID, "err", err)
				if err := s.st.EndSession(ctx, ses.ID, nil); err != nil && !errors.Is(err, store.ErrEnded) {
					s.log.Error("end session", "session", ses.ID, "err", err)
				}
			}
			s.cfg.Cluster.Release(ctx, ses.ID)
			n++
		}
		if page.NextCursor == "" {
			return n, nil
		}
		f.Cursor = page.NextCursor
	}
}

// orphaned reports whether live session id has no node running it and
// its reconnect window has passed.
func (s *Server) orphaned(ctx context.Context, id string) bool {
	s.mu.Lock()
	_, here := s.live[id]
	s.mu.Unlock()
	if here {
		return false
	}
	_, alive, rec, err := s.cfg.Cluster.OwnerRecord(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrNoOwner):
		return true
	case err != nil, alive:
		return false
	}
	return time.Since(rec.At) >= s.cfg.ReconnectWindow
}

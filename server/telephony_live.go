package server

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/wire"
)

// liveNotice tells a rep's open overlay that a session of theirs started
// somewhere else (a dialer's media stream): {"type":"live","session_id":
// ..,"source":"twilio","title":..}.
type liveNotice struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
	Source    string `json:"source"`
	Title     string `json:"title,omitempty"`
}

// liveFeedBuffer is how many notices a feed socket may fall behind before
// it is closed.
const liveFeedBuffer = 16

// liveFeeds fans session starts out to each user's feed sockets. The zero
// value is ready; a slow socket is dropped, never waited for.
type liveFeeds struct {
	mu   sync.Mutex
	subs map[string]map[chan liveNotice]struct{}
	// recent are the notices announced per user, pruned of ended
	// sessions when read, so a feed opened mid-call learns of it.
	recent map[string][]liveNotice
}

func (f *liveFeeds) announce(user string, n liveNotice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recent == nil {
		f.recent = map[string][]liveNotice{}
	}
	if len(f.recent[user]) >= 8 {
		f.recent[user] = f.recent[user][1:]
	}
	f.recent[user] = append(f.recent[user], n)
	for ch := range f.subs[user] {
		select {
		case ch <- n:
		default:
			delete(f.subs[user], ch)
			close(ch)
		}
	}
}

// subscribe returns a feed of user's notices, led by those of sessions
// still live (alive tells), and the function that ends it.
func (f *liveFeeds) subscribe(user string, alive func(id string) bool) (<-chan liveNotice, func()) {
	ch := make(chan liveNotice, liveFeedBuffer)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[string]map[chan liveNotice]struct{}{}
	}
	if f.subs[user] == nil {
		f.subs[user] = map[chan liveNotice]struct{}{}
	}
	var keep []liveNotice
	for _, n := range f.recent[user] {
		if alive(n.SessionID) {
			keep = append(keep, n)
			ch <- n
		}
	}
	if f.recent != nil {
		f.recent[user] = keep
	}
	f.subs[user][ch] = struct{}{}
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[user][ch]; ok {
			delete(f.subs[user], ch)
			close(ch)
		}
	}
}

// handleLiveFeed is the signed-in user's notification socket: one JSON
// text frame per session of theirs that starts from a dialer (first those
// running now), so an open overlay can attach to it as a viewer.
func (s *Server) handleLiveFeed(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	conn, err := s.upgrader().Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(wire.MaxControlSize)
	feed, cancel := s.feeds.subscribe(p.UserID, s.isLive)
	defer cancel()
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		wait := func() { conn.SetReadDeadline(time.Now().Add(2*s.cfg.PingInterval + 10*time.Second)) }
		wait()
		conn.SetPongHandler(func(string) error { wait(); return nil })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() { conn.Close(); <-gone }()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case n, ok := <-feed:
			if !ok {
				closeNow(conn, websocket.ClosePolicyViolation, "too slow: notices were not read in time", s.cfg.WriteTimeout)
				return
			}
			b, _ := json.Marshal(n)
			conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if conn.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)) != nil {
				return
			}
		case <-gone:
			return
		case <-s.base.Done():
			closeNow(conn, websocket.CloseGoingAway, "server shutting down", s.cfg.WriteTimeout)
			return
		}
	}
}

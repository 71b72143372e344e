package server

import (
	"sync"
	"sync/atomic"
)

// maxHistory bounds the events a hub keeps for viewers who join late.
const maxHistory = 20000

// hub fans one session's events out to its subscribers: the audio client,
// viewers, a WebRTC data channel. Publishing never blocks: a subscriber
// whose buffer is full is dropped, so a slow viewer never delays another
// subscriber's cue. Messages are encoded once and shared read-only.
type hub struct {
	mu       sync.Mutex
	subs     map[*subscriber]struct{}
	history  [][]byte // every event but talk snapshots and partials
	lastTalk []byte
	closed   bool
	onDrop   func()
}

// subscriber receives a session's events on C, which is closed after the
// last event or when the subscriber is dropped (then Dropped reports true).
type subscriber struct {
	C       chan []byte
	dropped atomic.Bool
	h       *hub
}

// Dropped reports whether the hub dropped the subscriber for being slow.
func (s *subscriber) Dropped() bool { return s.dropped.Load() }

func newHub(onDrop func()) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, onDrop: onDrop}
}

// subscribe adds a subscriber with room for size events beyond the
// backlog; with backlog it first receives the session's events so far.
func (h *hub) subscribe(size int, backlog bool) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := size
	if backlog {
		n += len(h.history) + 1
	}
	s := &subscriber{C: make(chan []byte, n), h: h}
	if backlog {
		for _, m := range h.history {
			s.C <- m
		}
		if h.lastTalk != nil {
			s.C <- h.lastTalk
		}
	}
	if h.closed {
		close(s.C)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// unsubscribe removes s; its channel is closed.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.C)
	}
}

// publish sends msg to every subscriber. keep marks an event that late
// viewers should see; talk marks a talk snapshot (only the latest is kept).
func (h *hub) publish(msg []byte, keep, talk bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	switch {
	case talk:
		h.lastTalk = msg
	case keep && len(h.history) < maxHistory:
		h.history = append(h.history, msg)
	}
	for s := range h.subs {
		select {
		case s.C <- msg:
		default:
			s.dropped.Store(true)
			delete(h.subs, s)
			close(s.C)
			if h.onDrop != nil {
				h.onDrop()
			}
		}
	}
}

// close ends the stream: every subscriber's channel is closed after the
// events already queued.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		close(s.C)
	}
	h.subs = nil
}

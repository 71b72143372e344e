package cluster

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Event is one live event of a session as published by its owner.
type Event struct {
	Seq  int64  // the event's sequence number in the session
	Node string // the node that published it
	Data []byte // its JSON
}

// Subscription receives one session's live events on C, in the order the
// owner published them. C is closed by Close, or when the subscriber fell
// more than its buffer behind (then Dropped reports true).
type Subscription struct {
	C       <-chan Event
	c       chan Event
	sub     *nats.Subscription
	n       *Node
	mu      sync.Mutex
	done    bool
	dropped atomic.Bool
}

// Subscribe starts receiving session id's live events into a channel of
// size events. Events published before it returns are not received (read
// them from the store). The caller must Close it.
func (n *Node) Subscribe(id string, size int) (*Subscription, error) {
	if !validID(id) {
		return nil, ErrBadID
	}
	if n.closed() {
		return nil, ErrClosed
	}
	s := &Subscription{c: make(chan Event, max(size, 1)), n: n}
	s.C = s.c
	s.mu.Lock() // deliver waits for s.sub
	sub, err := n.nc.Subscribe(n.subject(id), s.deliver)
	s.sub = sub
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Make the interest known to the server before returning, so that the
	// caller's store read that follows cannot miss an event published in
	// between (best effort while NATS is away).
	n.nc.FlushTimeout(n.cfg.OpTimeout)
	return s, nil
}

// deliver runs on the subscription's NATS goroutine; it never blocks.
func (s *Subscription) deliver(m *nats.Msg) {
	seq, _ := strconv.ParseInt(m.Header.Get(hdrSeq), 10, 64)
	ev := Event{Seq: seq, Node: m.Header.Get(hdrNode), Data: m.Data}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	select {
	case s.c <- ev:
	default:
		s.n.slow.Add(1)
		s.dropped.Store(true)
		s.done = true
		close(s.c)
		s.sub.Unsubscribe()
	}
}

// Dropped reports whether the subscription was ended for falling behind.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// Close stops the subscription and closes C. Safe to call more than once.
func (s *Subscription) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	s.sub.Unsubscribe()
	close(s.c)
}

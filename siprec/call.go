package siprec

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/cuecard/cuecard/coach"
)

// call is one recording session: its metadata, its streams (by label) and
// its sink. The stream readers are the server's to wait for.
type call struct {
	s    *Server
	id   string
	tag  string
	rate int
	sink CallSink

	mu      sync.Mutex
	md      Metadata
	rep     Participant
	streams map[string]*stream
	version uint64
	ended   bool
	readers sync.WaitGroup
}

// newCall finds the rep among md's participants; it fails when none is.
func newCall(s *Server, id string, md *Metadata, meds []media) (*call, error) {
	c := &call{s: s, id: id, tag: randomTag(), rate: rate(meds), md: *md, streams: map[string]*stream{}}
	if err := c.findRep(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *call) findRep() error {
	for _, p := range c.md.Participants {
		if c.s.cfg.isRep(p.AOR) {
			c.rep = p
			return nil
		}
	}
	return fmt.Errorf("%w: no participant is a configured rep", ErrRejected)
}

func randomTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// info is the call as the sink sees it.
func (c *call) info() Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := Call{ID: c.id, Session: c.md.Session, Rep: c.rep, Rate: c.rate}
	for _, p := range c.md.Participants {
		if p.ID != c.rep.ID {
			ci.Others = append(ci.Others, p)
		}
	}
	return ci
}

// open binds an RTP port for each usable section.
func (c *call) open(meds []media) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range meds {
		if !m.ok {
			continue
		}
		st, err := openStream(c.s.ip, m.key, m.codec, speakerOf(&c.md, c.rep.ID, m, i))
		if err != nil {
			for _, st := range c.streams {
				st.conn.Close()
			}
			return err
		}
		c.streams[m.key] = st
	}
	return nil
}

// setSink sets the call's sink, unless the call has ended.
func (c *call) setSink(cs CallSink) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sink = cs
	return !c.ended
}

// run starts a reader for each stream that has none.
func (c *call) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.streams {
		c.start(st)
	}
}

// start runs st's reader; c.mu is held.
func (c *call) start(st *stream) {
	c.readers.Add(1)
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		defer c.readers.Done()
		if err := st.run(c.rate, c.s.cfg.Reorder, c.audio); err != nil {
			c.s.log.Warn("siprec: stream", "call", c.id, "stream", st.key, "err", err)
		}
	}()
}

func (c *call) audio(sp coach.Speaker, pcm []float32) { c.sink.Audio(sp, pcm, c.rate) }

func (c *call) ports() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, st := range c.streams {
		out[k] = st.port()
	}
	return out
}

func (c *call) nextVersion() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	return c.version
}

// update applies a re-INVITE: metadata (new sides), streams kept, added
// (new label) or removed (gone or port 0). A stream whose codec changed
// is replaced.
func (c *call) update(md *Metadata, meds []media) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return fmt.Errorf("the call has ended")
	}
	if md != nil {
		old := c.md
		c.md = *md
		if err := c.findRep(); err != nil {
			c.md = old
			return err
		}
	}
	keep := map[string]bool{}
	for i, m := range meds {
		if !m.ok {
			continue
		}
		keep[m.key] = true
		sp := speakerOf(&c.md, c.rep.ID, m, i)
		if st := c.streams[m.key]; st != nil && st.codec == m.codec {
			st.sp.Store(int32(sp))
			continue
		} else if st != nil {
			st.conn.Close()
		}
		st, err := openStream(c.s.ip, m.key, m.codec, sp)
		if err != nil {
			return err
		}
		c.streams[m.key] = st
		c.start(st)
	}
	for k, st := range c.streams {
		if !keep[k] {
			st.conn.Close()
			delete(c.streams, k)
		}
	}
	return nil
}

// closeStreams closes the RTP ports; the readers then return.
func (c *call) closeStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.streams {
		st.conn.Close()
	}
}

// end closes the streams, waits for their readers and ends the sink,
// once.
func (c *call) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	sink := c.sink
	c.mu.Unlock()
	c.closeStreams()
	c.readers.Wait()
	if sink != nil {
		sink.End()
	}
}

func (c *call) stats() map[string]Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]Stats{}
	for k, st := range c.streams {
		out[k] = st.stats()
	}
	return out
}

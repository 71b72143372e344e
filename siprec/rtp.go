package siprec

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
	"gopkg.in/hraban/opus.v2"

	"github.com/cuecard/cuecard/coach"
)

// maxGapSeconds: a longer timestamp jump is a sender reset, not a gap.
const maxGapSeconds = 60

// Stats counts one stream's packets.
type Stats struct {
	Received, Lost, Late int64
}

// stream receives one m=audio section's RTP on its own UDP port.
type stream struct {
	key   string
	codec codec
	conn  *net.UDPConn
	sp    atomic.Int32 // coach.Speaker, changed by re-INVITE metadata
	recv  atomic.Int64
	lost  atomic.Int64
	late  atomic.Int64
}

func openStream(ip, key string, c codec, sp coach.Speaker) (*stream, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return nil, fmt.Errorf("siprec: RTP port: %w", err)
	}
	st := &stream{key: key, codec: c, conn: conn}
	st.sp.Store(int32(sp))
	return st, nil
}

func (st *stream) port() int { return st.conn.LocalAddr().(*net.UDPAddr).Port }

// run reads packets until the socket is closed, puts them in order and
// hands the decoded audio to out at rate. It is the stream's only reader.
func (st *stream) run(rate, depth int, out func(coach.Speaker, []float32)) error {
	dec, err := newDecoder(st.codec, rate)
	if err != nil {
		return err
	}
	ro := reorder{depth: depth, buf: map[uint16]*rtp.Packet{}}
	emit := func(p *rtp.Packet) {
		if pcm := dec.decode(p); len(pcm) > 0 {
			out(coach.Speaker(st.sp.Load()), pcm)
		}
	}
	buf := make([]byte, 1600)
	defer func() { ro.flush(emit); st.count(&ro) }()
	for {
		n, err := st.conn.Read(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		p := &rtp.Packet{}
		if p.Unmarshal(append([]byte(nil), buf[:n]...)) != nil || p.PayloadType != st.codec.pt {
			continue // not RTP, or DTMF / comfort noise
		}
		st.recv.Add(1)
		ro.push(p, emit)
		st.count(&ro)
	}
}

func (st *stream) count(ro *reorder) {
	st.lost.Store(ro.lost)
	st.late.Store(ro.late)
}

func (st *stream) stats() Stats {
	return Stats{Received: st.recv.Load(), Lost: st.lost.Load(), Late: st.late.Load()}
}

// reorder puts packets back in sequence order, holding at most depth of
// them while it waits for a missing one, which then counts as lost.
type reorder struct {
	depth   int
	started bool
	next    uint16
	buf     map[uint16]*rtp.Packet
	lost    int64
	late    int64
}

func (r *reorder) push(p *rtp.Packet, emit func(*rtp.Packet)) {
	if !r.started {
		r.started, r.next = true, p.SequenceNumber
	}
	if int16(p.SequenceNumber-r.next) < 0 {
		r.late++ // its place has been passed (or a duplicate)
		return
	}
	if _, dup := r.buf[p.SequenceNumber]; dup {
		return
	}
	r.buf[p.SequenceNumber] = p
	r.drain(emit)
	for len(r.buf) > r.depth {
		r.skip()
		r.drain(emit)
	}
}

// drain emits the packets that follow on from next.
func (r *reorder) drain(emit func(*rtp.Packet)) {
	for {
		p, ok := r.buf[r.next]
		if !ok {
			return
		}
		delete(r.buf, r.next)
		emit(p)
		r.next++
	}
}

// skip gives up on the missing packets before the earliest held one.
func (r *reorder) skip() {
	best := -1
	for seq := range r.buf {
		if d := int(uint16(seq - r.next)); best < 0 || d < best {
			best = d
		}
	}
	r.lost += int64(best)
	r.next += uint16(best)
}

// flush emits everything held, in order, counting the holes as lost.
func (r *reorder) flush(emit func(*rtp.Packet)) {
	for len(r.buf) > 0 {
		r.skip()
		r.drain(emit)
	}
}

// decoder turns one stream's packets into PCM at rate, with silence in
// place of lost packets and pauses so that time follows the RTP clock.
type decoder struct {
	c       codec
	rate    int
	opus    *opus.Decoder
	started bool
	nextTS  uint32
	buf     []float32
}

func newDecoder(c codec, rate int) (*decoder, error) {
	d := &decoder{c: c, rate: rate}
	if c.name == "opus" {
		dec, err := opus.NewDecoder(rate, 1)
		if err != nil {
			return nil, fmt.Errorf("siprec: opus decoder: %w", err)
		}
		d.opus, d.buf = dec, make([]float32, rate*120/1000)
	}
	return d, nil
}

// decode returns the PCM of p, preceded by silence for any gap; the slice
// is the caller's.
func (d *decoder) decode(p *rtp.Packet) []float32 {
	var out []float32
	if d.started {
		if dts := int32(p.Timestamp - d.nextTS); dts > 0 && int(dts) <= maxGapSeconds*d.c.clock {
			out = make([]float32, int(int64(dts)*int64(d.rate)/int64(d.c.clock)))
		} else if dts < 0 {
			return nil
		}
	}
	d.started = true
	var pcm []float32
	ticks := 0
	switch d.c.name {
	case "PCMU", "PCMA":
		lin := g711.DecodeUlaw(p.Payload)
		if d.c.name == "PCMA" {
			lin = g711.DecodeAlaw(p.Payload)
		}
		pcm = upsample(lin, d.rate/8000)
		ticks = len(p.Payload)
	default:
		n, err := d.opus.DecodeFloat32(p.Payload, d.buf)
		if err != nil {
			return out
		}
		pcm = d.buf[:n]
		ticks = n * d.c.clock / d.rate
	}
	d.nextTS = p.Timestamp + uint32(ticks)
	return append(out, pcm...)
}

// upsample converts little-endian 16-bit PCM at 8 kHz to float32 at k
// times the rate, by linear interpolation (k is 1 or 2).
func upsample(lin []byte, k int) []float32 {
	n := len(lin) / 2
	out := make([]float32, 0, n*max(k, 1))
	prev := float32(0)
	for i := range n {
		v := float32(int16(uint16(lin[2*i])|uint16(lin[2*i+1])<<8)) / 32768
		if k == 2 {
			out = append(out, (prev+v)/2)
		}
		out = append(out, v)
		prev = v
	}
	return out
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/wire"
)

// Flow control of the events data channel: stop sending above high,
// resume below low. A peer that stays behind fills its subscriber buffer
// and is dropped by the hub, like a slow viewer.
const (
	dcHighWater = 1 << 20
	dcLowWater  = 256 << 10
)

// peer is one WebRTC audio client of a session. Its run goroutine (owned
// by the server, which waits for it) owns the peer connection; pion's
// OnTrack goroutines read and decode the tracks (joined through readers);
// one writer goroutine (joined by run) sends events on the data channel.
type peer struct {
	s   *Server
	rtc *WebRTC
	pc  *webrtc.PeerConnection
	id  string
	off offer
	log *slog.Logger
	ls  *liveSession
	src *source
	sub *subscriber // nil when the offer has no data channel
	// res is the peer's WHIP resource (RFC 9725): its URL and ICE state.
	res *whipResource

	gone     chan struct{} // closed when the connection failed or closed
	goneOnce sync.Once
	stopReq  chan struct{} // the client sent {"type":"stop"}
	dcOpen   chan *webrtc.DataChannel
	quit     chan struct{} // closed by run to end the writer
	// attached is closed once ls, src and sub are set (or the attach
	// failed, leaving ls nil): track readers wait for it.
	attached chan struct{}

	mu      sync.Mutex
	closed  bool // no new track readers
	tracks  []*webrtc.TrackRemote
	taken   [3]bool
	recs    []recording
	readers sync.WaitGroup
}

// recording is a finished Ogg file to register.
type recording struct {
	sp   coach.Speaker
	path string
}

// newPeer sets up pc's callbacks; they only hand things to run, the
// writer or the track readers, never block.
func newPeer(s *Server, rtc *WebRTC, pc *webrtc.PeerConnection, id string, off offer) *peer {
	p := &peer{
		s: s, rtc: rtc, pc: pc, id: id, off: off,
		log:      s.log.With("session", id, "transport", "webrtc"),
		gone:     make(chan struct{}),
		stopReq:  make(chan struct{}, 1),
		dcOpen:   make(chan *webrtc.DataChannel, 1),
		quit:     make(chan struct{}),
		attached: make(chan struct{}),
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			p.goneOnce.Do(func() { close(p.gone) })
		}
	})
	pc.OnTrack(p.onTrack)
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != "events" {
			return
		}
		dc.OnOpen(func() {
			select {
			case p.dcOpen <- dc:
			default: // a second "events" channel: the first one serves
			}
		})
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			c, err := wire.DecodeControl(msg.Data)
			if err != nil || !msg.IsString {
				p.log.Debug("ignored data channel message", "err", err)
				return
			}
			if c.Type == "stop" {
				select {
				case p.stopReq <- struct{}{}:
				default:
				}
			}
		})
	})
	return p
}

// run waits for the attach, then for the end of the session, of the peer, or of its turn as
// the session's source, then closes the connection and joins everything.
func (p *peer) run() {
	defer p.rtc.peers.Add(-1)
	defer p.rtc.resources.remove(p)
	<-p.attached
	if p.ls == nil {
		return // the attach failed
	}
	writerDone := make(chan struct{})
	if p.sub != nil {
		go func() {
			defer close(writerDone)
			p.writeEvents()
		}()
	} else {
		close(writerDone)
	}
	detach := false
	stopReq := p.stopReq
loop:
	for {
		select {
		case <-stopReq:
			stopReq = nil
			// Audio sent before "stop" may still be on its way: read
			// what arrives within StopGrace, then stop after it.
			p.stopTracks(time.Now().Add(p.rtc.cfg.StopGrace))
			p.readers.Wait()
			p.ls.send(item{kind: itemStop, src: p.src})
		case <-p.ls.done:
			// The summary is queued for the writer: let it reach the
			// peer before the connection closes.
			t := time.NewTimer(p.rtc.cfg.DrainTimeout)
			select {
			case <-writerDone:
			case <-p.gone:
			case <-t.C:
				p.log.Warn("events not delivered in time")
			}
			t.Stop()
			break loop
		case <-p.src.kick:
			break loop
		case <-p.gone:
			detach = true
			break loop
		}
	}
	p.stopTracks(time.Now())
	close(p.quit)
	if err := p.pc.GracefulClose(); err != nil {
		p.log.Warn("close peer connection", "err", err)
	}
	p.readers.Wait()
	if detach {
		// After the last audio, so the session keeps all of it.
		p.ls.send(item{kind: itemDetach, src: p.src})
	}
	if p.sub != nil {
		p.ls.hub.unsubscribe(p.sub)
		p.s.metrics.viewers.Dec()
	}
	<-writerDone
	p.register()
}

// stopTracks lets no new track reader start and makes the running ones
// return once they have read what arrived before deadline.
func (p *peer) stopTracks(deadline time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, t := range p.tracks {
		t.SetReadDeadline(deadline)
	}
}

// register adds the finished recordings to the store. A reconnecting peer
// appends to the same files and registers them again; once the session
// has ended they are final and sealed (with recording keys).
func (p *peer) register() {
	ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.FlushTimeout)
	defer cancel()
	p.mu.Lock()
	recs := p.recs
	p.mu.Unlock()
	final := false
	select {
	case <-p.ls.done:
		final = true // no peer can append any more
	default:
	}
	for _, r := range recs {
		if err := p.s.finalizeRecording(ctx, p.id, r.sp, r.path, "audio/ogg", final); err != nil {
			p.log.Error("register recording", "err", err, "speaker", r.sp)
		}
	}
}

// writeEvents is the data channel's only writer. It waits for the channel
// to open (events queue in the subscriber meanwhile), then sends each
// event as a text message, and at the end waits until the last one was
// delivered.
func (p *peer) writeEvents() {
	var dc *webrtc.DataChannel
	select {
	case dc = <-p.dcOpen:
	case <-p.quit:
		return
	}
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(dcLowWater)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	for {
		select {
		case msg, ok := <-p.sub.C:
			if !ok {
				p.drain(dc, low)
				return
			}
			for dc.BufferedAmount() > dcHighWater {
				select {
				case <-low:
				case <-p.quit:
					return
				}
			}
			if err := dc.SendText(string(msg)); err != nil {
				p.log.Debug("events data channel", "err", err)
				return
			}
		case <-p.quit:
			return
		}
	}
}

// drain waits until the peer acknowledged everything sent on dc.
func (p *peer) drain(dc *webrtc.DataChannel, low chan struct{}) {
	dc.SetBufferedAmountLowThreshold(0)
	for dc.BufferedAmount() > 0 {
		select {
		case <-low:
		case <-p.quit:
			return
		}
	}
}

// onTrack runs on a goroutine of pion's own for each incoming track: it
// reads the track there until the connection closes.
func (p *peer) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if t.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	sp, stereo := p.speakerOf(r)
	p.mu.Lock()
	if p.closed || sp == coach.NoSpeaker || p.taken[sp] || stereo && p.taken[coach.Prospect] {
		p.mu.Unlock()
		return
	}
	p.taken[sp] = true
	if stereo {
		p.taken[coach.Prospect] = true
	}
	p.tracks = append(p.tracks, t)
	p.readers.Add(1)
	p.mu.Unlock()
	defer p.readers.Done()
	select {
	case <-p.attached:
	case <-p.gone:
		return
	}
	if p.ls == nil {
		return // the session refused the peer
	}
	if stereo {
		if err := p.readStereo(t); err != nil {
			p.log.Error("stereo audio track", "err", err)
		}
		return
	}
	if err := p.readTrack(t, sp); err != nil {
		p.log.Error("audio track", "speaker", sp, "err", err)
	}
}

// speakerOf finds the speaker of the offer's section that r receives;
// stereo is true for the one stereo track that carries both sides (its
// speaker is then the rep, the left channel).
func (p *peer) speakerOf(r *webrtc.RTPReceiver) (sp coach.Speaker, stereo bool) {
	for _, tr := range p.pc.GetTransceivers() {
		if tr.Receiver() == r {
			return p.off.speakers[tr.Mid()], p.off.stereo != "" && tr.Mid() == p.off.stereo
		}
	}
	return coach.NoSpeaker, false
}

// readTrack decodes one track to the session and records its packets.
// It returns when the track ends (connection closed, read deadline).
func (p *peer) readTrack(t *webrtc.TrackRemote, sp coach.Speaker) error {
	if c := t.Codec(); c.MimeType != webrtc.MimeTypeOpus {
		return fmt.Errorf("codec %s, want Opus", c.MimeType)
	}
	ot, err := newOpusTrack(1)
	if err != nil {
		return err
	}
	rec, err := p.openRecording(sp, uint32(t.SSRC()))
	if err != nil {
		p.log.Error("recording", "err", err, "speaker", sp) // keep coaching
	}
	defer func() {
		if rec != nil {
			if err := rec.close(); err != nil {
				p.log.Error("close recording", "err", err, "speaker", sp)
				return
			}
			p.mu.Lock()
			p.recs = append(p.recs, recording{sp, rec.path})
			p.mu.Unlock()
		}
	}()
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return nil // closed or past the deadline
		}
		pcm, gap := ot.push(pkt)
		if rec != nil && (len(pcm) > 0 || gap > 0) {
			if err := rec.write(pkt, gap, ot); err != nil {
				p.log.Error("recording", "err", err, "speaker", sp)
				rec.close()
				rec = nil
			}
		}
		if len(pcm) == 0 {
			continue
		}
		frame := make([]float32, len(pcm))
		copy(frame, pcm)
		if err := p.ls.send(item{kind: itemAudio, src: p.src, sp: sp, pcm: frame, at: time.Now()}); err != nil {
			return nil // the session ended
		}
	}
}

// oggRecording writes one track's Opus packets, unchanged, to an Ogg
// file. A second connection of the same session appends a chained
// stream (RFC 3533 allows several in one file).
type oggRecording struct {
	path  string
	w     *oggwriter.Writer
	track *oggwriter.Track
	ssrc  uint32
}

func (p *peer) openRecording(sp coach.Speaker, ssrc uint32) (*oggRecording, error) {
	path, err := p.s.st.RecordingPath(p.id, sp, "ogg")
	if err != nil {
		return nil, err
	}
	f, err := openPrivate(path, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return nil, err
	}
	w, err := oggwriter.NewWriter(f, oggwriter.WithSampleRate(opusClock), oggwriter.WithChannelCount(1))
	if err != nil {
		f.Close()
		return nil, err
	}
	tr, err := w.NewTrack(ssrc)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &oggRecording{path: path, w: w, track: tr, ssrc: ssrc}, nil
}

// write records gap empty frames, then pkt.
func (r *oggRecording) write(pkt *rtp.Packet, gap int, ot *opusTrack) error {
	for range gap {
		if err := r.track.WriteRTP(&rtp.Packet{Header: rtp.Header{SSRC: r.ssrc}, Payload: ot.gapFrame()}); err != nil {
			return err
		}
	}
	err := r.track.WriteRTP(pkt)
	if err != nil && len(pkt.Payload) > 0 {
		return err
	}
	return nil
}

func (r *oggRecording) close() error {
	if err := r.w.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

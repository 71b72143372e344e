package server

import (
	"fmt"

	"github.com/pion/rtp"
	"gopkg.in/hraban/opus.v2"
)

// Opus over RTP always counts time at 48 kHz (RFC 7587); we decode
// straight to the pipeline's 16 kHz.
const (
	opusClock     = 48000
	opusRate      = 16000
	opusTicks     = opusClock / opusRate // RTP ticks per decoded sample
	maxOpusFrame  = opusRate * 120 / 1000
	defaultFrame  = opusClock / 50 // 20 ms, until a packet tells us
	maxPLCFrames  = 5              // conceal this many lost frames, then silence
	maxGapSeconds = 60             // a longer jump is a sender reset, not a gap
)

// opusTrack turns one track's RTP packets into 16 kHz PCM, concealing gaps
// (lost packets with Opus FEC and PLC, discontinuous transmission with
// silence) so that the audio's length follows the RTP clock: media time
// stays aligned with the other track and with real time. Not safe for
// concurrent use; a track's reader goroutine owns it.
type opusTrack struct {
	dec     *opus.Decoder
	ch      int // channels decoded: 1, or 2 for a stereo call (interleaved)
	started bool
	nextSeq uint16
	nextTS  uint32
	frame   int  // RTP ticks of one frame of the last packet: the unit of concealment
	toc     byte // TOC byte of the last packet, for recorded gap frames
	out     []float32
	buf     []float32
}

// newOpusTrack returns a decoder of channels (1 or 2) channels; with 2 the
// PCM it returns is interleaved, left first.
func newOpusTrack(channels int) (*opusTrack, error) {
	dec, err := opus.NewDecoder(opusRate, channels)
	if err != nil {
		return nil, fmt.Errorf("opus decoder: %w", err)
	}
	return &opusTrack{dec: dec, ch: channels, frame: defaultFrame, buf: make([]float32, maxOpusFrame*channels)}, nil
}

// push takes the next packet read from the track. It returns the PCM that
// covers any gap before the packet and the packet itself (valid until the
// next call), and how many empty Opus frames a recording should get before
// the packet to keep its length too (see gapFrame). A late or duplicate
// packet returns nothing.
func (o *opusTrack) push(pkt *rtp.Packet) (pcm []float32, gap int) {
	o.out = o.out[:0]
	if len(pkt.Payload) == 0 {
		return nil, 0
	}
	if o.started {
		dseq := int16(pkt.SequenceNumber - o.nextSeq)
		if dseq < 0 {
			return nil, 0 // late or duplicate: its time has been filled
		}
		if dts := int32(pkt.Timestamp - o.nextTS); dts > 0 && dts <= maxGapSeconds*opusClock {
			gap = int(dts) / o.frame
			o.conceal(gap, dseq > 0, pkt.Payload)
		}
	}
	o.started = true
	full := maxOpusFrame * o.ch
	n, err := o.dec.DecodeFloat32(pkt.Payload, o.buf[:full:full])
	if err != nil {
		// A corrupt packet counts as lost.
		n = o.frame / opusTicks
		o.plc(n)
	} else {
		o.out = append(o.out, o.buf[:n*o.ch]...)
		if c := opusFrames(pkt.Payload); c > 0 {
			o.frame, o.toc = n*opusTicks/c, pkt.Payload[0]
		}
	}
	o.nextSeq = pkt.SequenceNumber + 1
	o.nextTS = pkt.Timestamp + uint32(n*opusTicks)
	return o.out, gap
}

// conceal fills frames missing frames before the packet data. Lost packets
// get FEC (from data, for the last one) and PLC; after maxPLCFrames, and
// for a sender that paused (no sequence gap), silence.
func (o *opusTrack) conceal(frames int, lost bool, data []byte) {
	n := o.frame / opusTicks
	for i := range frames {
		switch {
		case lost && i == frames-1:
			b := o.buf[: n*o.ch : n*o.ch]
			if err := o.dec.DecodeFECFloat32(data, b); err != nil {
				clear(b)
			}
			o.out = append(o.out, b...)
		case lost && i < maxPLCFrames:
			o.plc(n)
		default:
			o.out = append(o.out, make([]float32, n*o.ch)...)
		}
	}
}

// plc conceals n samples per channel.
func (o *opusTrack) plc(n int) {
	b := o.buf[: n*o.ch : n*o.ch]
	if err := o.dec.DecodePLCFloat32(b); err != nil {
		clear(b)
	}
	o.out = append(o.out, b...)
}

// gapFrame returns an Opus packet with one empty frame as long as the last
// packet's frames: decoders treat it as a lost frame (RFC 6716, 3.2.1), so
// a recording keeps its length without re-encoding.
func (o *opusTrack) gapFrame() []byte {
	return []byte{o.toc &^ 3} // code 0: one frame, here of zero bytes
}

// opusFrames returns the number of frames in an Opus packet (RFC 6716,
// 3.2), or 0 if it is malformed.
func opusFrames(p []byte) int {
	switch p[0] & 3 {
	case 0:
		return 1
	case 1, 2:
		return 2
	}
	if len(p) < 2 {
		return 0
	}
	return int(p[1] & 0x3f)
}

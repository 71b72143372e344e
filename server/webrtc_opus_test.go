package server

import (
	"testing"

	"github.com/pion/rtp"
	"gopkg.in/hraban/opus.v2"
)

// TestOpusTrackGaps checks that lost packets, a sender pause and late
// packets keep the decoded audio exactly as long as the RTP clock says.
func TestOpusTrackGaps(t *testing.T) {
	enc, err := opus.NewEncoder(16000, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	enc.SetInBandFEC(true)
	enc.SetPacketLossPerc(10)
	ot, err := newOpusTrack(1)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 320)
	buf := make([]byte, 1500)
	lost := map[int]bool{10: true, 20: true, 21: true, 22: true}
	const pauseAt, pause = 30, 25 // frames the sender skips (no sequence gap)
	samples, gaps := 0, 0
	seq, ts := uint16(65530), uint32(4294960000) // both wrap
	for i := range 50 {
		for j := range pcm {
			pcm[j] = int16((i*320 + j) % 200 * 50)
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		if i == pauseAt {
			ts += pause * 960
		}
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: buf[:n]}
		seq++
		ts += 960
		if lost[i] {
			continue
		}
		out, gap := ot.push(pkt)
		samples += len(out)
		gaps += gap
		if i == 40 {
			// A duplicate arrives late: ignored.
			if out, gap := ot.push(pkt); len(out) != 0 || gap != 0 {
				t.Fatalf("late packet gave %d samples, gap %d", len(out), gap)
			}
		}
	}
	if want := (50 + pause) * 320; samples != want {
		t.Fatalf("decoded %d samples, want %d", samples, want)
	}
	if want := len(lost) + pause; gaps != want {
		t.Fatalf("%d gap frames for the recording, want %d", gaps, want)
	}
	if f := ot.gapFrame(); len(f) != 1 || opusFrames(f) != 1 {
		t.Fatalf("gap frame %x", f)
	}
}

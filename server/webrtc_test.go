package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"gopkg.in/hraban/opus.v2"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/store"
)

// newRTCServer starts a test server with the WebRTC endpoint on a free
// loopback UDP port, its configuration changed by edits.
func newRTCServer(t *testing.T, edits ...func(*server.WebRTCConfig)) (*testServer, *server.WebRTC) {
	t.Helper()
	return newRTCServerWith(t, nil, edits...)
}

// newRTCServerWith is newRTCServer with a change to the server's
// configuration.
func newRTCServerWith(t *testing.T, edit func(*server.Config), edits ...func(*server.WebRTCConfig)) (*testServer, *server.WebRTC) {
	t.Helper()
	cfg := server.DefaultWebRTCConfig()
	cfg.UDPPort, cfg.ListenIP = 0, "127.0.0.1"
	for _, edit := range edits {
		edit(&cfg)
	}
	rtc, err := server.NewWebRTC(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtc.Close() }) // after the server's cleanup: LIFO
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) {
		c.WebRTC = rtc
		if edit != nil {
			edit(c)
		}
	}, recognizer)
	return ts, rtc
}

// rtcClient is a browser stand-in: a pion peer with two Opus tracks and
// the events data channel.
type rtcClient struct {
	pc        *webrtc.PeerConnection
	tracks    map[coach.Speaker]*webrtc.TrackLocalStaticRTP
	dc        *webrtc.DataChannel
	events    collector
	dcOpen    chan struct{}
	summary   chan struct{} // closed when the summary arrived
	dcClosed  chan struct{}
	connected chan struct{}
	badEvent  chan error
}

// newRTCClient builds the client peer; trackOrder names the tracks by id
// in the order of their m= sections.
func newRTCClient(t *testing.T, trackOrder ...coach.Speaker) *rtcClient {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &rtcClient{pc: pc, tracks: map[coach.Speaker]*webrtc.TrackLocalStaticRTP{},
		dcOpen: make(chan struct{}), summary: make(chan struct{}), dcClosed: make(chan struct{}),
		connected: make(chan struct{}), badEvent: make(chan error, 1)}
	t.Cleanup(func() { pc.GracefulClose() })
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(c.connected) })
		}
	})
	for _, sp := range trackOrder {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, sp.String(), "call")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		c.tracks[sp] = tr
	}
	dc, err := pc.CreateDataChannel("events", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.dc = dc
	dc.OnOpen(func() { close(c.dcOpen) })
	dc.OnClose(func() { close(c.dcClosed) })
	var sumOnce sync.Once
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var ev coach.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil || !m.IsString {
			select {
			case c.badEvent <- errors.Join(errors.New("bad event message"), err):
			default:
			}
			return
		}
		c.events.add(ev)
		if ev.Type == coach.EventSummary {
			sumOnce.Do(func() { close(c.summary) })
		}
	})
	return c
}

// offer returns the client's complete (non-trickle) offer.
func (c *rtcClient) offer(t *testing.T) string {
	t.Helper()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return c.pc.LocalDescription().SDP
}

// rtcSession creates a session owned by the test server's user, who may
// stream it.
func rtcSession(t *testing.T, ts *testServer) string {
	t.Helper()
	ses, err := ts.cl.CreateSession(context.Background(), clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	return ses.ID
}

// postOffer posts an offer as the session's owner.
func postOffer(t *testing.T, ts *testServer, id, contentType, body string) (reply, []byte) {
	t.Helper()
	resp, err := ts.st.HTTP.Post(ts.ts.URL+"/v1/sessions/"+id+"/webrtc", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{resp.StatusCode, resp.Header}, b
}

// reply is the status and header of an answer whose body was read.
type reply struct {
	StatusCode int
	Header     http.Header
}

// connect posts the offer and applies the answer.
func (c *rtcClient) connect(t *testing.T, ts *testServer, id string) {
	t.Helper()
	resp, answer := postOffer(t, ts, id, "application/sdp", c.offer(t))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("offer: %d %s", resp.StatusCode, answer)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" || resp.Header.Get("Location") == "" {
		t.Fatalf("answer Content-Type %q, Location %q", ct, resp.Header.Get("Location"))
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{c.connected, c.dcOpen} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("peer connection or data channel did not open")
		}
	}
}

// opusCall encodes the synthesized call with libopus, as a client would:
// one 20 ms packet per side in turn, both sides padded to the same length.
func opusCall(t *testing.T) map[coach.Speaker][][]byte {
	t.Helper()
	pcm := map[coach.Speaker][]int16{}
	n := 0
	for sp, path := range map[coach.Speaker]string{coach.Rep: rep(), coach.Prospect: prospect()} {
		x, err := readWAV(path)
		if err != nil {
			t.Fatal(err)
		}
		pcm[sp], n = x, max(n, len(x))
	}
	out := map[coach.Speaker][][]byte{}
	buf := make([]byte, 1500)
	for sp, x := range pcm {
		enc, err := opus.NewEncoder(16000, 1, opus.AppVoIP)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 320 {
			k, err := enc.Encode(chunk(x, i), buf)
			if err != nil {
				t.Fatal(err)
			}
			out[sp] = append(out[sp], append([]byte(nil), buf[:k]...))
		}
	}
	return out
}

// sendPackets sends both sides' packets on their tracks, speed times
// faster than real time.
func (c *rtcClient) sendPackets(t *testing.T, speed int, call map[coach.Speaker][][]byte) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond / time.Duration(speed))
	defer tick.Stop()
	var hdr [3]rtp.Header
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		hdr[sp] = rtp.Header{Version: 2, SequenceNumber: 1000 * uint16(sp), Timestamp: 77777 * uint32(sp)}
	}
	for i := range len(call[coach.Rep]) {
		for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
			if err := c.tracks[sp].WriteRTP(&rtp.Packet{Header: hdr[sp], Payload: call[sp][i]}); err != nil {
				t.Fatal(err)
			}
			hdr[sp].SequenceNumber++
			hdr[sp].Timestamp += 960
		}
		<-tick.C
	}
}

// decodedCall decodes the packets as the server does (libopus at 16 kHz)
// into two WAV files, for the offline analysis of what the server heard.
func decodedCall(t *testing.T, call map[coach.Speaker][][]byte) map[coach.Speaker]string {
	t.Helper()
	out := map[coach.Speaker]string{}
	for sp, pkts := range call {
		dec, err := opus.NewDecoder(16000, 1)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), sp.String()+".wav")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := audio.NewWAVWriter(f, 16000, 1)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]float32, 1920)
		for _, p := range pkts {
			n, err := dec.DecodeFloat32(p, pcm)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(pcm[:n]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out[sp] = path
	}
	return out
}

// TestWebRTCMatchesAnalyze streams the synthesized call over a real pion
// peer connection (Opus tracks named rep and prospect, the prospect's
// first, so naming beats order), receives the events on the data channel,
// and checks them against the offline analysis; then the Ogg recordings.
func TestWebRTCMatchesAnalyze(t *testing.T) {
	needCall(t)
	ts, rtc := newRTCServer(t)
	id := rtcSession(t, ts)
	c := newRTCClient(t, coach.Prospect, coach.Rep)
	c.connect(t, ts, id)
	start := time.Now()
	call := opusCall(t)
	c.sendPackets(t, 4, call)
	if err := c.dc.SendText(`{"type":"stop"}`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.summary:
	case err := <-c.badEvent:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("no summary 30 s after stop")
	}
	// The server closes the connection after the summary.
	select {
	case <-c.dcClosed:
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not close the data channel after the summary")
	}
	t.Logf("streamed and analyzed in %v", time.Since(start))

	got := c.events.all()
	for _, typ := range []string{"speech", "transcript", "talk", "stage", "cue", "summary"} {
		if len(filter(got, typ)) == 0 {
			t.Errorf("no %s event received", typ)
		}
	}
	if last := got[len(got)-1]; last.Type != coach.EventSummary {
		t.Fatalf("last event %s, want summary", last.Type)
	}
	// The server hears Opus-coded audio, and the recognizer's output on
	// this call is sensitive to it: "every crew is on time, what's
	// different for you" decides whether the future stage and
	// make_the_ask fire, and the coded and original audio were heard
	// differently (in either direction across runs). So the reference is
	// the offline analysis of the same packets decoded the same way: the
	// transport must change nothing. The analysis of the original WAVs is
	// logged for comparison.
	dec := decodedCall(t, call)
	want := analyzePaths(t, dec[coach.Rep], dec[coach.Prospect])
	compareKeyEvents(t, filter(got, "cue", "stage"), filter(want, "cue", "stage"))
	raw := filter(analyzeOffline(t), "cue", "stage")
	key := func(ev coach.Event) string { return ev.Type + ":" + ev.Cue + ev.Stage }
	t.Logf("cues and stages over WebRTC:    %v", keys(filter(got, "cue", "stage"), key))
	t.Logf("cues and stages of the raw WAVs: %v", keys(raw, key))

	// Recordings are registered once the peer has closed them.
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		wavLen := wavSamples(t, map[coach.Speaker]string{coach.Rep: rep(), coach.Prospect: prospect()}[sp])
		b := waitRecording(t, ts, id, sp)
		if rec, err := ts.db.Recording(context.Background(), id, sp); err != nil {
			t.Fatal(err)
		} else {
			checkPrivate(t, rec.Path)
		}
		samples := decodeOgg(t, b)
		// The last packet may run past the WAV's end by under 20 ms.
		if d := samples - wavLen; d < 0 || d > 320 {
			t.Errorf("%s: Ogg decodes to %d samples at 16 kHz, WAV has %d", sp, samples, wavLen)
		}
	}
	ses, err := ts.db.GetSession(context.Background(), id)
	if err != nil || ses.Status != store.StatusEnded || ses.Summary == nil {
		t.Fatalf("stored session %+v, %v", ses, err)
	}
	waitFor(t, func() bool { return rtc.Peers() == 0 }, "peer count back to 0")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !ok() {
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitRecording(t *testing.T, ts *testServer, id string, sp coach.Speaker) []byte {
	t.Helper()
	var b []byte
	waitFor(t, func() bool {
		resp, err := ts.st.HTTP.Get(ts.ts.URL + "/v1/sessions/" + id + "/audio?speaker=" + sp.String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/ogg" {
			return false
		}
		b, _ = io.ReadAll(resp.Body)
		return true
	}, sp.String()+"'s Ogg recording")
	return b
}

func wavSamples(t *testing.T, path string) int {
	t.Helper()
	pcm, err := readWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(pcm)
}

// decodeOgg parses an Ogg Opus file page by page and decodes every packet
// with libopus; it returns the number of 16 kHz samples.
func decodeOgg(t *testing.T, b []byte) int {
	t.Helper()
	r, head, err := oggreader.NewWith(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Ogg header: %v", err)
	}
	if head.Channels != 1 || head.SampleRate != 48000 {
		t.Fatalf("OpusHead %+v", head)
	}
	dec, err := opus.NewDecoder(16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 16000*120/1000)
	total, packets := 0, 0
	for {
		payload, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Ogg page %d: %v", packets, err)
		}
		if len(payload) == 0 || bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		n, err := dec.Decode(payload, pcm)
		if err != nil {
			t.Fatalf("Opus packet %d (granule %d): %v", packets, hdr.GranulePosition, err)
		}
		total += n
		packets++
	}
	if packets == 0 {
		t.Fatal("no audio packets in the Ogg file")
	}
	return total
}

// TestWebRTCBadOffers checks that bad requests get a clear 4xx JSON error
// and that the server carries on.
func TestWebRTCBadOffers(t *testing.T) {
	ts, rtc := newRTCServer(t)
	id := rtcSession(t, ts)
	dataOnly := func(t *testing.T) string {
		c := newRTCClient(t)
		return c.offer(t)
	}
	tests := []struct {
		name        string
		id          string
		contentType string
		body        func(t *testing.T) string
		code        int
		msg         string
	}{
		{"wrong content type", id, "application/json", func(*testing.T) string { return `{"sdp":"v=0"}` }, http.StatusUnsupportedMediaType, "application/sdp"},
		{"not SDP", id, "application/sdp", func(*testing.T) string { return "hello, server" }, http.StatusBadRequest, "bad SDP offer"},
		{"no audio track", id, "application/sdp", dataOnly, http.StatusBadRequest, "no Opus audio track"},
		{"too large", id, "application/sdp", func(*testing.T) string { return strings.Repeat("a", 100<<10) }, http.StatusRequestEntityTooLarge, "larger than"},
		{"unknown session", "nosuchsession", "application/sdp", func(t *testing.T) string { return newRTCClient(t, coach.Rep).offer(t) }, http.StatusNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := postOffer(t, ts, tt.id, tt.contentType, tt.body(t))
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != tt.code || !strings.Contains(e.Error, tt.msg) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, b, tt.code, tt.msg)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("error Content-Type %q", ct)
			}
		})
	}
	// The server carries on: a good offer on the same session connects
	// and a stop ends it with a summary.
	c := newRTCClient(t, coach.Rep, coach.Prospect)
	c.connect(t, ts, id)
	if err := c.dc.SendText(`{"type":"stop"}`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.summary:
	case <-time.After(15 * time.Second):
		t.Fatal("no summary after stop")
	}
	waitFor(t, func() bool { return rtc.Peers() == 0 }, "peer count back to 0")
}

// Command whipclient is a WHIP client (RFC 9725) built on pion, for the
// server's tests: it sends a call as one stereo Opus track (left channel
// rep, right prospect), trickles its ICE candidates with PATCH, restarts
// ICE half-way through, and ends the session with DELETE. Each step's
// outcome is printed on stdout as one JSON line; the exit status is
// non-zero when a step failed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"gopkg.in/hraban/opus.v2"

	"github.com/cuecard/cuecard/audio"
)

const fragType = "application/trickle-ice-sdpfrag"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "whipclient:", err)
		os.Exit(1)
	}
}

// client is one WHIP session.
type client struct {
	endpoint, token string
	http            *http.Client
	pc              *webrtc.PeerConnection
	track           *webrtc.TrackLocalStaticRTP
	resource        string // absolute Location URL
	mu              sync.Mutex
	etag            string
	out             *json.Encoder
}

// step prints one step's outcome.
func (c *client) step(name string, status int, extra map[string]any) {
	m := map[string]any{"step": name, "status": status}
	for k, v := range extra {
		m[k] = v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Encode(m)
}

func run(args []string) error {
	fs := flag.NewFlagSet("whipclient", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "WHIP endpoint URL")
	token := fs.String("token", "", "Bearer token")
	repWAV := fs.String("rep", "", "the rep's WAV (mono, 16 kHz)")
	prospectWAV := fs.String("prospect", "", "the prospect's WAV (mono, same rate)")
	speed := fs.Int("speed", 4, "times faster than real time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pkts, err := encodeStereo(*repWAV, *prospectWAV)
	if err != nil {
		return err
	}
	c := &client{endpoint: *endpoint, token: *token, http: &http.Client{Timeout: 60 * time.Second}, out: json.NewEncoder(os.Stdout)}
	if err := c.open(); err != nil {
		return err
	}
	defer c.pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	half := len(pkts) / 2
	if err := c.send(ctx, pkts[:half], 0, *speed); err != nil {
		return err
	}
	if err := c.restart(ctx); err != nil {
		return err
	}
	if err := c.send(ctx, pkts[half:], half, *speed); err != nil {
		return err
	}
	return c.delete()
}

// encodeStereo encodes the two WAVs as one stereo Opus stream of 20 ms
// packets.
func encodeStereo(repPath, prospectPath string) ([][]byte, error) {
	rep, f, err := audio.ReadWAV16(repPath)
	if err != nil {
		return nil, err
	}
	pro, _, err := audio.ReadWAV16(prospectPath)
	if err != nil {
		return nil, err
	}
	rate := f.SampleRate
	enc, err := opus.NewEncoder(rate, 2, opus.AppVoIP)
	if err != nil {
		return nil, err
	}
	n, frame := max(len(rep), len(pro)), rate/50
	at := func(x []int16, i int) int16 {
		if i < len(x) {
			return x[i]
		}
		return 0
	}
	var pkts [][]byte
	pcm, buf := make([]int16, 2*frame), make([]byte, 1500)
	for i := 0; i < n; i += frame {
		for j := range frame {
			pcm[2*j], pcm[2*j+1] = at(rep, i+j), at(pro, i+j)
		}
		k, err := enc.Encode(pcm, buf)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, append([]byte(nil), buf[:k]...))
	}
	return pkts, nil
}

// open builds the peer, POSTs the offer at once (candidates trickle
// after it) and applies the answer.
func (c *client) open() error {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.pc = pc
	c.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "call", "call")
	if err != nil {
		return err
	}
	if _, err := pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	cands := make(chan string, 64)
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic != nil {
			select {
			case cands <- ic.ToJSON().Candidate:
			default:
			}
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	if err := c.post(pc.LocalDescription().SDP); err != nil {
		return err
	}
	// Trickle the candidates gathered so far and as they come, until
	// the connection is up.
	trickled := 0
	timeout := time.After(20 * time.Second)
	for {
		select {
		case cand := <-cands:
			if err := c.trickle(cand); err != nil {
				return err
			}
			trickled++
		case <-connected:
			c.step("connected", 0, map[string]any{"trickled": trickled})
			return nil
		case <-timeout:
			return errors.New("not connected within 20 s")
		}
	}
}

// reply is the status and header of an answer whose body was read.
type reply struct {
	StatusCode int
	Status     string
	Header     http.Header
}

func (c *client) request(method, u, ctype, body string, hdr map[string]string) (reply, []byte, error) {
	r, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return reply{}, nil, err
	}
	r.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return reply{}, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Status, resp.Header}, b, err
}

func (c *client) post(offer string) error {
	resp, body, err := c.request(http.MethodPost, c.endpoint, "application/sdp", offer, nil)
	if err != nil {
		return err
	}
	c.step("post", resp.StatusCode, map[string]any{"location": resp.Header.Get("Location"), "etag": resp.Header.Get("ETag")})
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST: %s: %s", resp.Status, body)
	}
	base, err := url.Parse(c.endpoint)
	if err != nil {
		return err
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	c.resource, c.etag = loc.String(), resp.Header.Get("ETag")
	return c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

// trickle sends one candidate as a fragment (RFC 8840).
func (c *client) trickle(cand string) error {
	frag := "a=ice-ufrag:" + c.localUfrag() + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=" + cand + "\r\n"
	resp, body, err := c.request(http.MethodPatch, c.resource, fragType, frag, map[string]string{"If-Match": c.etag})
	if err != nil {
		return err
	}
	c.step("trickle", resp.StatusCode, nil)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("trickle PATCH: %s: %s", resp.Status, body)
	}
	return nil
}

func (c *client) localUfrag() string {
	var d sdp.SessionDescription
	if d.UnmarshalString(c.pc.LocalDescription().SDP) != nil {
		return ""
	}
	for _, m := range d.MediaDescriptions {
		if v, ok := m.Attribute("ice-ufrag"); ok {
			return v
		}
	}
	return ""
}

// send plays packets (the first has index first) at speed times real time.
func (c *client) send(ctx context.Context, pkts [][]byte, first, speed int) error {
	tick := time.NewTicker(20 * time.Millisecond / time.Duration(speed))
	defer tick.Stop()
	for i, p := range pkts {
		n := first + i
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: uint32(n * 960), SSRC: 1}
		if err := c.track.WriteRTP(&rtp.Packet{Header: h, Payload: p}); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.step("sent", 0, map[string]any{"packets": len(pkts)})
	return nil
}

// restart restarts ICE (RFC 9725, 4.3.2): new credentials and candidates
// in a PATCH with If-Match, the server's in the answer fragment; then a
// trickle with the old ETag must fail with 412.
func (c *client) restart(ctx context.Context) error {
	old := c.etag
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	frag, err := iceFrag(c.pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	resp, body, err := c.request(http.MethodPatch, c.resource, fragType, frag, map[string]string{"If-Match": old})
	if err != nil {
		return err
	}
	c.step("restart", resp.StatusCode, map[string]any{"etag": resp.Header.Get("ETag"), "old_etag": old})
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ICE restart PATCH: %s: %s", resp.Status, body)
	}
	c.etag = resp.Header.Get("ETag")
	answer, err := withFrag(c.pc.RemoteDescription().SDP, string(body))
	if err != nil {
		return err
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	stale, _, err := c.request(http.MethodPatch, c.resource, fragType, frag, map[string]string{"If-Match": old})
	if err != nil {
		return err
	}
	c.step("stale", stale.StatusCode, nil)
	return nil
}

// iceFrag returns an SDP's ICE credentials and candidates as a fragment.
func iceFrag(s string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return "", err
	}
	var b strings.Builder
	m := d.MediaDescriptions[0]
	u, _ := m.Attribute("ice-ufrag")
	p, _ := m.Attribute("ice-pwd")
	mid, _ := m.Attribute("mid")
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=%s\r\na=mid:%s\r\n", u, p, m.MediaName.String(), mid)
	for _, a := range m.Attributes {
		if a.Key == "candidate" {
			b.WriteString("a=" + a.String() + "\r\n")
		}
	}
	return b.String(), nil
}

// withFrag returns the answer with the fragment's ICE credentials and
// candidates in place of its own.
func withFrag(answer, frag string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", err
	}
	var ufrag, pwd string
	var cands []string
	for line := range strings.Lines(frag) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=candidate:"):
			cands = append(cands, strings.TrimPrefix(line, "a=candidate:"))
		}
	}
	if ufrag == "" || pwd == "" {
		return "", fmt.Errorf("answer fragment without ICE credentials: %q", frag)
	}
	for _, m := range d.MediaDescriptions {
		var attrs []sdp.Attribute
		for _, a := range m.Attributes {
			switch a.Key {
			case "ice-ufrag":
				a.Value = ufrag
			case "ice-pwd":
				a.Value = pwd
			case "candidate", "end-of-candidates":
				continue
			}
			attrs = append(attrs, a)
		}
		for _, cand := range cands {
			attrs = append(attrs, sdp.NewAttribute("candidate", cand))
		}
		m.Attributes = attrs
	}
	b, err := d.Marshal()
	return string(b), err
}

// delete ends the session.
func (c *client) delete() error {
	resp, body, err := c.request(http.MethodDelete, c.resource, "", "", nil)
	if err != nil {
		return err
	}
	c.step("delete", resp.StatusCode, nil)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DELETE: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
)

// maxOfferSize bounds an SDP offer.
const maxOfferSize = 64 << 10

// WebRTCConfig configures the WebRTC endpoint's networking.
type WebRTCConfig struct {
	// UDPPort is the one UDP port that carries all ICE traffic (media and
	// data channels of every peer); 0 picks a free port (tests).
	UDPPort int
	// ListenIP is the address to bind UDPPort on; empty binds all
	// interfaces and offers a host candidate for each. A loopback address
	// offers loopback candidates (it has no others).
	ListenIP string
	// PublicIPs replace the host candidates' addresses (NAT 1:1, e.g. a
	// cloud VM's public IP mapped to its private one).
	PublicIPs []string
	// STUN lists STUN server URLs ("stun:host:port") the server peer uses
	// to learn its public address. With a UDP mux, prefer PublicIPs: pion
	// gathers server-reflexive candidates on other ports.
	STUN []string
	// TURN lists TURN server URLs ("turn:host:port?transport=udp",
	// "turns:...") for relayed candidates.
	TURN []string
	// TURNSecret is the TURN server's shared secret for the TURN REST API
	// (coturn's use-auth-secret): each WebRTC answer carries credentials
	// minted for its caller that expire after TURNTTL. Without a secret,
	// TURNUsername and TURNCredential are handed out as they are, and they
	// do not expire.
	TURNSecret     string
	TURNTTL        time.Duration
	TURNUsername   string
	TURNCredential string
	// IncludeLoopback offers loopback candidates (tests on 127.0.0.1).
	IncludeLoopback bool
	// GatherTimeout bounds ICE gathering before the answer is sent with
	// the candidates found so far (ICE is not trickled).
	GatherTimeout time.Duration
	// DrainTimeout bounds the wait for the last events (the summary) to
	// reach the peer before its connection is closed.
	DrainTimeout time.Duration
	// StopGrace is how long, after a "stop" message, audio that is still
	// on its way is read before the session is stopped.
	StopGrace time.Duration
	// MaxPeers bounds the peer connections open at once (0: no bound);
	// a WHIP offer past it, or past the server's MaxLive, is answered 503
	// with Retry-After (RFC 9725, 4.6).
	MaxPeers int
	// RetryAfter is what a 503 tells the client to wait.
	RetryAfter time.Duration
	// Redirect, when set, is asked about every WHIP offer: a non-empty
	// URL answers it with 307 Temporary Redirect to that URL (RFC 9725,
	// 4.5), for a session served by another node of a cluster.
	Redirect WHIPRedirect
}

// DefaultWebRTCConfig returns the defaults: ICE on UDP port 8443 on all
// interfaces, no STUN or TURN, TURN credentials valid for an hour.
func DefaultWebRTCConfig() WebRTCConfig {
	return WebRTCConfig{
		UDPPort:       8443,
		TURNTTL:       time.Hour,
		GatherTimeout: 5 * time.Second,
		DrainTimeout:  5 * time.Second,
		StopGrace:     250 * time.Millisecond,
		RetryAfter:    5 * time.Second,
	}
}

// WebRTC owns the pion API (Opus-only media engine, settings) and the UDP
// socket that all peers share. Create it with NewWebRTC, pass it in
// Config.WebRTC, and Close it after Server.Shutdown returned: peers are
// owned by their sessions, which the server ends and waits for.
type WebRTC struct {
	cfg       WebRTCConfig
	api       *webrtc.API
	conn      net.PacketConn
	mux       ice.UDPMux
	log       *slog.Logger
	peers     atomic.Int64
	gaugeOnce sync.Once
	resources whipResources
}

// withDefaults returns c with its zero fields set to the defaults.
func (c WebRTCConfig) withDefaults() WebRTCConfig {
	d := DefaultWebRTCConfig()
	if c.GatherTimeout <= 0 {
		c.GatherTimeout = d.GatherTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.StopGrace <= 0 {
		c.StopGrace = d.StopGrace
	}
	if c.TURNTTL <= 0 {
		c.TURNTTL = d.TURNTTL
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = d.RetryAfter
	}
	return c
}

// NewWebRTC binds the ICE UDP port and builds the pion API. It fails if
// the port cannot be bound or a setting is invalid. log may be nil.
func NewWebRTC(cfg WebRTCConfig, log *slog.Logger) (*WebRTC, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ip, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if ip != nil && ip.IsLoopback() {
		cfg.IncludeLoopback = true
	}

	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: opusClock, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("webrtc: register opus: %w", err)
	}

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: cfg.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen on UDP port %d: %w", cfg.UDPPort, err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)

	var se webrtc.SettingEngine
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// A peer that vanishes is noticed within seconds, not half a minute.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			mux.Close()
			return nil, fmt.Errorf("webrtc: public IPs: %w", err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	return &WebRTC{cfg: cfg, api: api, conn: conn, mux: mux, log: log, resources: whipResources{m: map[string]*peer{}}}, nil
}

// check validates the addresses and ICE server URLs and returns the IP to
// listen on (nil for all interfaces).
func (c WebRTCConfig) check() (net.IP, error) {
	var ip net.IP
	if c.ListenIP != "" {
		if ip = net.ParseIP(c.ListenIP); ip == nil {
			return nil, fmt.Errorf("webrtc: listen IP %q is not an IP address", c.ListenIP)
		}
	}
	for _, p := range c.PublicIPs {
		if net.ParseIP(p) == nil {
			return nil, fmt.Errorf("webrtc: public IP %q is not an IP address", p)
		}
	}
	// Validate the URLs now rather than on the first call.
	for _, u := range append(slices.Clone(c.STUN), c.TURN...) {
		if _, err := ice.ParseURL(u); err != nil { //nolint:staticcheck // the parser of the ICE agent that uses these URLs
			return nil, fmt.Errorf("webrtc: ICE server %q: %w", u, err)
		}
	}
	return ip, nil
}

// iceServers returns the STUN and TURN servers for user at now: with a
// TURN secret, credentials minted for user that expire after TURNTTL.
func (rtc *WebRTC) iceServers(user string, now time.Time) []webrtc.ICEServer {
	var servers []webrtc.ICEServer
	if len(rtc.cfg.STUN) > 0 {
		servers = append(servers, webrtc.ICEServer{URLs: rtc.cfg.STUN})
	}
	if len(rtc.cfg.TURN) > 0 {
		name, cred := rtc.cfg.TURNUsername, rtc.cfg.TURNCredential
		if rtc.cfg.TURNSecret != "" {
			name, cred = auth.TURNCredential(rtc.cfg.TURNSecret, user, rtc.cfg.TURNTTL, now)
		}
		servers = append(servers, webrtc.ICEServer{URLs: rtc.cfg.TURN, Username: name, Credential: cred})
	}
	return servers
}

// Addr returns the bound ICE UDP address.
func (rtc *WebRTC) Addr() net.Addr { return rtc.conn.LocalAddr() }

// Peers returns the number of peer connections open now.
func (rtc *WebRTC) Peers() int { return int(rtc.peers.Load()) }

// Close releases the UDP port. Call it after Server.Shutdown returned.
func (rtc *WebRTC) Close() error {
	return rtc.mux.Close()
}

// registerMetrics exports the peer count on s's registry (from New), once.
func (rtc *WebRTC) registerMetrics(s *Server) {
	rtc.gaugeOnce.Do(func() {
		s.metrics.reg.Register(prometheus.NewGaugeFunc(
			prometheus.GaugeOpts{Name: "cuecard_webrtc_peers", Help: "Open WebRTC peer connections."},
			func() float64 { return float64(rtc.peers.Load()) }))
	})
}

// handleWebRTC is the WHIP-style endpoint: an SDP offer with the call's
// audio tracks in, the SDP answer (with all ICE candidates) out. The peer
// then runs on a goroutine the server waits for, until the session ends,
// the peer goes, or a newer audio client replaces it.
func (s *Server) handleWebRTC(w http.ResponseWriter, r *http.Request) {
	// A session another node runs is redirected there (cluster mode, or
	// the WebRTC config's own Redirect); a full server answers 503.
	if s.redirectToOwner(w, r) || s.whipRedirect(w, r) || s.whipBusy(w, r) {
		return
	}
	rtc := s.cfg.WebRTC
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": errNotSDP.Error()})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferSize))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	off, err := parseOffer(body)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := s.checkOpen(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	if err := s.needConsent(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}

	servers := rtc.iceServers(principal(r).UserID, s.now())
	pc, err := rtc.api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		s.httpError(w, r, fmt.Errorf("webrtc: new peer connection: %w", err))
		return
	}
	p := newPeer(s, rtc, pc, id, off)
	answer, err := p.negotiate(r.Context(), string(body))
	if err != nil {
		pc.Close()
		s.httpError(w, r, err)
		return
	}
	answer = stereoAnswer(answer, off.stereo)
	p.res = newWHIPResource(string(body))

	// The peer goroutine is the server's to wait for, like a session's;
	// it starts now and waits for the attach below.
	rtc.peers.Add(1)
	if err := s.spawn(p.run); err != nil {
		rtc.peers.Add(-1)
		pc.Close()
		s.httpError(w, r, err)
		return
	}
	src := newSource("webrtc", opusRate)
	// A stereo track is decoded and split: the session records the PCM.
	src.recorded = off.stereo == ""
	ls, err := s.attachSource(r.Context(), id, src)
	if err != nil {
		close(p.attached) // run sees no session and returns
		pc.Close()
		s.httpError(w, r, err)
		return
	}
	rtc.resources.add(p)
	p.ls, p.src = ls, src
	if off.events {
		p.sub = ls.hub.subscribe(s.cfg.SubscriberBuffer, false)
		s.metrics.viewers.Inc()
	}
	close(p.attached)

	writeWHIPAnswer(w, servers, p.res, id, answer)
}

// writeWHIPAnswer answers a WHIP offer: 201 with the SDP answer, the
// resource's Location and ETag, and the ICE servers as Link headers.
func writeWHIPAnswer(w http.ResponseWriter, servers []webrtc.ICEServer, res *whipResource, id, answer string) {
	addICELinks(w.Header(), servers)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", res.location(id))
	w.Header().Set("ETag", res.currentETag())
	w.Header().Set("Accept-Patch", sdpFragType)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// addICELinks lists the ICE servers in Link headers, as WHIP does
// (RFC 9725): the client may use them on a later connection.
func addICELinks(h http.Header, servers []webrtc.ICEServer) {
	for _, is := range servers {
		for _, u := range is.URLs {
			l := fmt.Sprintf("<%s>; rel=\"ice-server\"", u)
			if is.Username != "" {
				l += fmt.Sprintf("; username=%q; credential=%q; credential-type=\"password\"", is.Username, is.Credential)
			}
			h.Add("Link", l)
		}
	}
}

// iceServerJSON is an RTCIceServer as a browser's RTCPeerConnection takes it.
type iceServerJSON struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// handleICEServers tells the session's owner which STUN and TURN servers
// to gather candidates with before it offers (the server does not trickle
// ICE, so the Link headers of the answer come too late for that
// connection). TURN credentials are minted per request and short-lived
// with a TURN secret, and never served to anyone who may not stream the
// session; /ui-config.json, which is public, holds none.
func (s *Server) handleICEServers(w http.ResponseWriter, r *http.Request) {
	out := []iceServerJSON{}
	for _, is := range s.cfg.WebRTC.iceServers(principal(r).UserID, s.now()) {
		cred, _ := is.Credential.(string)
		out = append(out, iceServerJSON{URLs: is.URLs, Username: is.Username, Credential: cred})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": out})
}

// offer is what the server needs to know of an SDP offer.
type offer struct {
	speakers map[string]coach.Speaker // by media id (mid)
	events   bool                     // has a data channel section
	// stereo is the mid of the one stereo track that carries the whole
	// call (left channel rep, right prospect), or "".
	stereo string
}

// parseOffer checks an SDP offer and assigns its audio sections to
// speakers: by track or stream id "rep" / "prospect", else in order (the
// rep's first). It fails with ErrBadOffer or ErrNoAudio.
func parseOffer(b []byte) (offer, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(string(b)); err != nil {
		return offer{}, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	off := offer{speakers: map[string]coach.Speaker{}}
	type audio struct {
		mid    string
		sp     coach.Speaker
		stereo bool
	}
	var auds []audio
	var taken [3]bool
	for i, m := range d.MediaDescriptions {
		switch m.MediaName.Media {
		case "application":
			off.events = true
			continue
		case "audio":
		default:
			continue
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		if _, ok := m.Attribute("recvonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		mid, ok := m.Attribute("mid")
		if !ok {
			return offer{}, fmt.Errorf("%w: audio section %d has no mid", ErrBadOffer, i)
		}
		if !hasOpus(m) {
			return offer{}, fmt.Errorf("%w: audio section %q offers no Opus", ErrBadOffer, mid)
		}
		a := audio{mid: mid, sp: namedSpeaker(m), stereo: isStereo(m)}
		if a.sp != coach.NoSpeaker {
			if taken[a.sp] {
				return offer{}, fmt.Errorf("%w: two audio tracks named %s", ErrBadOffer, a.sp)
			}
			taken[a.sp] = true
		}
		auds = append(auds, a)
	}
	switch {
	case len(auds) == 0:
		return offer{}, ErrNoAudio
	case len(auds) > 2:
		return offer{}, fmt.Errorf("%w: %d audio tracks (want rep and prospect)", ErrBadOffer, len(auds))
	case len(auds) == 1 && auds[0].stereo:
		off.stereo = auds[0].mid
		off.speakers[auds[0].mid] = coach.Rep
		return off, nil
	}
	for _, a := range auds {
		if a.sp == coach.NoSpeaker {
			a.sp = coach.Rep
			if taken[coach.Rep] {
				a.sp = coach.Prospect
			}
			taken[a.sp] = true
		}
		off.speakers[a.mid] = a.sp
	}
	return off, nil
}

func hasOpus(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if _, enc, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.ToLower(enc), "opus/") {
			return true
		}
	}
	return false
}

// namedSpeaker reads "a=msid:<stream> <track>" (or an ssrc's msid) and
// returns the speaker it names, if any.
func namedSpeaker(m *sdp.MediaDescription) coach.Speaker {
	var ids []string
	for _, a := range m.Attributes {
		switch a.Key {
		case "msid":
			ids = append(ids, strings.Fields(a.Value)...)
		case "ssrc":
			if _, v, ok := strings.Cut(a.Value, " msid:"); ok {
				ids = append(ids, strings.Fields(v)...)
			}
		}
	}
	for _, id := range ids {
		switch id {
		case "rep":
			return coach.Rep
		case "prospect":
			return coach.Prospect
		}
	}
	return coach.NoSpeaker
}

// negotiate applies the offer and returns the answer with every ICE
// candidate gathered within GatherTimeout.
func (p *peer) negotiate(ctx context.Context, sdpOffer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpOffer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("webrtc: set local description: %w", err)
	}
	t := time.NewTimer(p.rtc.cfg.GatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		p.log.Warn("ICE gathering timed out; answering with the candidates so far")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return p.pc.LocalDescription().SDP, nil
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/telephony"
)

// Telephony configures the dialer media-stream routes
// (/v1/telephony/twilio, /telnyx, /plivo).
type Telephony struct {
	// TwilioAuthToken checks each upgrade's X-Twilio-Signature; empty
	// leaves it unchecked (the rep's API token is still required).
	TwilioAuthToken string
	// TelnyxStreamToken is the stream_auth_token given to Telnyx's
	// streaming command, which Telnyx sends as a Bearer token; empty
	// leaves it unchecked.
	TelnyxStreamToken string
	// PlivoAuthToken checks each upgrade's X-Plivo-Signature-V3; empty
	// leaves it unchecked.
	PlivoAuthToken string
	// RepTrack says which track of each provider carries the rep's voice
	// when the stream's rep_track parameter does not; missing means
	// telephony.Inbound (see DefaultRepTrack).
	RepTrack map[telephony.Provider]telephony.Track
	// ReorderDepth is how many frames a track holds waiting for a missing
	// one (telephony.DefaultDepth if 0).
	ReorderDepth int
}

// DefaultRepTrack is the rep's track when nothing else says: inbound. A
// dialer runs the stream on the rep's own call leg (the browser or
// softphone call that <Start><Stream> or the streaming command is
// executed on), where inbound is what the rep says and outbound what the
// platform plays to the rep, the prospect. Streams started on the
// prospect's leg (an inbound call answered by an application) set
// rep_track=outbound or the provider's flag.
const DefaultRepTrack = telephony.Inbound

// Telephony stream limits.
const (
	// maxTelephonyMessage bounds one provider message (a second of 16 kHz
	// L16 is 43 KB in base64).
	maxTelephonyMessage = 256 << 10
	// telephonyStartTimeout bounds the wait for the start message.
	telephonyStartTimeout = 10 * time.Second
	// telephonyIdle ends a stream whose provider sends nothing this long.
	telephonyIdle = 30 * time.Second
)

func (s *Server) telephonyRoutes(rt router) {
	for _, p := range telephony.Providers {
		// Public: the provider's signature is checked before the upgrade
		// and the rep's API token arrives in the start message.
		rt.handleFunc("GET /v1/telephony/"+p.String(), Public, "", s.telephonyHandler(p))
	}
	rt.handleFunc("GET /v1/me/live", SignedIn, auth.ScopeRead, s.handleLiveFeed)
}

// dialedURL is the URL as the provider dialed it: ws or wss as served
// (TLS here, or the proxy's X-Forwarded-Proto when behind one), the Host,
// and the path and query as sent.
func (s *Server) dialedURL(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	} else if s.cfg.BehindProxy {
		if p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "https" || p == "wss" {
			scheme = "wss"
		}
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// verifyProvider checks the provider's credential of the upgrade request.
func (s *Server) verifyProvider(p telephony.Provider, r *http.Request) error {
	tc := s.cfg.Telephony
	switch {
	case p == telephony.Twilio && tc.TwilioAuthToken != "":
		return telephony.VerifyTwilio(r.Header, tc.TwilioAuthToken, s.dialedURL(r))
	case p == telephony.Telnyx && tc.TelnyxStreamToken != "":
		return telephony.VerifyBearer(r.Header, tc.TelnyxStreamToken)
	case p == telephony.Plivo && tc.PlivoAuthToken != "":
		return telephony.VerifyPlivo(r.Header, tc.PlivoAuthToken, s.dialedURL(r))
	}
	return nil
}

func (s *Server) telephonyHandler(p telephony.Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.verifyProvider(p, r); err != nil {
			s.metrics.streamErrors.WithLabelValues("telephony signature").Inc()
			s.httpError(w, r, fmt.Errorf("%w: the %s signature does not verify", ErrUnauthenticated, p))
			return
		}
		conn, err := s.upgrader().Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader wrote the HTTP error
		}
		conn.SetReadLimit(maxTelephonyMessage)
		c := &telCall{s: s, p: p, conn: conn, dec: telephony.NewDecoder(p), query: r.URL.Query(),
			log: s.log.With("telephony", p.String()), sessionDone: make(chan (<-chan struct{}), 1)}
		cm := c.run()
		closeNow(conn, cm.code, reason(cm.reason), s.cfg.WriteTimeout)
	}
}

// telCall is one provider stream: its state and a handle method per
// message kind. Its reader (run) is the socket's only reader and writer:
// the provider needs nothing back but the close frame.
type telCall struct {
	s     *Server
	p     telephony.Provider
	conn  *websocket.Conn
	dec   *telephony.Decoder
	query map[string][]string
	log   *slog.Logger

	mc       *mediaCall
	repTrack telephony.Track
	reorder  [3]*telephony.Reorder // by track
	frames   []telephony.Frame
	// sessionDone hands the session's done channel to the watcher.
	sessionDone chan (<-chan struct{})
}

// errRefused ends a stream before any audio is kept (bad parameters or
// credentials in the start message).
var errRefused = errors.New("refused")

// run reads the stream until it stops, goes away or fails, and returns
// the close frame to send.
func (c *telCall) run() closeMsg {
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); c.watch(stop) }()
	defer func() { close(stop); <-watched }()
	c.conn.SetReadDeadline(time.Now().Add(telephonyStartTimeout))
	for {
		mt, data, err := c.conn.ReadMessage()
		if err != nil {
			return c.handleGone(err)
		}
		if mt != websocket.TextMessage {
			continue // the providers send JSON text only
		}
		m, err := c.dec.Decode(data)
		if err == nil {
			err = c.handle(m)
		}
		if errors.Is(err, errStopped) {
			return closeMsg{websocket.CloseNormalClosure, "stopped"}
		}
		if err != nil {
			return c.fail(err)
		}
	}
}

var errStopped = errors.New("stopped")

// handle acts on one decoded message.
func (c *telCall) handle(m telephony.Message) error {
	switch m.Kind {
	case telephony.KindStart:
		return c.handleStart(m.Start)
	case telephony.KindMedia:
		return c.handleMedia(m.Frame)
	case telephony.KindStop:
		return c.handleStop()
	default:
		// connected, DTMF, marks, played checkpoints, errors: nothing to
		// hear.
		return nil
	}
}

// watch ends the blocked read when the session ends on its own or the
// server stops, so that run sends the close frame.
func (c *telCall) watch(stop <-chan struct{}) {
	var done <-chan struct{}
	for {
		select {
		case <-stop:
			return
		case d := <-c.sessionDone:
			done = d
		case <-done:
			c.conn.SetReadDeadline(time.Now())
			return
		case <-c.s.base.Done():
			c.conn.SetReadDeadline(time.Now())
			return
		}
	}
}

// params returns the stream's custom parameters; Plivo's extraHeaders
// allow letters and digits only, so the stream URL's query (signed with
// the URL) may carry the others.
func (c *telCall) params(st telephony.Start) map[string]string {
	out := map[string]string{}
	if c.p == telephony.Plivo {
		for k, v := range c.query {
			if len(v) > 0 {
				out[k] = v[0]
			}
		}
	}
	maps.Copy(out, st.Params)
	return out
}

// handleStart authenticates the rep from the token parameter and starts
// their session.
func (c *telCall) handleStart(st telephony.Start) error {
	if c.mc != nil {
		return fmt.Errorf("%w: a second start message", errRefused)
	}
	ps := c.params(st)
	tok := strings.TrimSpace(ps["token"])
	if tok == "" {
		return fmt.Errorf("%w: unauthorized: no token parameter (an API token with the stream scope)", errRefused)
	}
	ctx, cancel := context.WithTimeout(c.s.base, 10*time.Second)
	defer cancel()
	p, err := c.s.bearer(ctx, tok)
	if err != nil {
		return fmt.Errorf("%w: unauthorized: %w", errRefused, err)
	}
	c.repTrack = DefaultRepTrack
	if t, ok := c.s.cfg.Telephony.RepTrack[c.p]; ok && t != telephony.NoTrack {
		c.repTrack = t
	}
	if v, ok := ps["rep_track"]; ok {
		if c.repTrack = telephony.ParseTrack(v); c.repTrack == telephony.NoTrack {
			return fmt.Errorf("%w: rep_track %q: want inbound or outbound", errRefused, v)
		}
	}
	text := strings.TrimSpace(ps["consent_text"])
	ms := mediaStart{Source: c.p.String(), Rate: st.Format.Rate, ConsentText: text,
		Consent: text != "" || strings.EqualFold(ps["consent"], "true"), Title: callTitle(c.p, st)}
	if !ms.Consent {
		return fmt.Errorf("%w: %w", errRefused, ErrNoConsent)
	}
	mc, err := c.s.startMediaSession(ctx, p, ms)
	if err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	c.mc = mc
	c.sessionDone <- mc.Done()
	depth := c.s.cfg.Telephony.ReorderDepth
	for i := range c.reorder {
		c.reorder[i] = telephony.NewReorder(depth)
	}
	c.conn.SetReadDeadline(time.Now().Add(telephonyIdle))
	c.log = c.log.With("session", mc.ID(), "call", st.CallID)
	c.log.Info("telephony stream started", "rep_track", c.repTrack.String(), "rate", st.Format.Rate)
	return nil
}

func callTitle(p telephony.Provider, st telephony.Start) string {
	name := map[telephony.Provider]string{telephony.Twilio: "Twilio", telephony.Telnyx: "Telnyx", telephony.Plivo: "Plivo"}[p]
	if st.CallID == "" {
		return name + " call"
	}
	return name + " call " + st.CallID
}

// handleMedia puts a frame in its track's order and sends what is ready
// to the session as the rep's or the prospect's audio.
func (c *telCall) handleMedia(f telephony.Frame) error {
	if c.mc == nil {
		return telephony.ErrNoStart
	}
	c.conn.SetReadDeadline(time.Now().Add(telephonyIdle))
	c.frames = c.reorder[f.Track].Push(f, c.frames[:0])
	return c.send(c.frames)
}

func (c *telCall) send(frames []telephony.Frame) error {
	for _, f := range frames {
		sp := coach.Prospect
		if f.Track == c.repTrack {
			sp = coach.Rep
		}
		pcm := make([]float32, len(f.PCM))
		for i, v := range f.PCM {
			pcm[i] = float32(v) / 32768
		}
		if err := c.mc.Write(sp, pcm); err != nil {
			return err
		}
	}
	return nil
}

// handleStop plays out what the tracks hold and ends the session.
func (c *telCall) handleStop() error {
	if c.mc == nil {
		return errStopped
	}
	c.end()
	return errStopped
}

// end flushes the tracks and stops the session (a phone call that is
// over does not come back: there is no reconnect window).
func (c *telCall) end() {
	var st telephony.Stats
	for _, r := range c.reorder[1:] {
		c.frames = r.Flush(c.frames[:0])
		if c.send(c.frames) != nil {
			break
		}
		s := r.Stats()
		st.Frames += s.Frames
		st.Reordered += s.Reordered
		st.Concealed += s.Concealed
		st.Late += s.Late
		st.Duplicate += s.Duplicate
	}
	c.mc.Stop()
	c.log.Info("telephony stream ended", "frames", st.Frames, "reordered", st.Reordered,
		"concealed", st.Concealed, "late", st.Late, "duplicate", st.Duplicate)
}

// handleGone ends a stream whose socket closed or timed out, or whose
// session ended on its own.
func (c *telCall) handleGone(err error) closeMsg {
	if c.mc == nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return closeMsg{websocket.CloseMessageTooBig, "message too long"}
		}
		select {
		case <-c.s.base.Done():
			return closeMsg{websocket.CloseGoingAway, "server shutting down"}
		default:
		}
		return closeMsg{websocket.ClosePolicyViolation, "no start message"}
	}
	shutdown := false
	select {
	case <-c.s.base.Done():
		shutdown = true
	default:
	}
	select {
	case <-c.mc.Done():
		r, down := c.mc.EndReason()
		if down {
			return closeMsg{websocket.CloseGoingAway, "server shutting down"}
		}
		return closeMsg{websocket.CloseNormalClosure, "session ended: " + r}
	default:
	}
	c.end()
	if shutdown {
		return closeMsg{websocket.CloseGoingAway, "server shutting down"}
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return closeMsg{websocket.CloseMessageTooBig, "message too long"}
	}
	return closeMsg{websocket.CloseNormalClosure, ""}
}

// fail ends the stream on a bad message or a refusal.
func (c *telCall) fail(err error) closeMsg {
	c.s.metrics.streamErrors.WithLabelValues("telephony").Inc()
	if c.mc != nil {
		c.end()
	}
	code := websocket.CloseUnsupportedData
	switch {
	case errors.Is(err, errRefused):
		code = closeCode(err)
		if code == websocket.CloseInternalServerErr {
			code = websocket.ClosePolicyViolation
		}
		if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) {
			code = websocket.ClosePolicyViolation
		}
	case errors.Is(err, ErrSessionEnded):
		code = websocket.CloseNormalClosure
	}
	msg := strings.TrimPrefix(err.Error(), errRefused.Error()+": ")
	c.log.Info("telephony stream refused or failed", "err", msg)
	return closeMsg{code, msg}
}

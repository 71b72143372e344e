package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
)

// sdpFragType is the media type of trickle ICE and ICE restart fragments
// (RFC 8840) in WHIP PATCH requests.
const sdpFragType = "application/trickle-ice-sdpfrag"

// WHIPRedirect decides where a WHIP offer for session goes: a non-empty
// URL is sent back as a 307 Temporary Redirect, "" serves the offer here.
// It runs on the request's goroutine after authentication; it must not
// block for long.
type WHIPRedirect func(r *http.Request, session string) string

// whipRoutes registers the WHIP methods beside POST (RFC 9725): OPTIONS
// on the endpoint, PATCH and DELETE on the session resource that POST
// created. OPTIONS is public like a CORS preflight, which carries no
// credentials; its answer is the same for every id, so it tells nothing.
func (s *Server) whipRoutes(rt router) {
	const strm = auth.ScopeStream
	rt.handleFunc("OPTIONS /v1/sessions/{id}/webrtc", Public, "", s.handleWHIPOptions)
	rt.handleFunc("PATCH /v1/sessions/{id}/webrtc/{rid}", SessionStream, strm, s.handleWHIPPatch)
	rt.handleFunc("DELETE /v1/sessions/{id}/webrtc/{rid}", SessionStream, strm, s.handleWHIPDelete)
}

func (s *Server) handleWHIPOptions(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Accept-Post", "application/sdp")
	h.Set("Allow", "OPTIONS, POST")
	w.WriteHeader(http.StatusNoContent)
}

// whipRedirect answers r with a 307 when the cluster's hook sends the
// session elsewhere; it reports whether it did.
func (s *Server) whipRedirect(w http.ResponseWriter, r *http.Request) bool {
	f := s.cfg.WebRTC.cfg.Redirect
	if f == nil {
		return false
	}
	u := f(r, r.PathValue("id"))
	if u == "" {
		return false
	}
	http.Redirect(w, r, u, http.StatusTemporaryRedirect)
	return true
}

// whipBusy answers r with 503 and Retry-After when the server is at
// capacity: MaxPeers peer connections, or MaxLive live sessions without
// this one. It reports whether it did.
func (s *Server) whipBusy(w http.ResponseWriter, r *http.Request) bool {
	rtc := s.cfg.WebRTC
	if n := rtc.cfg.MaxPeers; n > 0 && rtc.Peers() >= n {
		s.whipUnavailable(w, r, fmt.Errorf("%w: %d WebRTC connections, the most this server takes", ErrLimit, n))
		return true
	}
	if n := s.cfg.Limits.MaxLive; n > 0 {
		s.mu.Lock()
		full := len(s.live) >= n && s.live[r.PathValue("id")] == nil
		s.mu.Unlock()
		if full {
			s.whipUnavailable(w, r, fmt.Errorf("%w: the server has %d live sessions, its maximum", ErrLimit, n))
			return true
		}
	}
	return false
}

func (s *Server) whipUnavailable(w http.ResponseWriter, _ *http.Request, err error) {
	secs := int(s.cfg.WebRTC.cfg.RetryAfter.Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": oneLine(err.Error())})
}

// handleWHIPDelete ends the session of a WHIP resource, as a "stop" on the
// data channel does, and answers once the session has ended (or the
// request gave up waiting).
func (s *Server) handleWHIPDelete(w http.ResponseWriter, r *http.Request) {
	p := s.cfg.WebRTC.resources.get(r.PathValue("id"), r.PathValue("rid"))
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such WHIP session"})
		return
	}
	// The resource is gone from now on, whatever the peer still sends.
	s.cfg.WebRTC.resources.remove(p)
	select {
	case p.stopReq <- struct{}{}:
	default: // a stop is already on its way
	}
	t := time.NewTimer(s.cfg.FlushTimeout + p.rtc.cfg.StopGrace)
	defer t.Stop()
	select {
	case <-p.ls.done:
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleWHIPPatch takes trickled ICE candidates (204) or an ICE restart
// (200 with the server's new ICE credentials and candidates, and a new
// ETag). A stale If-Match is refused with 412.
func (s *Server) handleWHIPPatch(w http.ResponseWriter, r *http.Request) {
	p := s.cfg.WebRTC.resources.get(r.PathValue("id"), r.PathValue("rid"))
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such WHIP session"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != sdpFragType {
		w.Header().Set("Accept-Patch", sdpFragType)
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be " + sdpFragType})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferSize))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	frag, err := parseSDPFrag(string(body))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	res := p.res
	res.neg.Lock()
	defer res.neg.Unlock()
	match := r.Header.Get("If-Match")
	etag := res.currentETag()
	if match != "" && match != "*" && match != etag {
		writeJSON(w, http.StatusPreconditionFailed, map[string]string{"error": "the ICE session changed: If-Match " + match + " is not " + etag})
		return
	}
	if !res.isRestart(frag) {
		if err := p.addCandidates(frag); err != nil {
			s.httpError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if match == "" {
		writeJSON(w, http.StatusPreconditionRequired, map[string]string{"error": "an ICE restart needs If-Match"})
		return
	}
	if frag.pwd == "" {
		s.httpError(w, r, badRequest("an ICE restart needs ice-ufrag and ice-pwd"))
		return
	}
	answer, err := p.restartICE(r.Context(), frag)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", sdpFragType)
	w.Header().Set("ETag", res.newETag())
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, answer)
}

// whipResources finds the peers by resource id, for PATCH and DELETE.
type whipResources struct {
	mu sync.Mutex
	m  map[string]*peer
}

func (rs *whipResources) add(p *peer) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.m[p.res.id] = p
}

func (rs *whipResources) remove(p *peer) {
	if p.res == nil {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m[p.res.id] == p {
		delete(rs.m, p.res.id)
	}
}

// get returns the live peer of resource rid of session id, or nil.
func (rs *whipResources) get(id, rid string) *peer {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if p := rs.m[rid]; p != nil && p.id == id {
		return p
	}
	return nil
}

// whipResource is a WHIP session's resource: its id in the Location URL,
// and the ICE session that its ETag names.
type whipResource struct {
	id  string
	neg sync.Mutex // one PATCH at a time
	mu  sync.Mutex
	// etag names the ICE session; offer is the remote description it
	// belongs to (the POSTed offer with the ICE credentials of the last
	// restart), which a restart re-applies with new credentials.
	etag  string
	offer string
	ufrag string
}

func newWHIPResource(offer string) *whipResource {
	r := &whipResource{id: randomID(), offer: offer, ufrag: offerUfrag(offer)}
	r.newETag()
	return r
}

func (r *whipResource) location(session string) string {
	return "/v1/sessions/" + session + "/webrtc/" + r.id
}

// currentETag returns the quoted entity-tag of the ICE session.
func (r *whipResource) currentETag() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.etag
}

// newETag names a new ICE session and returns its entity-tag.
func (r *whipResource) newETag() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.etag = `"` + randomID() + `"`
	return r.etag
}

// isRestart reports whether f carries ICE credentials other than the
// current ones: an ICE restart (RFC 8840, 4.4).
func (r *whipResource) isRestart(f sdpFrag) bool {
	return f.ufrag != "" && f.ufrag != r.ufrag
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// offerUfrag returns the offer's ICE username fragment.
func offerUfrag(offer string) string {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return ""
	}
	if v, ok := d.Attribute("ice-ufrag"); ok {
		return v
	}
	for _, m := range d.MediaDescriptions {
		if v, ok := m.Attribute("ice-ufrag"); ok {
			return v
		}
	}
	return ""
}

// sdpFrag is a trickle ICE fragment (RFC 8840): ICE credentials (on a
// restart) and candidates by media id.
type sdpFrag struct {
	ufrag, pwd string
	cands      []fragCandidate
}

type fragCandidate struct {
	mid   string
	index uint16 // of the m= line, when the fragment names no mid
	attr  string // "candidate:..."
}

// parseSDPFrag reads a fragment; it fails with errBadRequest when it is
// not one.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	mid, index := "", -1
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "m="):
			index++
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=candidate:"):
			f.cands = append(f.cands, fragCandidate{mid: mid, index: uint16(max(index, 0)), attr: strings.TrimPrefix(line, "a=")})
		case len(line) < 2 || line[1] != '=':
			return sdpFrag{}, badRequest("not an SDP fragment line: %.40q", line)
		}
	}
	return f, nil
}

// addCandidates gives the trickled candidates to the ICE agent.
func (p *peer) addCandidates(f sdpFrag) error {
	for _, c := range f.cands {
		init := webrtc.ICECandidateInit{Candidate: c.attr}
		if c.mid != "" {
			init.SDPMid = &c.mid
		} else {
			init.SDPMLineIndex = &c.index
		}
		if err := p.pc.AddICECandidate(init); err != nil {
			return badRequest("candidate %.60q: %v", c.attr, err)
		}
	}
	return nil
}

// restartICE re-applies the offer with the fragment's ICE credentials and
// candidates (the rest of the offer still holds, RFC 9725, 4.3.2) and
// returns the answer's ICE part as a fragment.
func (p *peer) restartICE(ctx context.Context, f sdpFrag) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(p.res.offer); err != nil {
		return "", fmt.Errorf("webrtc: stored offer: %w", err)
	}
	withICE(&d, f)
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("webrtc: restart offer: %w", err)
	}
	answer, err := p.negotiate(ctx, string(b))
	if err != nil {
		return "", err
	}
	p.res.offer, p.res.ufrag = string(b), f.ufrag
	return answerFrag(answer)
}

// withICE replaces d's ICE credentials and candidates with f's.
func withICE(d *sdp.SessionDescription, f sdpFrag) {
	d.Origin.SessionVersion++
	d.Attributes = replaceICE(d.Attributes, f, nil)
	for i, m := range d.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		var cands []string
		for _, c := range f.cands {
			if c.mid == mid || c.mid == "" && int(c.index) == i {
				cands = append(cands, c.attr)
			}
		}
		m.Attributes = replaceICE(m.Attributes, f, cands)
	}
}

// replaceICE returns attrs with new ICE credentials and the given
// candidates in place of the old.
func replaceICE(attrs []sdp.Attribute, f sdpFrag, cands []string) []sdp.Attribute {
	out := attrs[:0:0]
	for _, a := range attrs {
		switch a.Key {
		case "ice-ufrag":
			a.Value = f.ufrag
		case "ice-pwd":
			a.Value = f.pwd
		case "candidate", "end-of-candidates":
			continue
		}
		out = append(out, a)
	}
	for _, c := range cands {
		out = append(out, sdp.NewAttribute("candidate", strings.TrimPrefix(c, "candidate:")))
	}
	return out
}

// answerFrag returns the ICE part of an SDP answer as a fragment.
func answerFrag(answer string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("webrtc: answer: %w", err)
	}
	var b strings.Builder
	for _, key := range []string{"ice-ufrag", "ice-pwd"} {
		v, ok := d.Attribute(key)
		if !ok && len(d.MediaDescriptions) > 0 {
			v, ok = d.MediaDescriptions[0].Attribute(key)
		}
		if ok {
			fmt.Fprintf(&b, "a=%s:%s\r\n", key, v)
		}
	}
	for _, m := range d.MediaDescriptions {
		fmt.Fprintf(&b, "m=%s\r\n", m.MediaName.String())
		if mid, ok := m.Attribute("mid"); ok {
			fmt.Fprintf(&b, "a=mid:%s\r\n", mid)
		}
		for _, a := range m.Attributes {
			if a.Key == "candidate" || a.Key == "end-of-candidates" {
				b.WriteString("a=" + a.String() + "\r\n")
			}
		}
	}
	return b.String(), nil
}

// isStereo reports whether an audio section's Opus is stereo: its fmtp
// says stereo=1 or sprop-stereo=1 (RFC 7587, 7.1).
func isStereo(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		_, params, _ := strings.Cut(a.Value, " ")
		for kv := range strings.SplitSeq(params, ";") {
			switch strings.ToLower(strings.TrimSpace(kv)) {
			case "stereo=1", "sprop-stereo=1":
				return true
			}
		}
	}
	return false
}

// stereoAnswer adds stereo=1 to the Opus format of the answer's section
// mid, so that a browser sends both channels; "" leaves it as it is.
func stereoAnswer(answer, mid string) string {
	if mid == "" {
		return answer
	}
	var d sdp.SessionDescription
	if d.UnmarshalString(answer) != nil {
		return answer
	}
	for _, m := range d.MediaDescriptions {
		if v, _ := m.Attribute("mid"); v != mid {
			continue
		}
		for i, a := range m.Attributes {
			if a.Key == "fmtp" && !strings.Contains(a.Value, "stereo=1") {
				m.Attributes[i].Value += ";stereo=1;sprop-stereo=1"
			}
		}
	}
	b, err := d.Marshal()
	if err != nil {
		return answer
	}
	return string(b)
}

// readStereo decodes the one stereo track of a call and splits it: left
// channel to the rep, right to the prospect. It returns when the track
// ends.
func (p *peer) readStereo(t *webrtc.TrackRemote) error {
	if c := t.Codec(); c.MimeType != webrtc.MimeTypeOpus {
		return fmt.Errorf("codec %s, want Opus", c.MimeType)
	}
	ot, err := newOpusTrack(2)
	if err != nil {
		return err
	}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return nil // closed or past the deadline
		}
		pcm, _ := ot.push(pkt)
		if len(pcm) == 0 {
			continue
		}
		left, right := make([]float32, len(pcm)/2), make([]float32, len(pcm)/2)
		for i := range left {
			left[i], right[i] = pcm[2*i], pcm[2*i+1]
		}
		now := time.Now()
		for _, it := range []item{
			{kind: itemAudio, src: p.src, sp: coach.Rep, pcm: left, at: now},
			{kind: itemAudio, src: p.src, sp: coach.Prospect, pcm: right, at: now},
		} {
			if err := p.ls.send(it); err != nil {
				return nil // the session ended
			}
		}
	}
}

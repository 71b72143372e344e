package server

import (
	"context"
	"fmt"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// mediaStart describes a call whose audio comes from outside the browser
// (a dialer's media stream, a SIP recording): it becomes a session of the
// rep whose credential started it.
type mediaStart struct {
	// Source names the source kind ("twilio", "siprec", ...).
	Source string
	// Rate is the sample rate of the PCM that Write takes.
	Rate  int
	Title string
	// Consent and ConsentText are the rep's consent record, checked
	// against the team's rules exactly as POST /v1/sessions does.
	Consent     bool
	ConsentText string
}

// mediaCall is a running session fed by non-browser media. Its methods
// may be called from one goroutine (the source's reader).
type mediaCall struct {
	id  string
	ls  *liveSession
	src *source
}

// startMediaSession creates a session for p from non-browser media and
// attaches a source to it, so that the usual session loop runs the call.
// It fails with ErrForbidden (no stream scope, an ingest token),
// ErrRateLimited, ErrNoConsent or a consent error (errBadRequest), or what
// attaching fails with; no audio is taken before it succeeds.
func (s *Server) startMediaSession(ctx context.Context, p *auth.Principal, ms mediaStart) (*mediaCall, error) {
	switch {
	case p == nil:
		return nil, ErrUnauthenticated
	case p.Ingest != "":
		return nil, fmt.Errorf("%w: an ingest token streams only its own session; use an API token", ErrForbidden)
	case !p.Has(auth.ScopeStream):
		return nil, fmt.Errorf("%w: the token lacks the %s scope", ErrForbidden, auth.ScopeStream)
	case s.createLim != nil && !s.createLim.Allow(p.UserID):
		return nil, fmt.Errorf("%w: too many new sessions; try again later", ErrRateLimited)
	}
	n := store.NewSession{Rep: displayName(p), Title: ms.Title, Source: store.SourceLive, Consent: ms.Consent,
		ConsentText: ms.ConsentText, SampleRate: ms.Rate, Team: firstTeam(p), Owner: p.UserID, Backend: s.cfg.Backend}
	if err := s.consentRecord(ctx, p, &n); err != nil {
		return nil, err
	}
	if !n.Consent {
		return nil, ErrNoConsent
	}
	ses, err := s.st.CreateSession(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := s.needConsent(ctx, ses.ID); err != nil {
		return nil, err
	}
	src := newSource(ms.Source, ms.Rate)
	ls, err := s.attachSource(ctx, ses.ID, src)
	if err != nil {
		return nil, err
	}
	s.feeds.announce(p.UserID, liveNotice{Type: "live", SessionID: ses.ID, Source: ms.Source, Title: ms.Title})
	return &mediaCall{id: ses.ID, ls: ls, src: src}, nil
}

// ID returns the session's id.
func (m *mediaCall) ID() string { return m.id }

// Write queues one side's PCM (at the rate of mediaStart) for the
// session; a real-time source never waits: when the session is behind,
// its oldest queued frame is dropped. ErrSessionEnded once it is over.
func (m *mediaCall) Write(sp coach.Speaker, pcm []float32) error {
	return m.ls.send(item{kind: itemAudio, src: m.src, sp: sp, pcm: pcm, at: time.Now()})
}

// Stop ends the session: it flushes, writes its summary and ends.
func (m *mediaCall) Stop() error { return m.ls.send(item{kind: itemStop, src: m.src}) }

// Done is closed when the session has ended.
func (m *mediaCall) Done() <-chan struct{} { return m.ls.done }

// EndReason says why the session ended; valid once Done is closed.
func (m *mediaCall) EndReason() (reason string, shutdown bool) { return m.ls.endReason, m.ls.shutdown }

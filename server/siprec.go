package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/siprec"
	"github.com/cuecard/cuecard/store"
)

// SIPRECConfig says whose session a recorded call becomes.
type SIPRECConfig struct {
	// Reps maps a rep's SIP AOR (user@domain, without "sip:") to the email
	// of their cuecard account; an AOR not in it is taken as the email.
	Reps map[string]string
	// ConsentText is what the callers were told about the recording;
	// empty takes the rep's team's consent text (a call is refused when
	// neither is set: no audio is taken without a consent record).
	ConsentText string
}

// SIPRECSink returns the sink that makes each call the SIPREC server
// records its rep's session, as if the rep had started it.
func (s *Server) SIPRECSink(cfg SIPRECConfig) siprec.Sink {
	return siprecSink{s: s, cfg: cfg}
}

type siprecSink struct {
	s   *Server
	cfg SIPRECConfig
}

// Start finds the rep's user and starts their session; a rep without an
// account is refused (siprec.ErrRejected).
func (k siprecSink) Start(ctx context.Context, c siprec.Call) (siprec.CallSink, error) {
	aor := strings.ToLower(siprec.AORAddress(c.Rep.AOR))
	email := aor
	for a, e := range k.cfg.Reps {
		if strings.EqualFold(siprec.AORAddress(a), aor) {
			email = e
		}
	}
	if k.s.acc == nil {
		return nil, fmt.Errorf("%w: the server has no accounts", siprec.ErrRejected)
	}
	u, _, err := k.s.acc.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no user %q for rep %s", siprec.ErrRejected, email, c.Rep.AOR)
	}
	if err != nil {
		return nil, err
	}
	title := "Phone call"
	if len(c.Others) > 0 {
		title = "Phone call with " + firstNonEmpty(c.Others[0].Name, siprec.AORAddress(c.Others[0].AOR))
	}
	f, err := k.s.startPhoneSession(ctx, u, phoneCall{Kind: "siprec", Title: title, ConsentText: k.cfg.ConsentText, Rate: c.Rate})
	if errors.Is(err, errBadRequest) || errors.Is(err, ErrLimit) {
		return nil, fmt.Errorf("%w: %w", siprec.ErrRejected, err)
	}
	return f, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// phoneCall is a call from a telephone network that becomes its rep's
// session: what startPhoneSession needs besides the rep.
type phoneCall struct {
	Kind        string // the source: "siprec", "twilio", ...
	Title       string
	ConsentText string // "" takes the team's
	Rate        int    // of the PCM the feed will get
}

// startPhoneSession creates a live session owned by rep, with the consent
// record of rep's team, and attaches a source for the call's audio.
func (s *Server) startPhoneSession(ctx context.Context, rep store.User, c phoneCall) (*phoneFeed, error) {
	p := userPrincipal(rep, auth.RoleScopes(rep.Role))
	n := store.NewSession{Rep: displayName(p), Title: c.Title, Source: store.SourceLive, Consent: true,
		ConsentText: c.ConsentText, SampleRate: c.Rate, Team: firstTeam(p), Owner: rep.ID, Backend: s.cfg.Backend}
	if err := s.consentRecord(ctx, p, &n); err != nil {
		return nil, err
	}
	if err := s.checkLiveLimits(rep.ID); err != nil {
		return nil, err
	}
	ses, err := s.st.CreateSession(ctx, n)
	if err != nil {
		return nil, err
	}
	src := newSource(c.Kind, c.Rate)
	ls, err := s.attachSource(ctx, ses.ID, src)
	if err != nil {
		return nil, err
	}
	s.log.Info("phone call started", "session", ses.ID, "source", c.Kind, "rep", rep.Email)
	return &phoneFeed{ls: ls, src: src, ID: ses.ID}, nil
}

// phoneFeed is a phone call's way into its session. Audio and End may be
// called from several goroutines.
type phoneFeed struct {
	ls  *liveSession
	src *source
	// ID is the session's id.
	ID string
}

// Audio queues PCM of one side; PCM at another rate than the call's is
// dropped. After the session ended it does nothing.
func (f *phoneFeed) Audio(sp coach.Speaker, pcm []float32, rate int) {
	if rate != f.src.rate || len(pcm) == 0 {
		return
	}
	_ = f.ls.send(item{kind: itemAudio, src: f.src, sp: sp, pcm: pcm, at: time.Now()})
}

// End stops the session: the last transcripts, the summary, the end.
func (f *phoneFeed) End() {
	_ = f.ls.send(item{kind: itemStop, src: f.src})
}

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// CallDataStore is what the server needs to enforce consent, hold and
// erase call data.
type CallDataStore interface {
	TeamPolicy(ctx context.Context, teamID string) (store.TeamPolicy, error)
	SetTeamPolicy(ctx context.Context, p store.TeamPolicy) (store.TeamPolicy, error)
	SetLegalHold(ctx context.Context, id string, hold bool) error
	EraseSession(ctx context.Context, id string) error
	SessionsOwnedBy(ctx context.Context, userID string) ([]string, error)
}

// Errors of consent and erasure.
var (
	// ErrNoConsent refuses audio for a session without a consent record.
	ErrNoConsent = errors.New("no consent recorded for this session: create it with \"consent\": true and the \"consent_text\" the callers were told")
	// ErrLive refuses to erase a session while its call runs.
	ErrLive = errors.New("the session is live: stop the call first")
)

func (s *Server) callDataRoutes(rt router) {
	const read, adm = auth.ScopeRead, auth.ScopeAdmin
	rt.handleFunc("DELETE /v1/sessions/{id}", SessionRead, read, s.handleErase)
	rt.handleFunc("PUT /v1/sessions/{id}/hold", Admin, adm, s.handleHold)
	rt.handleFunc("DELETE /v1/users/{id}/sessions", Admin, adm, s.handleEraseUser)
	rt.handleFunc("GET /v1/teams/{id}/policy", SignedIn, read, s.handleGetPolicy)
	rt.handleFunc("PUT /v1/teams/{id}/policy", Admin, adm, s.handleSetPolicy)
}

// consentRecord fills the consent record of a new session from the
// request and the team's policy: the rep confirms, now, the text they
// read (the team's text when they give none).
func (s *Server) consentRecord(ctx context.Context, p *auth.Principal, n *store.NewSession) error {
	if !n.Consent {
		n.ConsentText = ""
		return nil
	}
	pol := store.DefaultTeamPolicy(n.Team)
	if s.cd != nil {
		var err error
		if pol, err = s.cd.TeamPolicy(ctx, n.Team); err != nil {
			return err
		}
	}
	n.ConsentText = strings.TrimSpace(n.ConsentText)
	if n.ConsentText == "" {
		n.ConsentText = pol.ConsentText
	}
	if n.ConsentText == "" {
		return badRequest("consent_text: say what the people on the call were told (the team has no consent text)")
	}
	if n.ConsentText == pol.ConsentText {
		n.ConsentVersion = pol.ConsentVersion
	}
	n.ConsentBy, n.ConsentAt, n.ConsentPolicy = p.UserID, s.now(), pol.ConsentPolicy
	return nil
}

// needConsent fails with ErrNoConsent unless session id has a consent
// record: no audio of it is taken otherwise.
func (s *Server) needConsent(ctx context.Context, id string) error {
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return err
	}
	if !ses.Consent || strings.TrimSpace(ses.ConsentText) == "" {
		return ErrNoConsent
	}
	return nil
}

// handleErase erases one session and everything of it. Its owner or an
// administrator may; a coach may not.
func (s *Server) handleErase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := principal(r)
	ses, err := s.readable(r.Context(), p, id)
	if err == nil && !p.IsAdmin() && ses.Owner != p.UserID {
		err = fmt.Errorf("%w: only the rep who owns a call, or an administrator, erases it", ErrForbidden)
	}
	if err == nil {
		err = s.erase(r.Context(), id)
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "session.erase", id, map[string]any{"owner": ses.Owner, "created_at": ses.CreatedAt})
	w.WriteHeader(http.StatusNoContent)
}

// erase erases session id unless its call is running.
func (s *Server) erase(ctx context.Context, id string) error {
	if s.cd == nil {
		return errors.New("the store cannot erase sessions")
	}
	s.mu.Lock()
	_, live := s.live[id]
	s.mu.Unlock()
	if live {
		return ErrLive
	}
	if err := s.cd.EraseSession(ctx, id); err != nil {
		return err
	}
	return s.deleteRecordingObjects(ctx, id)
}

// handleEraseUser erases every session a user owns (a request to erase a
// person's calls); sessions on legal hold are kept and listed.
func (s *Server) handleEraseUser(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("id")
	if _, err := s.acc.GetUser(r.Context(), uid); err != nil {
		s.httpError(w, r, err)
		return
	}
	ids, err := s.cd.SessionsOwnedBy(r.Context(), uid)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	res := struct {
		Erased []string `json:"erased"`
		Held   []string `json:"held"`
		Live   []string `json:"live"`
	}{Erased: []string{}, Held: []string{}, Live: []string{}}
	for _, id := range ids {
		err := s.erase(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrHeld):
			res.Held = append(res.Held, id)
		case errors.Is(err, ErrLive):
			res.Live = append(res.Live, id)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.httpError(w, r, err)
			return
		default:
			res.Erased = append(res.Erased, id)
			s.audit(r, "session.erase", id, map[string]any{"owner": uid})
		}
	}
	s.audit(r, "user.erase_sessions", uid, map[string]any{"erased": len(res.Erased), "held": len(res.Held), "live": len(res.Live)})
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleHold(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Hold *bool `json:"hold"`
	}
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if req.Hold == nil {
		s.httpError(w, r, badRequest("hold: want true or false"))
		return
	}
	if err := s.cd.SetLegalHold(r.Context(), r.PathValue("id"), *req.Hold); err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "session.hold", r.PathValue("id"), map[string]any{"hold": *req.Hold})
	w.WriteHeader(http.StatusNoContent)
}

// handleGetPolicy shows a team's policy to its members and administrators
// (the overlay shows the consent text to read).
func (s *Server) handleGetPolicy(w http.ResponseWriter, r *http.Request) {
	t, err := s.teamNamed(r.Context(), r.PathValue("id"), false)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	p := principal(r)
	if _, member := p.Teams[t.ID]; !member && !p.IsAdmin() {
		s.httpError(w, r, fmt.Errorf("%w: team %q", store.ErrNotFound, r.PathValue("id")))
		return
	}
	pol, err := s.cd.TeamPolicy(r.Context(), t.ID)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pol)
}

func (s *Server) handleSetPolicy(w http.ResponseWriter, r *http.Request) {
	var req store.TeamPolicy
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	t, err := s.teamNamed(r.Context(), r.PathValue("id"), false)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	req.TeamID = t.ID
	pol, err := s.cd.SetTeamPolicy(r.Context(), req)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "team.policy", t.ID, map[string]any{"consent_policy": pol.ConsentPolicy, "consent_version": pol.ConsentVersion,
		"recordings_days": pol.RecordingsDays, "transcripts_days": pol.TranscriptsDays})
	writeJSON(w, http.StatusOK, pol)
}

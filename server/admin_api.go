package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// settingSetup holds the hash of the one-time set-up secret.
const settingSetup = "setup_token"

// PrepareSetup returns a one-time secret that creates the first
// administrator at /setup, or "" when the server already has users. Each
// call replaces the previous secret.
func (s *Server) PrepareSetup(ctx context.Context) (string, error) {
	if s.acc == nil {
		return "", errors.New("no account store")
	}
	n, err := s.acc.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	secret, err := auth.RandomString()
	if err != nil {
		return "", err
	}
	if err := s.acc.SetSetting(ctx, settingSetup, auth.HashSecret(secret)); err != nil {
		return "", err
	}
	return secret, nil
}

// handleSetupState tells the set-up page whether set-up is still open.
func (s *Server) handleSetupState(w http.ResponseWriter, r *http.Request) {
	_, open, err := s.acc.Setting(r.Context(), settingSetup)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"open": open})
}

type setupRequest struct {
	Token    string `json:"token"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// handleSetup creates the first administrator with the one-time secret
// printed at start, and signs them in.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	var req setupRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if !s.signinIP.Allow(s.clientIP(r)) {
		s.httpError(w, r, ErrRateLimited)
		return
	}
	u, err := s.setupAdmin(r.Context(), req)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "setup", u.ID, map[string]any{"email": u.Email})
	if err := s.startBrowserSession(w, r, u, nil); err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, meOf(userPrincipal(u, auth.RoleScopes(u.Role)), u))
}

func (s *Server) setupAdmin(ctx context.Context, req setupRequest) (store.User, error) {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	want, open, err := s.acc.Setting(ctx, settingSetup)
	if err != nil {
		return store.User{}, err
	}
	if !open || subtle.ConstantTimeCompare([]byte(want), []byte(auth.HashSecret(req.Token))) != 1 {
		return store.User{}, fmt.Errorf("%w: the set-up link is not valid (it works once; restart the server for a new one while no user exists)", ErrForbidden)
	}
	if n, err := s.acc.CountUsers(ctx); err != nil || n > 0 {
		return store.User{}, errors.Join(err, fmt.Errorf("%w: set-up is done", ErrForbidden))
	}
	hash, err := auth.HashPassword(req.Password, s.cfg.PasswordParams)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.acc.CreateUser(ctx, store.User{Email: req.Email, Name: req.Name, Role: auth.RoleAdmin}, hash)
	if err != nil {
		return u, err
	}
	return u, s.acc.DeleteSetting(ctx, settingSetup)
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.acc.ListUsers(r.Context())
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if us == nil {
		us = []store.User{}
	}
	writeJSON(w, http.StatusOK, us)
}

// memberRequest names a team (by id or name) and the role in it.
type memberRequest struct {
	Team string    `json:"team"`
	Role auth.Role `json:"role"`
}

type userRequest struct {
	Email    string          `json:"email"`
	Name     string          `json:"name"`
	Role     auth.Role       `json:"role"`
	Password string          `json:"password"`
	Teams    []memberRequest `json:"teams"`
}

// handleCreateUser adds a user, with a password (or none, for single
// sign-on) and team memberships.
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if _, err := auth.ParseRole(string(req.Role)); err != nil {
		s.httpError(w, r, badRequest("%v", err))
		return
	}
	hash := ""
	if req.Password != "" {
		var err error
		if hash, err = auth.HashPassword(req.Password, s.cfg.PasswordParams); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	u, err := s.acc.CreateUser(r.Context(), store.User{Email: req.Email, Name: req.Name, Role: req.Role}, hash)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	for _, m := range req.Teams {
		if err := s.join(r.Context(), m, u.ID); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	if u, err = s.acc.GetUser(r.Context(), u.ID); err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "user.create", u.ID, map[string]any{"email": u.Email, "role": u.Role})
	writeJSON(w, http.StatusCreated, u)
}

// join makes user a member of the team m names (by id or name; a new name
// creates the team).
func (s *Server) join(ctx context.Context, m memberRequest, userID string) error {
	if m.Role != auth.RoleRep && m.Role != auth.RoleCoach {
		return badRequest("team role %q: want rep or coach", m.Role)
	}
	t, err := s.teamNamed(ctx, m.Team, true)
	if err != nil {
		return err
	}
	return s.acc.SetMember(ctx, t.ID, userID, m.Role)
}

// teamNamed finds a team by id or name, creating it when create is set.
func (s *Server) teamNamed(ctx context.Context, name string, create bool) (store.Team, error) {
	ts, err := s.acc.ListTeams(ctx)
	if err != nil {
		return store.Team{}, err
	}
	for _, t := range ts {
		if t.ID == name || strings.EqualFold(t.Name, name) {
			return t, nil
		}
	}
	if !create {
		return store.Team{}, fmt.Errorf("%w: team %q", store.ErrNotFound, name)
	}
	return s.acc.CreateTeam(ctx, name)
}

type userPatchRequest struct {
	Name     *string    `json:"name"`
	Role     *auth.Role `json:"role"`
	Disabled *bool      `json:"disabled"`
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var req userPatchRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if req.Role != nil {
		if _, err := auth.ParseRole(string(*req.Role)); err != nil {
			s.httpError(w, r, badRequest("%v", err))
			return
		}
	}
	id := r.PathValue("id")
	if p := principal(r); id == p.UserID && (req.Role != nil && *req.Role != auth.RoleAdmin || req.Disabled != nil && *req.Disabled) {
		s.httpError(w, r, fmt.Errorf("%w: administrators cannot demote or disable themselves", ErrForbidden))
		return
	}
	u, err := s.acc.UpdateUser(r.Context(), id, store.UserPatch{Name: req.Name, Role: req.Role, Disabled: req.Disabled})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "user.update", u.ID, map[string]any{"role": u.Role, "disabled": u.Disabled})
	writeJSON(w, http.StatusOK, u)
}

// handleResetPassword sets a user's password (an administrator's reset).
func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if _, err := s.acc.GetUser(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	if err := s.setPassword(r.Context(), id, req.Password); err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "user.password", id, map[string]any{"by": "admin"})
	w.WriteHeader(http.StatusNoContent)
}

// handleListTeams lists every team to an administrator, and their own
// teams to everyone else.
func (s *Server) handleListTeams(w http.ResponseWriter, r *http.Request) {
	ts, err := s.acc.ListTeams(r.Context())
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	p := principal(r)
	out := []store.Team{}
	for _, t := range ts {
		if _, member := p.Teams[t.ID]; member || p.IsAdmin() {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateTeam(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	t, err := s.acc.CreateTeam(r.Context(), req.Name)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "team.create", t.ID, map[string]any{"name": t.Name})
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) handleSetMember(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role auth.Role `json:"role"`
	}
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	t, err := s.teamNamed(r.Context(), r.PathValue("id"), false)
	if err == nil {
		_, err = s.acc.GetUser(r.Context(), r.PathValue("user"))
	}
	if err == nil {
		err = s.join(r.Context(), memberRequest{Team: t.ID, Role: req.Role}, r.PathValue("user"))
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "team.member", t.ID, map[string]any{"user": r.PathValue("user"), "role": req.Role})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	t, err := s.teamNamed(r.Context(), r.PathValue("id"), false)
	if err == nil {
		err = s.acc.RemoveMember(r.Context(), t.ID, r.PathValue("user"))
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "team.member.remove", t.ID, map[string]any{"user": r.PathValue("user")})
	w.WriteHeader(http.StatusNoContent)
}

// handleAudit exports the audit log as JSONL, oldest first, after the
// sequence number "after", optionally of one action, actor or target.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), ActorID: q.Get("actor"), Target: q.Get("target")}
	for name, dst := range map[string]*int64{"after": &f.AfterSeq} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.httpError(w, r, badRequest("%s: want a whole number", name))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			s.httpError(w, r, badRequest("limit: want 0 to 1000"))
			return
		}
		f.Limit = n
	}
	es, err := s.acc.ListAudit(r.Context(), f)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	for _, e := range es {
		writeJSONLine(w, e)
	}
}

// tokenRequest creates an API token; UserID (administrators only) makes
// it for another user.
type tokenRequest struct {
	Name          string `json:"name"`
	Scopes        string `json:"scopes"`
	ExpiresInDays int    `json:"expires_in_days"`
	UserID        string `json:"user_id"`
}

// tokenCreated is a new token: the only time its secret is shown.
type tokenCreated struct {
	store.APIToken
	Token string `json:"token"`
}

// handleCreateToken makes a personal access token. Only a browser session
// or an administrator's token may make one.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	p := principal(r)
	if !viaCookie(r) && !p.IsAdmin() {
		s.httpError(w, r, fmt.Errorf("%w: tokens are made when signed in, or with an admin token", ErrForbidden))
		return
	}
	owner := p.UserID
	if req.UserID != "" && req.UserID != p.UserID {
		if !p.IsAdmin() {
			s.httpError(w, r, fmt.Errorf("%w: only administrators make tokens for others", ErrForbidden))
			return
		}
		owner = req.UserID
	}
	scopes, err := auth.ParseScopes(req.Scopes)
	if err != nil || len(scopes) == 0 || req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		s.httpError(w, r, badRequest("scopes: want stream, read and/or admin; expires_in_days: 0 (never) to 3650"))
		return
	}
	tc, err := s.makeToken(r.Context(), owner, req.Name, scopes, req.ExpiresInDays)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "token.create", tc.ID, map[string]any{"user": owner, "scopes": auth.FormatScopes(tc.Scopes)})
	writeJSON(w, http.StatusCreated, tc)
}

// makeToken stores a new token for user; its scopes are cut to what the
// user's role may hold.
func (s *Server) makeToken(ctx context.Context, userID, name string, scopes []auth.Scope, days int) (tokenCreated, error) {
	u, err := s.acc.GetUser(ctx, userID)
	if err != nil {
		return tokenCreated{}, err
	}
	scopes = auth.Intersect(scopes, auth.RoleScopes(u.Role))
	if len(scopes) == 0 {
		return tokenCreated{}, fmt.Errorf("%w: a %s cannot hold those scopes", ErrForbidden, u.Role)
	}
	plain, t, err := auth.NewToken()
	if err != nil {
		return tokenCreated{}, err
	}
	at := store.APIToken{ID: t.ID, UserID: u.ID, Name: name, Scopes: scopes, Hash: auth.HashSecret(t.Secret)}
	if days > 0 {
		at.ExpiresAt = time.Now().Add(time.Duration(days) * 24 * time.Hour)
	}
	at, err = s.acc.CreateToken(ctx, at)
	return tokenCreated{APIToken: at, Token: plain}, err
}

// handleListTokens lists the caller's tokens (everyone's for an
// administrator asking with ?all=1).
func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	uid := p.UserID
	if r.URL.Query().Get("all") == "1" {
		if !p.IsAdmin() {
			s.httpError(w, r, fmt.Errorf("%w: administrators only", ErrForbidden))
			return
		}
		uid = ""
	}
	ts, err := s.acc.ListTokens(r.Context(), uid)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if ts == nil {
		ts = []store.APIToken{}
	}
	writeJSON(w, http.StatusOK, ts)
}

// handleRevokeToken revokes one of the caller's tokens (any, for an
// administrator).
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	t, err := s.acc.GetToken(r.Context(), r.PathValue("id"))
	if err == nil && t.UserID != p.UserID && !p.IsAdmin() {
		err = store.ErrNotFound
	}
	if err == nil {
		err = s.acc.RevokeToken(r.Context(), t.ID, time.Now())
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "token.revoke", t.ID, map[string]any{"user": t.UserID})
	w.WriteHeader(http.StatusNoContent)
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// accountRoutes registers sign-in, the signed-in user's own routes and the
// administration of users, teams, tokens and the audit log.
func (s *Server) accountRoutes(rt router) {
	const read, adm = auth.ScopeRead, auth.ScopeAdmin
	rt.handleFunc("POST /v1/auth/login", Public, "", s.handleLogin)
	rt.handleFunc("POST /v1/auth/logout", Public, "", s.handleLogout)
	rt.handleFunc("POST /v1/auth/setup", Public, "", s.handleSetup)
	rt.handleFunc("GET /v1/auth/setup", Public, "", s.handleSetupState)
	if s.oidc != nil {
		rt.handleFunc("GET /v1/auth/oidc/login", Public, "", s.oidc.handleLogin)
		rt.handleFunc("GET /v1/auth/oidc/callback", Public, "", s.oidc.handleCallback)
	}
	rt.handleFunc("GET /v1/me", SignedIn, "", s.handleMe)
	rt.handleFunc("POST /v1/me/password", SignedIn, read, s.handleMyPassword)
	rt.handleFunc("GET /v1/users", Admin, adm, s.handleListUsers)
	rt.handleFunc("POST /v1/users", Admin, adm, s.handleCreateUser)
	rt.handleFunc("PATCH /v1/users/{id}", Admin, adm, s.handleUpdateUser)
	rt.handleFunc("POST /v1/users/{id}/password", Admin, adm, s.handleResetPassword)
	rt.handleFunc("GET /v1/teams", SignedIn, read, s.handleListTeams)
	rt.handleFunc("POST /v1/teams", Admin, adm, s.handleCreateTeam)
	rt.handleFunc("PUT /v1/teams/{id}/members/{user}", Admin, adm, s.handleSetMember)
	rt.handleFunc("DELETE /v1/teams/{id}/members/{user}", Admin, adm, s.handleRemoveMember)
	rt.handleFunc("GET /v1/tokens", SignedIn, "", s.handleListTokens)
	rt.handleFunc("POST /v1/tokens", SignedIn, "", s.handleCreateToken)
	rt.handleFunc("DELETE /v1/tokens/{id}", SignedIn, "", s.handleRevokeToken)
	rt.handleFunc("GET /v1/audit", Admin, adm, s.handleAudit)
}

// clientIP is the caller's address: the proxy's X-Forwarded-For when the
// server is behind one, else the connection's.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.BehindProxy {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			ip, _, _ := strings.Cut(f, ",")
			return strings.TrimSpace(ip)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit appends an entry to the audit log. A failure is logged, not
// returned: the action it records has happened.
func (s *Server) audit(r *http.Request, action, target string, detail map[string]any) {
	if s.acc == nil {
		return
	}
	e := store.AuditEntry{Action: action, Target: target, IP: s.clientIP(r)}
	if p := principal(r); p != nil {
		e.ActorID, e.Actor = p.UserID, p.Email
		if p.TokenID != "" {
			if detail == nil {
				detail = map[string]any{}
			}
			detail["token"] = p.TokenID
		}
	}
	if detail != nil {
		e.Detail = jsonDetail(detail)
	}
	s.appendAudit(r.Context(), e)
}

// appendAudit appends e to the audit log, even when ctx is done.
func (s *Server) appendAudit(ctx context.Context, e store.AuditEntry) {
	if s.acc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.acc.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit log", "action", e.Action, "err", err)
	}
}

// jsonDetail marshals an audit entry's detail.
func jsonDetail(m map[string]any) json.RawMessage {
	b, _ := json.Marshal(m)
	return b
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// handleLogin signs a user in with email and password and sets the
// browser session cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if !s.signinIP.Allow(s.clientIP(r)) || !s.signinEmail.Allow(email) {
		s.audit(r, "signin.limited", email, nil)
		s.httpError(w, r, ErrRateLimited)
		return
	}
	u, err := s.checkPassword(r.Context(), email, req.Password)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			s.audit(r, "signin.failed", email, map[string]any{"reason": err.Error()})
			err = fmt.Errorf("%w: wrong email or password", ErrUnauthenticated)
		}
		s.httpError(w, r, err)
		return
	}
	if err := s.startBrowserSession(w, r, u, nil); err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meOf(userPrincipal(u, auth.RoleScopes(u.Role)), u))
}

// checkPassword returns the user whose email and password these are.
func (s *Server) checkPassword(ctx context.Context, email, password string) (store.User, error) {
	if s.acc == nil {
		return store.User{}, ErrUnauthenticated
	}
	u, hash, err := s.acc.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		// Spend the same time as a real check, so timing does not tell
		// which emails have accounts.
		auth.CheckPassword(s.dummyHash, password)
		return u, fmt.Errorf("%w: no such user", ErrUnauthenticated)
	}
	if err != nil {
		return u, err
	}
	if hash == "" {
		return u, fmt.Errorf("%w: no password set (single sign-on user)", ErrUnauthenticated)
	}
	ok, err := auth.CheckPassword(hash, password)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, fmt.Errorf("%w: wrong password", ErrUnauthenticated)
	}
	if u.Disabled {
		return u, fmt.Errorf("%w: user disabled", ErrUnauthenticated)
	}
	return u, nil
}

// startBrowserSession signs u in: a new session token (never the one the
// browser came with), stored server-side, in the cookie. detail (may be
// nil) goes into the audit entry.
func (s *Server) startBrowserSession(w http.ResponseWriter, r *http.Request, u store.User, detail map[string]any) error {
	ctx, err := s.sm.Load(r.Context(), "")
	if err != nil {
		return err
	}
	if err := s.sm.RenewToken(ctx); err != nil {
		return err
	}
	s.sm.Put(ctx, sessionKeyUser, u.ID)
	tok, expiry, err := s.sm.Commit(ctx)
	if err != nil {
		return err
	}
	s.sm.WriteSessionCookie(ctx, w, tok, expiry)
	r = r.WithContext(withAuth(ctx, authInfo{p: userPrincipal(u, auth.RoleScopes(u.Role)), cookie: true}))
	s.audit(r, "signin", u.ID, detail)
	return nil
}

// handleLogout ends the browser session, if any, and clears its cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	a, ctx, err := s.authenticate(r)
	if err == nil && a.cookie {
		r = r.WithContext(withAuth(ctx, a))
		if err := s.sm.Destroy(ctx); err != nil {
			s.httpError(w, r, err)
			return
		}
		s.audit(r, "signout", a.p.UserID, nil)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.sm.Cookie.Secure, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

// me is the signed-in user as GET /v1/me shows it.
type me struct {
	store.User
	Scopes []auth.Scope `json:"scopes"`
	Token  string       `json:"token,omitempty"`
}

func meOf(p *auth.Principal, u store.User) me {
	return me{User: u, Scopes: p.Scopes, Token: p.TokenID}
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	u, err := s.acc.GetUser(r.Context(), p.UserID)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meOf(p, u))
}

type passwordRequest struct {
	Current  string `json:"current"`
	Password string `json:"password"`
}

// handleMyPassword changes the signed-in user's password; the current one
// is required.
func (s *Server) handleMyPassword(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	p := principal(r)
	if !s.signinEmail.Allow(p.Email) {
		s.httpError(w, r, ErrRateLimited)
		return
	}
	if _, err := s.checkPassword(r.Context(), p.Email, req.Current); err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			err = badRequest("current: the current password is wrong")
		}
		s.httpError(w, r, err)
		return
	}
	if err := s.setPassword(r.Context(), p.UserID, req.Password); err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "user.password", p.UserID, map[string]any{"by": "self"})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setPassword(ctx context.Context, userID, password string) error {
	hash, err := auth.HashPassword(password, s.cfg.PasswordParams)
	if err != nil {
		return err
	}
	return s.acc.SetPassword(ctx, userID, hash)
}

package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// AccountStore is what the server needs of users, teams, tokens, browser
// sessions, settings and the audit log.
type AccountStore interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u store.User, passwordHash string) (store.User, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, string, error)
	UserByOIDC(ctx context.Context, subject string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, p store.UserPatch) (store.User, error)
	SetPassword(ctx context.Context, id, hash string) error
	CreateTeam(ctx context.Context, name string) (store.Team, error)
	TeamByName(ctx context.Context, name string) (store.Team, error)
	ListTeams(ctx context.Context) ([]store.Team, error)
	SetMember(ctx context.Context, teamID, userID string, role auth.Role) error
	RemoveMember(ctx context.Context, teamID, userID string) error
	CreateToken(ctx context.Context, t store.APIToken) (store.APIToken, error)
	GetToken(ctx context.Context, id string) (store.APIToken, error)
	ListTokens(ctx context.Context, userID string) ([]store.APIToken, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time) error
	FindCtx(ctx context.Context, token string) ([]byte, bool, error)
	CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error
	DeleteCtx(ctx context.Context, token string) error
	Setting(ctx context.Context, key string) (string, bool, error)
	SetSetting(ctx context.Context, key, value string) error
	DeleteSetting(ctx context.Context, key string) error
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// Errors of authentication and authorization; httpError maps them.
var (
	// ErrUnauthenticated is a request without valid credentials (401).
	ErrUnauthenticated = errors.New("sign in or send a valid API token")
	// ErrForbidden is a signed-in request that may not do this (403).
	ErrForbidden = errors.New("not allowed")
	// ErrRateLimited is a request refused for being too frequent (429).
	ErrRateLimited = errors.New("too many requests; try again later")
	// errHostNotAllowed is a Host header this server does not answer to.
	errHostNotAllowed = errors.New("host not served here")
)

// webSessions adapts the store to scs.CtxStore; the plain methods are only
// there to satisfy it.
type webSessions struct{ st AccountStore }

func (w webSessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	return w.st.FindCtx(ctx, token)
}
func (w webSessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	return w.st.CommitCtx(ctx, token, b, expiry)
}
func (w webSessions) DeleteCtx(ctx context.Context, token string) error {
	return w.st.DeleteCtx(ctx, token)
}
func (w webSessions) Find(token string) ([]byte, bool, error) {
	return w.FindCtx(context.Background(), token)
}
func (w webSessions) Commit(token string, b []byte, expiry time.Time) error {
	return w.CommitCtx(context.Background(), token, b, expiry)
}
func (w webSessions) Delete(token string) error { return w.DeleteCtx(context.Background(), token) }

// cookieName is the browser session's cookie.
const cookieName = "cuecard_session"

// sessionKeyUser is the user id in a browser session.
const sessionKeyUser = "user_id"

func newSessionManager(st AccountStore, secure bool, lifetime, idle time.Duration) *scs.SessionManager {
	// scs.New also starts an in-memory store's cleaner goroutine, which
	// idles for the life of the process: the store used is the database.
	sm := scs.New()
	sm.Store = webSessions{st}
	sm.Lifetime = lifetime
	sm.IdleTimeout = idle
	sm.Cookie.Name = cookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	sm.Cookie.Path = "/"
	return sm
}

// principalKey carries the request's principal in its context.
type principalKey struct{}

// authInfo is what authentication found: the principal (nil when
// anonymous) and whether it came from a cookie (browser) session.
type authInfo struct {
	p      *auth.Principal
	cookie bool
}

func withAuth(ctx context.Context, a authInfo) context.Context {
	return context.WithValue(ctx, principalKey{}, a)
}

// principal returns the request's principal, nil when anonymous.
func principal(r *http.Request) *auth.Principal {
	a, _ := r.Context().Value(principalKey{}).(authInfo)
	return a.p
}

// viaCookie reports whether the request was authenticated by a browser
// session.
func viaCookie(r *http.Request) bool {
	a, _ := r.Context().Value(principalKey{}).(authInfo)
	return a.cookie
}

// authenticate finds who is asking: a Bearer token (API or ingest), else
// the browser session cookie. A bad credential is an error; none at all is
// an anonymous request.
func (s *Server) authenticate(r *http.Request) (authInfo, context.Context, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return authInfo{}, ctx, fmt.Errorf("%w: Authorization must be Bearer", ErrUnauthenticated)
		}
		p, err := s.bearer(ctx, strings.TrimSpace(tok))
		return authInfo{p: p}, ctx, err
	}
	c, err := r.Cookie(cookieName)
	if err != nil || s.acc == nil {
		return authInfo{}, ctx, nil
	}
	if len(c.Value) > 128 {
		return authInfo{}, ctx, nil
	}
	ctx, err = s.sm.Load(ctx, c.Value)
	if err != nil {
		return authInfo{}, ctx, err
	}
	uid := s.sm.GetString(ctx, sessionKeyUser)
	if uid == "" {
		return authInfo{}, ctx, nil
	}
	u, err := s.acc.GetUser(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Disabled {
		return authInfo{}, ctx, nil
	}
	if err != nil {
		return authInfo{}, ctx, err
	}
	return authInfo{p: userPrincipal(u, auth.RoleScopes(u.Role)), cookie: true}, ctx, nil
}

// userPrincipal builds the principal of user u holding scopes.
func userPrincipal(u store.User, scopes []auth.Scope) *auth.Principal {
	p := &auth.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role,
		Teams: make(map[string]auth.Role, len(u.Teams)), Scopes: auth.Intersect(scopes, auth.RoleScopes(u.Role))}
	for _, m := range u.Teams {
		p.Teams[m.TeamID] = m.Role
	}
	return p
}

// bearer authenticates an API token or a session's ingest token.
func (s *Server) bearer(ctx context.Context, tok string) (*auth.Principal, error) {
	if strings.HasPrefix(tok, ingestPrefix) {
		return s.ingestPrincipal(ctx, tok)
	}
	if s.acc == nil {
		return nil, ErrUnauthenticated
	}
	t, err := auth.ParseToken(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	at, err := s.acc.GetToken(ctx, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	switch {
	case !auth.SecretMatches(at.Hash, t.Secret):
		return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	case !at.RevokedAt.IsZero():
		return nil, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	case !at.ExpiresAt.IsZero() && !now.Before(at.ExpiresAt):
		return nil, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	u, err := s.acc.GetUser(ctx, at.UserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Disabled {
		return nil, fmt.Errorf("%w: user disabled", ErrUnauthenticated)
	}
	if err != nil {
		return nil, err
	}
	s.touchToken(at.ID, now)
	p := userPrincipal(u, at.Scopes)
	p.TokenID = at.ID
	return p, nil
}

// tokenTouches throttles last-use writes to one a minute per token.
type tokenTouches struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// touchToken records a token's use, at most once a minute, without making
// the request wait for the write.
func (s *Server) touchToken(id string, now time.Time) {
	s.touches.mu.Lock()
	if now.Sub(s.touches.last[id]) < time.Minute {
		s.touches.mu.Unlock()
		return
	}
	if len(s.touches.last) > 10000 {
		clear(s.touches.last)
	}
	s.touches.last[id] = now
	s.touches.mu.Unlock()
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.base, 5*time.Second)
		defer cancel()
		if err := s.acc.TouchToken(ctx, id, now); err != nil {
			s.log.Warn("token last use", "token", id, "err", err)
		}
	})
}

// ingestPrefix starts a session's ingest token: "cci_" + session id + "."
// + an HMAC of the id under the server's ingest key (neither contains a
// dot). It allows streaming
// that one session as its owner, and nothing else.
const ingestPrefix = "cci_"

// settingIngestKey names the stored ingest key.
const settingIngestKey = "ingest_key"

// ingestKey returns the server's ingest key, made and stored on first use.
func (s *Server) ingestKey(ctx context.Context) ([]byte, error) {
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	if s.ingestK != nil {
		return s.ingestK, nil
	}
	if s.acc == nil {
		return nil, ErrUnauthenticated
	}
	v, ok, err := s.acc.Setting(ctx, settingIngestKey)
	if err != nil {
		return nil, err
	}
	if !ok {
		if v, err = auth.RandomString(); err != nil {
			return nil, err
		}
		if err := s.acc.SetSetting(ctx, settingIngestKey, v); err != nil {
			return nil, err
		}
	}
	s.ingestK = []byte(v)
	return s.ingestK, nil
}

// ingestToken returns the ingest token of session id.
func (s *Server) ingestToken(ctx context.Context, id string) (string, error) {
	k, err := s.ingestKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id))
	return ingestPrefix + id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// ingestPrincipal checks an ingest token and returns the session owner's
// principal, limited to streaming that session.
func (s *Server) ingestPrincipal(ctx context.Context, tok string) (*auth.Principal, error) {
	rest := strings.TrimPrefix(tok, ingestPrefix)
	i := strings.IndexByte(rest, '.')
	if i <= 0 || len(rest) > 200 {
		return nil, fmt.Errorf("%w: malformed ingest token", ErrUnauthenticated)
	}
	id := rest[:i]
	want, err := s.ingestToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(want), []byte(tok)) {
		return nil, fmt.Errorf("%w: unknown ingest token", ErrUnauthenticated)
	}
	ses, err := s.st.GetSession(ctx, id)
	if err != nil || ses.Owner == "" {
		return nil, fmt.Errorf("%w: unknown ingest token", ErrUnauthenticated)
	}
	return &auth.Principal{UserID: ses.Owner, Scopes: []auth.Scope{auth.ScopeStream}, Ingest: id}, nil
}

// hostAllowed reports whether host (a Host header, port included) names
// this server: the public URL's host, or a loopback name when the server
// answers loopback names.
func (s *Server) hostAllowed(host string) bool {
	if slices.Contains(s.cfg.Hosts, "*") {
		return true
	}
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if len(s.cfg.Hosts) == 0 {
		return isLoopbackName(h)
	}
	for _, a := range s.cfg.Hosts {
		if a == "loopback" && isLoopbackName(h) || strings.EqualFold(a, h) {
			return true
		}
	}
	return false
}

func isLoopbackName(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.") && strings.Count(h, ".") == 3
}

// publicPages are the UI pages an anonymous visitor may open.
var publicPages = map[string]bool{"signin.html": true, "setup.html": true, "404.html": true}

// pageAllowed lets a signed-in visitor through to a UI page and sends
// anyone else to the sign-in page (or the set-up page while no user
// exists); it reports whether the page may be served.
func (s *Server) pageAllowed(w http.ResponseWriter, r *http.Request) bool {
	a, _, err := s.authenticate(r)
	if err == nil && a.p != nil && a.p.Ingest == "" {
		return true
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, signInURL(r.URL.RequestURI()), http.StatusSeeOther)
	return false
}

package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// oidcLogin signs users in through an OpenID Connect provider: the
// authorization code flow with state, nonce and PKCE (S256), the pending
// sign-in kept in a short-lived signed cookie.
type oidcLogin struct {
	s   *Server
	cfg OIDCConfig
	key []byte // signs the pending sign-in cookie; a restart voids pending sign-ins

	mu       sync.Mutex // guards prov and verifier, set once discovery succeeds
	prov     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// oidcCookie holds a sign-in between the redirect to the provider and the
// callback.
const oidcCookie = "cuecard_oidc"

// oidcPending is the pending sign-in the cookie carries.
type oidcPending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"` // Unix seconds
}

// oidcPendingTTL is how long a user may take at the provider.
const oidcPendingTTL = 10 * time.Minute

// newOIDCLogin returns the single sign-on handlers of s. Discovery
// happens later (discover, or the first sign-in).
func newOIDCLogin(s *Server, cfg OIDCConfig) *oidcLogin {
	key := make([]byte, 32)
	rand.Read(key)
	return &oidcLogin{s: s, cfg: cfg.withDefaults(), key: key}
}

// clientContext is ctx carrying the HTTP client that talks to the
// provider (go-oidc and x/oauth2 both look for it there).
func (o *oidcLogin) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// provider returns the discovered provider and ID token verifier,
// discovering them first if that has not yet succeeded. It blocks for at
// most DiscoveryTimeout.
func (o *oidcLogin) provider(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	p, v := o.prov, o.verifier
	o.mu.Unlock()
	if p != nil {
		return p, v, nil
	}
	ctx, cancel := context.WithTimeout(o.clientContext(ctx), o.cfg.DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: discover %s: %w", errProviderDown, o.cfg.Issuer, err)
	}
	// The key set fetches keys later, outside this request: it must keep
	// the client but not the deadline.
	v = p.VerifierContext(o.clientContext(context.WithoutCancel(ctx)), &oidc.Config{ClientID: o.cfg.ClientID})
	o.mu.Lock()
	o.prov, o.verifier = p, v
	o.mu.Unlock()
	return p, v, nil
}

// errProviderDown is a provider that could not be reached.
var errProviderDown = errors.New("the single sign-on provider is unreachable")

// oauth2Config is the client configuration for a sign-in reached through r.
func (o *oidcLogin) oauth2Config(p *oidc.Provider, r *http.Request) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: o.redirectURL(r),
		Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...),
	}
}

// redirectURL is the configured callback URL, else the callback on the
// origin the browser used.
func (o *oidcLogin) redirectURL(r *http.Request) string {
	if o.cfg.RedirectURL != "" {
		return o.cfg.RedirectURL
	}
	scheme := "http"
	if r.TLS != nil || o.s.cfg.SecureCookies ||
		o.s.cfg.BehindProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/v1/auth/oidc/callback"
}

// handleLogin sends the browser to the provider, remembering the pending
// sign-in (state, nonce, PKCE verifier, where to go after) in a cookie.
func (o *oidcLogin) handleLogin(w http.ResponseWriter, r *http.Request) {
	p, _, err := o.provider(r.Context())
	if err != nil {
		o.s.log.Warn("single sign-on", "err", err)
		o.fail(w, r, &signinError{code: http.StatusServiceUnavailable,
			msg: "Single sign-on is unavailable: the identity provider cannot be reached. Try again later.", reason: err.Error()})
		return
	}
	state, err1 := auth.RandomString()
	nonce, err2 := auth.RandomString()
	if err := errors.Join(err1, err2); err != nil {
		o.s.httpError(w, r, err)
		return
	}
	pend := oidcPending{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: time.Now().Add(oidcPendingTTL).Unix()}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: o.seal(pend), Path: "/v1/auth/oidc/",
		MaxAge: int(oidcPendingTTL / time.Second), HttpOnly: true, Secure: o.s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	u := o.oauth2Config(p, r).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pend.Verifier))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// seal encodes a pending sign-in and signs it.
func (o *oidcLogin) seal(p oidcPending) string {
	b, _ := json.Marshal(p)
	v := base64.RawURLEncoding.EncodeToString(b)
	return v + "." + o.mac(v)
}

func (o *oidcLogin) mac(v string) string {
	m := hmac.New(sha256.New, o.key)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// open reads the pending sign-in of r's cookie; false if there is none,
// it is not ours or it has expired.
func (o *oidcLogin) open(r *http.Request) (oidcPending, bool) {
	var p oidcPending
	c, err := r.Cookie(oidcCookie)
	if err != nil || len(c.Value) > 4096 {
		return p, false
	}
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(o.mac(v))) {
		return p, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || json.Unmarshal(b, &p) != nil || time.Now().Unix() > p.Expires {
		return p, false
	}
	return p, true
}

// signinError is a refused single sign-on: the status, what the user is
// told, and the reason the audit log keeps.
type signinError struct {
	code        int
	msg, reason string
	target      string // the email or subject, when known
}

func (e *signinError) Error() string { return e.reason }

// handleCallback completes a sign-in: checks the state, exchanges the code
// (with the PKCE verifier), verifies the ID token and its nonce, maps the
// user's groups, starts the browser session and goes to the next page.
func (o *oidcLogin) handleCallback(w http.ResponseWriter, r *http.Request) {
	pend, ok := o.open(r)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/v1/auth/oidc/", MaxAge: -1,
		HttpOnly: true, Secure: o.s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	id, err := o.identify(r, pend, ok)
	if err == nil {
		var u store.User
		if u, err = o.signIn(r.Context(), id); err == nil {
			err = o.s.startBrowserSession(w, r, u, map[string]any{"via": "oidc"})
		}
	}
	if err != nil {
		o.fail(w, r, err)
		return
	}
	http.Redirect(w, r, pend.Next, http.StatusSeeOther)
}

// identify checks the callback request against the pending sign-in and
// returns who the provider says the user is.
func (o *oidcLogin) identify(r *http.Request, pend oidcPending, ok bool) (identity, error) {
	q := r.URL.Query()
	switch {
	case !o.s.signinIP.Allow(o.s.clientIP(r)):
		return identity{}, &signinError{code: http.StatusTooManyRequests, reason: "rate limited",
			msg: "Too many sign-in attempts from your address. Please wait a minute and try again."}
	case !ok:
		return identity{}, &signinError{code: http.StatusBadRequest, reason: "no pending sign-in",
			msg: "This sign-in has expired or was started in another browser. Please sign in again."}
	case q.Get("error") != "":
		return identity{}, &signinError{code: http.StatusForbidden, reason: "provider error: " + q.Get("error"),
			msg: "The identity provider did not sign you in: " + oneLine(q.Get("error")+" "+q.Get("error_description"))}
	case !hmac.Equal([]byte(q.Get("state")), []byte(pend.State)):
		return identity{}, &signinError{code: http.StatusBadRequest, reason: "state mismatch",
			msg: "This sign-in does not match the one this browser started. Please sign in again."}
	}
	p, v, err := o.provider(r.Context())
	if err != nil {
		return identity{}, &signinError{code: http.StatusServiceUnavailable, reason: err.Error(),
			msg: "Single sign-on is unavailable: the identity provider cannot be reached. Try again later."}
	}
	ctx := o.clientContext(r.Context())
	tok, err := o.oauth2Config(p, r).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return identity{}, badToken("code exchange: " + err.Error())
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return identity{}, badToken("ID token: " + err.Error())
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(pend.Nonce)) {
		return identity{}, badToken("nonce mismatch")
	}
	return o.claims(ctx, p, idt, tok)
}

// badToken is a refusal for a token that does not check out.
func badToken(reason string) error {
	return &signinError{code: http.StatusForbidden, reason: reason,
		msg: "The identity provider's answer could not be verified. Please sign in again."}
}

// identity is who the provider says the user is.
type identity struct {
	subject       string // "issuer|sub"
	email, name   string
	emailVerified bool
	groups        []string
}

// claims reads the user's identity from the ID token, and the groups from
// the userinfo endpoint when the token does not carry them.
func (o *oidcLogin) claims(ctx context.Context, p *oidc.Provider, idt *oidc.IDToken, tok *oauth2.Token) (identity, error) {
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		return identity{}, badToken("ID token claims: " + err.Error())
	}
	id := identity{subject: idt.Issuer + "|" + idt.Subject}
	id.email, _ = c["email"].(string)
	id.emailVerified, _ = c["email_verified"].(bool)
	id.name, _ = c["name"].(string)
	groups, found := c[o.cfg.GroupsClaim]
	if !found && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return identity{}, badToken("userinfo: " + err.Error())
		}
		var uc map[string]any
		if err := ui.Claims(&uc); err == nil && ui.Subject == idt.Subject {
			groups = uc[o.cfg.GroupsClaim]
			if id.email == "" {
				id.email, id.emailVerified = ui.Email, ui.EmailVerified
			}
		}
	}
	id.groups = claimStrings(groups)
	if id.email == "" {
		return identity{}, &signinError{code: http.StatusForbidden, reason: "no email claim", target: id.subject,
			msg: "The identity provider did not share your email address, which cuecard needs. Ask your administrator."}
	}
	return id, nil
}

// claimStrings reads a claim that is a list of strings or one string.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// safeNext returns next if it is a path on this server, else "/": never
// another origin ("//host", "/\host", "https://host").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

// fail answers a refused sign-in, as a page for a browser and as JSON
// otherwise, and records it in the audit log.
func (o *oidcLogin) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *signinError
	if !errors.As(err, &se) {
		o.s.httpError(w, r, err)
		return
	}
	o.s.audit(r, "signin.failed", se.target, map[string]any{"via": "oidc", "reason": se.reason})
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeJSON(w, se.code, map[string]string{"error": se.msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(se.code)
	failPage.Execute(w, se.msg)
}

var failPage = template.Must(template.New("fail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in refused – cuecard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>You are not signed in</h1><p id="reason" role="alert">{{.}}</p>
<p><a href="/signin">Back to sign-in</a></p></main></body></html>
`))

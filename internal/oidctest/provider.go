// Package oidctest runs a real OpenID Connect provider (zitadel/oidc's op
// package over an in-memory storage) for tests: users with passwords and
// groups, one client, a plain HTML login form. Only tests import it.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider.
type User struct {
	Username, Password string
	Subject            string
	Email, Name        string
	EmailVerified      bool
	Groups             []string
}

// Provider is a running OpenID provider. Its issuer is URL.
type Provider struct {
	URL                    string
	ClientID, ClientSecret string
	st                     *storage
	down                   *atomic.Bool
}

// Start runs a provider on loopback with users and a client
// ("cuecard", secret "s3cret") until tb ends.
func Start(tb testing.TB, users ...User) *Provider {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	st := &storage{key: key, client: &client{id: "cuecard", secret: "s3cret"}, users: map[string]User{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{}}
	for _, u := range users {
		st.users[u.Username] = u
	}
	mux := http.NewServeMux()
	down := new(atomic.Bool)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	issuer := "http://" + ts.Listener.Addr().String()
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte("oidctest")), CodeMethodS256: true, AuthMethodPost: true}
	prov, err := op.NewProvider(cfg, st, op.StaticIssuer(issuer), op.WithAllowInsecure(),
		op.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	callback := op.AuthCallbackURL(prov)
	login := op.NewIssuerInterceptor(prov.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveLogin(w, r, st, callback)
	})
	mux.Handle("/login", login)
	mux.Handle("/", prov)
	ts.Start()
	tb.Cleanup(ts.Close)
	return &Provider{URL: issuer, ClientID: st.client.id, ClientSecret: st.client.secret, st: st, down: down}
}

// SetDown makes the provider answer every request with 503 (true) or
// work again (false).
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// AllowRedirect registers a redirect URI of the client.
func (p *Provider) AllowRedirect(uri string) {
	p.st.client.mu.Lock()
	defer p.st.client.mu.Unlock()
	p.st.client.redirects = append(p.st.client.redirects, uri)
}

// SetGroups changes a user's groups, for the next sign-in.
func (p *Provider) SetGroups(username string, groups ...string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	u := p.st.users[username]
	u.Groups = slices.Clone(groups)
	p.st.users[username] = u
}

// SetNonce makes the provider put nonce in every ID token instead of the
// one the client asked for ("" restores the honest behaviour).
func (p *Provider) SetNonce(nonce string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.nonce = nonce
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><h1>Sign in to the test provider</h1>{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/login"><input type="hidden" name="id" value="{{.ID}}">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button></form></body></html>
`))

// serveLogin shows the login form (GET) and checks it (POST), sending the
// browser back into the authorization flow on success.
func serveLogin(w http.ResponseWriter, r *http.Request, st *storage, callback func(context.Context, string) string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Form.Get("id")
	if r.Method == http.MethodPost {
		if st.finish(id, r.PostForm.Get("username"), r.PostForm.Get("password")) {
			http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, map[string]string{"ID": id, "Error": "Wrong username or password."})
		return
	}
	loginPage.Execute(w, map[string]string{"ID": id})
}

// LoginForm is the form values that sign username in to the pending
// authorization whose login page is at loginURL.
func LoginForm(loginURL, username, password string) (url.Values, error) {
	u, err := url.Parse(loginURL)
	if err != nil {
		return nil, err
	}
	return url.Values{"id": {u.Query().Get("id")}, "username": {username}, "password": {password}}, nil
}

// SignIn drives a sign-in without a browser: c (with a cookie jar,
// following redirects) opens start, which must lead to this provider's
// login page, and submits username and password. It returns the final
// response's status, its URL and body.
func (p *Provider) SignIn(tb testing.TB, c *http.Client, start, username, password string) (int, *url.URL, string) {
	tb.Helper()
	resp, err := c.Get(start)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Request.URL.String(), p.URL+"/login") {
		tb.Fatalf("%s led to %s (%d), not the provider's login page", start, resp.Request.URL, resp.StatusCode)
	}
	form, err := LoginForm(resp.Request.URL.String(), username, password)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err = c.PostForm(p.URL+"/login", form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL, string(b)
}

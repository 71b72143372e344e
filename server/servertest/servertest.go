// Package servertest starts a cuecard server on loopback for tests: a real
// SQLite store in a temporary directory, the default playbook, and, at
// cleanup, the shutdown in the server's order (sessions, sockets, store).
package servertest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// Options change the server a test gets; the zero value is the default
// server without speech recognition.
type Options struct {
	// Dir is the data directory; "" means a fresh tb.TempDir().
	Dir string
	// Transcriber recognizes speech; nil for none.
	Transcriber stream.Transcriber
	// Playbook coaches the calls; nil for the default one.
	Playbook *coach.Playbook
	// Edit changes the configuration (from server.DefaultConfig).
	Edit func(*server.Config)
	// Store wraps the store the server uses (a slow store, say).
	Store func(*store.DB) server.SessionStore
	// Handler wraps the server's handler (extra test routes).
	Handler func(http.Handler) http.Handler
	// Listener wraps the listener (small socket buffers, counting).
	Listener func(net.Listener) net.Listener
}

// Server is a running test server. It has one administrator, whose API
// token Client and HTTP send; NewUser makes others.
type Server struct {
	Srv    *server.Server
	TS     *httptest.Server
	DB     *store.DB
	Dir    string
	URL    string
	Client *client.Client
	// Admin is the administrator and Token their API token (all scopes).
	Admin store.User
	Token string
	// HTTP sends the administrator's token on every request.
	HTTP *http.Client
}

// bearer adds a token to every request that has no Authorization.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// running maps the URL of each running test server to it, so that a test
// holding only a URL can act as that server's administrator (HTTPFor).
var running sync.Map

// HTTPFor returns the administrator's HTTP client of the running test
// server whose URL starts url, or http.DefaultClient (anonymous) if none.
func HTTPFor(url string) *http.Client {
	if s := serverFor(url); s != nil {
		return s.HTTP
	}
	return http.DefaultClient
}

// TokenFor returns the administrator's token of the running test server
// whose URL starts url, or "".
func TokenFor(url string) string {
	if s := serverFor(url); s != nil {
		return s.Token
	}
	return ""
}

func serverFor(url string) *Server {
	var s *Server
	running.Range(func(k, v any) bool {
		if strings.HasPrefix(url, k.(string)) {
			s = v.(*Server)
			return false
		}
		return true
	})
	return s
}

// HTTPClient returns an HTTP client that sends token on every request.
func HTTPClient(token string) *http.Client {
	return &http.Client{Transport: bearer{token, http.DefaultTransport}}
}

// NewUser creates a user with role, a member of team (as a rep, or as a
// coach when role is coach; none when team is ""), and returns the user
// and an API token holding every scope the role may.
func (s *Server) NewUser(tb testing.TB, email string, role auth.Role, team string) (store.User, string) {
	tb.Helper()
	ctx := context.Background()
	u, err := s.DB.CreateUser(ctx, store.User{Email: email, Name: strings.Split(email, "@")[0], Role: role}, "")
	if err != nil {
		tb.Fatal(err)
	}
	if team != "" {
		t, err := s.DB.TeamByName(ctx, team)
		if errors.Is(err, store.ErrNotFound) {
			t, err = s.DB.CreateTeam(ctx, team)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.DB.SetMember(ctx, t.ID, u.ID, auth.MemberRole(role)); err != nil {
			tb.Fatal(err)
		}
		if u, err = s.DB.GetUser(ctx, u.ID); err != nil {
			tb.Fatal(err)
		}
	}
	return u, s.NewToken(tb, u.ID, auth.RoleScopes(role)...)
}

// NewToken makes an API token for user with scopes.
func (s *Server) NewToken(tb testing.TB, userID string, scopes ...auth.Scope) string {
	tb.Helper()
	plain, t, err := auth.NewToken()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DB.CreateToken(context.Background(), store.APIToken{ID: t.ID, UserID: userID, Name: "test",
		Scopes: scopes, Hash: auth.HashSecret(t.Secret)}); err != nil {
		tb.Fatal(err)
	}
	return plain
}

// adminEmail is the test administrator's email.
const adminEmail = "admin@example.com"

// Start runs a server for opt and shuts it down when the test ends. A
// server on the Dir of one closed before restarts it (same data, same
// administrator, a new token).
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	dir := opt.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	pb := opt.Playbook
	if pb == nil {
		if pb, err = coach.DefaultPlaybook(); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := server.DefaultConfig()
	// Cheap password hashes: tests sign in often.
	cfg.PasswordParams = auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	// No caps: tests of the limits set their own.
	cfg.Limits = server.Limits{}
	if opt.Edit != nil {
		opt.Edit(&cfg)
	}
	var st server.SessionStore = db
	if opt.Store != nil {
		st = opt.Store(db)
	}
	srv := server.New(cfg, st, opt.Transcriber, pb, nil)
	h := srv.Handler()
	if opt.Handler != nil {
		h = opt.Handler(h)
	}
	ts := httptest.NewUnstartedServer(h)
	if opt.Listener != nil {
		ts.Listener = opt.Listener(ts.Listener)
	}
	ts.Start()
	s := &Server{Srv: srv, TS: ts, DB: db, Dir: dir, URL: ts.URL}
	tb.Cleanup(s.Close)
	if u, _, err := db.UserByEmail(context.Background(), adminEmail); err == nil {
		// A data directory used again (a restart): the same administrator.
		s.Admin, s.Token = u, s.NewToken(tb, u.ID, auth.RoleScopes(auth.RoleAdmin)...)
	} else {
		s.Admin, s.Token = s.NewUser(tb, adminEmail, auth.RoleAdmin, "")
	}
	s.Client = &client.Client{BaseURL: ts.URL, Token: s.Token}
	s.HTTP = HTTPClient(s.Token)
	running.Store(s.URL, s)
	return s
}

// Close shuts the server down: sessions end, sockets close, the store
// last. It may be called more than once.
func (s *Server) Close() {
	if s.TS == nil {
		return
	}
	running.Delete(s.URL)
	s.Srv.Shutdown()
	s.TS.CloseClientConnections()
	s.TS.Close()
	s.DB.Close()
	s.TS = nil
}

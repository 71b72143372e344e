// Package servertest starts a cuecard server on loopback for tests: a real
// SQLite store in a temporary directory, the default playbook, and, at
// cleanup, the shutdown in the server's order (sessions, sockets, store).
package servertest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

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

// Server is a running test server.
type Server struct {
	Srv    *server.Server
	TS     *httptest.Server
	DB     *store.DB
	Dir    string
	URL    string
	Client *client.Client
}

// Start runs a server for opt and shuts it down when the test ends.
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
	s := &Server{Srv: srv, TS: ts, DB: db, Dir: dir, URL: ts.URL, Client: &client.Client{BaseURL: ts.URL}}
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down: sessions end, sockets close, the store
// last. It may be called more than once.
func (s *Server) Close() {
	if s.TS == nil {
		return
	}
	s.Srv.Shutdown()
	s.TS.CloseClientConnections()
	s.TS.Close()
	s.DB.Close()
	s.TS = nil
}

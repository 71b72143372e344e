package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// Policy says who may call a route. Every route is registered with one, so
// a route cannot be added without deciding who may use it.
type Policy int

// The policies.
const (
	// Public routes need no credentials (health, sign-in, the UI's files;
	// the UI's pages redirect anonymous visitors to the sign-in page).
	Public Policy = iota
	// SignedIn routes need any user whose credential holds the route's
	// scope.
	SignedIn
	// SessionRead routes act on the session {id}, which the caller must be
	// allowed to see (else 404, so its existence stays private).
	SessionRead
	// SessionStream routes send the session {id}'s audio: its owner only
	// (403 for others who can see it, 404 for the rest).
	SessionStream
	// Admin routes need an administrator with the admin scope.
	Admin
)

func (p Policy) String() string {
	return [...]string{"public", "signed-in", "session-read", "session-stream", "admin"}[p]
}

// Route is one registered route and who may call it.
type Route struct {
	Pattern string // as given to http.ServeMux: "GET /v1/sessions/{id}"
	Policy  Policy
	Scope   auth.Scope // the credential must hold it ("" for Public)
}

// Routes lists the registered routes and their policies.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routeList...) }

// router registers routes with their policies.
type router struct {
	s   *Server
	mux *http.ServeMux
}

func (rt router) handle(pattern string, pol Policy, scope auth.Scope, h http.Handler) {
	route := Route{Pattern: pattern, Policy: pol, Scope: scope}
	rt.s.routeList = append(rt.s.routeList, route)
	if pol == Public {
		rt.mux.Handle(pattern, h)
		return
	}
	rt.mux.Handle(pattern, rt.s.guard(route, h))
}

func (rt router) handleFunc(pattern string, pol Policy, scope auth.Scope, h http.HandlerFunc) {
	rt.handle(pattern, pol, scope, h)
}

// guard authenticates a request and applies its route's policy before the
// handler runs.
func (s *Server) guard(rt Route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ctx, err := s.authenticate(r)
		if err != nil {
			s.httpError(w, r, err)
			return
		}
		r = r.WithContext(withAuth(ctx, a))
		if err := s.authorize(r, rt, a); err != nil {
			s.httpError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorize applies rt's policy to the authenticated request.
func (s *Server) authorize(r *http.Request, rt Route, a authInfo) error {
	p := a.p
	if p == nil {
		return ErrUnauthenticated
	}
	if p.Ingest != "" && rt.Policy != SessionStream {
		return fmt.Errorf("%w: an ingest token only streams its session", ErrForbidden)
	}
	if rt.Scope != "" && !p.Has(rt.Scope) {
		return fmt.Errorf("%w: the credential lacks the %s scope", ErrForbidden, rt.Scope)
	}
	if a.cookie && websocket.IsWebSocketUpgrade(r) && !s.sameOrigin(r) {
		return fmt.Errorf("%w: WebSocket from another origin", ErrForbidden)
	}
	switch rt.Policy {
	case Admin:
		if !p.IsAdmin() {
			return fmt.Errorf("%w: administrators only", ErrForbidden)
		}
	case SessionRead:
		_, err := s.readable(r.Context(), p, r.PathValue("id"))
		return err
	case SessionStream:
		return s.streamable(r.Context(), p, r.PathValue("id"))
	case Public, SignedIn:
	}
	return nil
}

// readable returns session id if p may see it; store.ErrNotFound if it
// does not exist or p may not see it.
func (s *Server) readable(ctx context.Context, p *auth.Principal, id string) (store.Session, error) {
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return ses, err
	}
	if !p.CanRead(resourceOf(ses)) {
		return store.Session{}, store.ErrNotFound
	}
	return ses, nil
}

// streamable fails unless p may send session id's audio.
func (s *Server) streamable(ctx context.Context, p *auth.Principal, id string) error {
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return err
	}
	res := resourceOf(ses)
	if p.Ingest != "" && p.Ingest != id {
		return store.ErrNotFound
	}
	if p.CanStream(res) {
		return nil
	}
	if p.CanRead(res) {
		return fmt.Errorf("%w: only the rep who owns a call streams it", ErrForbidden)
	}
	return store.ErrNotFound
}

func resourceOf(ses store.Session) auth.Resource {
	return auth.Resource{Owner: ses.Owner, Team: ses.Team}
}

// sameOrigin reports whether a browser request's Origin is this server's
// own or a configured one; a cookie-authenticated WebSocket needs it.
func (s *Server) sameOrigin(r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	return s.checkOrigin(r)
}

// protect wraps the whole handler: the Host header must name this server
// (against DNS rebinding), and cross-origin state-changing browser
// requests are refused (against CSRF).
func (s *Server) protect(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.cfg.AllowedOrigins {
		if o != "*" {
			if err := cop.AddTrustedOrigin(o); err != nil {
				s.log.Warn("allowed origin ignored", "origin", o, "err", err)
			}
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.httpError(w, r, fmt.Errorf("%w: cross-origin request refused", ErrForbidden))
	}))
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.httpError(w, r, fmt.Errorf("%w: %q", errHostNotAllowed, r.Host))
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// signInURL is where an anonymous visitor of page path goes.
func signInURL(path string) string {
	return "/signin?next=" + url.QueryEscape(path)
}

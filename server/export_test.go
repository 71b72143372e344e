package server

import "net/http"

// Authenticate exposes authentication to the tests: the principal's user
// id ("" when anonymous) or the error.
func (s *Server) Authenticate(r *http.Request) (string, error) {
	a, _, err := s.authenticate(r)
	if a.p == nil {
		return "", err
	}
	return a.p.UserID, err
}

// SafeNext exposes the check of the page a sign-in goes to next.
var SafeNext = safeNext

// Kill stops the server as a crash would: its live sessions stop without
// being finished, ended or released, and their sockets drop without a
// close frame. The cluster node, if any, is the caller's to close.
func (s *Server) Kill() {
	s.killed.Store(true)
	s.Shutdown()
}

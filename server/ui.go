package server

import (
	"net/http"
)

// ui serves the embedded browser UI; unknown paths under /sessions/ get
// the replay page, so links to a session work.
func (s *Server) ui() http.Handler {
	return http.FileServerFS(s.cfg.UI)
}

package server

import "net/http"

// oidcLogin signs users in through an OpenID Connect provider.
type oidcLogin struct{}

func (o *oidcLogin) handleLogin(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "single sign-on is not configured"})
}

func (o *oidcLogin) handleCallback(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "single sign-on is not configured"})
}

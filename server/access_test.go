package server_test

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/oidctest"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
)

// The people of the access matrix, in the order of its columns.
var actors = []string{"anon", "admin", "owner", "teammate", "coach", "other-coach", "other-rep"}

// access is one route's expected answer per actor: "ok" is any answer
// that is neither an authorization refusal (401, 403), nor a 404 (the
// fixture has everything each route looks for), nor a server error;
// "any" is anything but a server error; a number is that status.
var access = map[string]string{
	"GET /healthz":                            "any any any any any any any",
	"GET /metrics":                            "401 ok 403 403 403 403 403",
	"POST /v1/auth/login":                     "any any any any any any any",
	"POST /v1/auth/logout":                    "any any any any any any any",
	"POST /v1/auth/setup":                     "any any any any any any any",
	"GET /v1/auth/setup":                      "any any any any any any any",
	"GET /v1/me":                              "401 ok ok ok ok ok ok",
	"POST /v1/me/password":                    "401 ok ok ok ok ok ok",
	"GET /v1/users":                           "401 ok 403 403 403 403 403",
	"POST /v1/users":                          "401 ok 403 403 403 403 403",
	"PATCH /v1/users/{id}":                    "401 ok 403 403 403 403 403",
	"POST /v1/users/{id}/password":            "401 ok 403 403 403 403 403",
	"GET /v1/teams":                           "401 ok ok ok ok ok ok",
	"POST /v1/teams":                          "401 ok 403 403 403 403 403",
	"PUT /v1/teams/{id}/members/{user}":       "401 ok 403 403 403 403 403",
	"DELETE /v1/teams/{id}/members/{user}":    "401 ok 403 403 403 403 403",
	"GET /v1/tokens":                          "401 ok ok ok ok ok ok",
	"POST /v1/tokens":                         "401 ok 403 403 403 403 403",
	"DELETE /v1/tokens/{id}":                  "401 ok ok 404 404 404 404",
	"GET /v1/audit":                           "401 ok 403 403 403 403 403",
	"POST /v1/sessions":                       "401 ok ok ok ok ok ok",
	"GET /v1/sessions":                        "401 ok ok ok ok ok ok",
	"GET /v1/sessions/{id}":                   "401 ok ok 404 ok 404 404",
	"GET /v1/sessions/{id}/stream":            "401 403 ok 404 403 404 404",
	"GET /v1/sessions/{id}/events":            "401 ok ok 404 ok 404 404",
	"GET /v1/sessions/{id}/audio":             "401 ok ok 404 ok 404 404",
	"GET /v1/sessions/{id}/comments":          "401 ok ok 404 ok 404 404",
	"POST /v1/sessions/{id}/comments":         "401 ok ok 404 ok 404 404",
	"PATCH /v1/sessions/{id}/comments/{cid}":  "401 ok 403 404 ok 404 404",
	"DELETE /v1/sessions/{id}/comments/{cid}": "401 ok 403 404 ok 404 404",
	"GET /v1/playbook":                        "401 ok ok ok ok ok ok",
	"GET /v1/playbook/source":                 "401 ok ok ok ok ok ok",
	"POST /v1/playbook/check":                 "401 ok ok ok ok ok ok",
	"GET /v1/sessions/{id}/replay":            "401 ok ok 404 ok 404 404",
	"GET /v1/sessions/{id}/transcript":        "401 ok ok 404 ok 404 404",
	"GET /v1/reps":                            "401 ok ok ok ok ok ok",
	"POST /v1/uploads":                        "401 ok ok ok ok ok ok",
	"GET /v1/uploads/{id}":                    "401 ok ok 404 ok 404 404",
	"POST /v1/backtest":                       "401 ok ok ok ok ok ok",
	"POST /v1/sessions/{id}/webrtc":           "401 403 ok 404 403 404 404",
	"GET /v1/sessions/{id}/ice-servers":       "401 403 ok 404 403 404 404",
	"OPTIONS /v1/sessions/{id}/webrtc":        "204 204 204 204 204 204 204",
	"PATCH /v1/sessions/{id}/webrtc/{rid}":    "401 403 ok 404 403 404 404",
	"DELETE /v1/sessions/{id}/webrtc/{rid}":   "401 403 ok 404 403 404 404",
	"GET /sessions":                           "303 ok ok ok ok ok ok",
	"GET /sessions/{id}":                      "303 ok ok ok ok ok ok",
	"GET /":                                   "303 ok ok ok ok ok ok",
	"DELETE /v1/sessions/{id}":                "401 ok ok 404 403 404 404",
	"PUT /v1/sessions/{id}/hold":              "401 ok 403 403 403 403 403",
	"DELETE /v1/users/{id}/sessions":          "401 ok 403 403 403 403 403",
	"GET /v1/teams/{id}/policy":               "401 ok ok ok ok 404 404",
	"PUT /v1/teams/{id}/policy":               "401 ok 403 403 403 403 403",
	"GET /v1/retention":                       "401 ok 403 403 403 403 403",
	"POST /v1/retention/run":                  "401 ok 403 403 403 403 403",
	"GET /v1/auth/oidc/login":                 "303 303 303 303 303 303 303",
	"GET /v1/auth/oidc/callback":              "400 400 400 400 400 400 400",
	// The dialers authenticate with their signature before the upgrade
	// (configured in the fixture), whoever the Bearer token names; the rep
	// comes from the token parameter of the stream.
	"GET /v1/telephony/twilio": "401 401 401 401 401 401 401",
	"GET /v1/telephony/telnyx": "401 401 401 401 401 401 401",
	"GET /v1/telephony/plivo":  "401 401 401 401 401 401 401",
	"GET /v1/me/live":          "401 ok ok ok ok ok ok",
}

// matrix is the fixture: a call owned by a rep of team A, with a comment
// by team A's coach, recordings and a finished upload row; the actors'
// tokens; and the ids the route patterns name.
type matrix struct {
	srv    *servertest.Server
	tokens map[string]string
	users  map[string]store.User
	ses    string
	cid    string
	team   string
	tokID  string
	rid    string // the WHIP resource of the owner's peer, made on demand
}

func newMatrix(t *testing.T, rtc *server.WebRTC, oc *server.OIDCConfig) *matrix {
	t.Helper()
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
		c.UI, c.WebRTC, c.OIDC = webui.FS(""), rtc, oc
		c.Telephony = server.Telephony{TwilioAuthToken: "matrix", TelnyxStreamToken: "matrix", PlivoAuthToken: "matrix"}
	}})
	m := &matrix{srv: srv, tokens: map[string]string{"admin": srv.Token}, users: map[string]store.User{"admin": srv.Admin}}
	for _, a := range []struct {
		name, team string
		role       auth.Role
	}{
		{"owner", "A", auth.RoleRep}, {"teammate", "A", auth.RoleRep}, {"coach", "A", auth.RoleCoach},
		{"other-coach", "B", auth.RoleCoach}, {"other-rep", "B", auth.RoleRep},
	} {
		m.users[a.name], m.tokens[a.name] = srv.NewUser(t, a.name+"@example.com", a.role, a.team)
	}
	ctx := context.Background()
	ownerClient := *srv.Client
	ownerClient.Token = m.tokens["owner"]
	ses, err := ownerClient.CreateSession(ctx, clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	m.ses = ses.ID
	m.team = m.users["owner"].Teams[0].TeamID
	c, err := srv.DB.AddComment(ctx, m.ses, 1000, "a note", "coach", m.users["coach"].ID)
	if err != nil {
		t.Fatal(err)
	}
	m.cid = c.ID
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		path, err := srv.DB.RecordingPath(m.ses, sp, "wav")
		if err == nil {
			err = os.WriteFile(path, []byte("RIFF0000WAVE"), 0o600)
		}
		if err == nil {
			err = srv.DB.AddRecording(ctx, m.ses, sp, path, "audio/wav")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.DB.SetUpload(ctx, store.Upload{ID: m.ses, State: "done", TotalMS: 1000, DoneMS: 1000}); err != nil {
		t.Fatal(err)
	}
	// A second token of the owner's, to be revoked.
	spare := srv.NewToken(t, m.users["owner"].ID, auth.ScopeRead)
	tk, err := auth.ParseToken(spare)
	if err != nil {
		t.Fatal(err)
	}
	m.tokID = tk.ID
	return m
}

// request builds the request of route pattern for the fixture.
func (m *matrix) request(t *testing.T, pattern string) *http.Request {
	method, path, _ := strings.Cut(pattern, " ")
	id := m.ses
	switch {
	case strings.HasPrefix(path, "/v1/users/"):
		id = m.users["teammate"].ID
	case strings.HasPrefix(path, "/v1/teams/"):
		id = m.team
	case strings.HasPrefix(path, "/v1/tokens/"):
		id = m.tokID
	}
	if strings.Contains(path, "{rid}") && m.rid == "" {
		m.rid = m.whipResource(t)
	}
	path = strings.NewReplacer("{id}", id, "{cid}", m.cid, "{user}", m.users["teammate"].ID, "{rid}", m.rid).Replace(path)
	body := "{}"
	if method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete {
		body = ""
	}
	r, err := http.NewRequest(method, m.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// whipResource connects a WHIP peer as the owner of the call and returns
// its resource id.
func (m *matrix) whipResource(t *testing.T) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, m.srv.URL+"/v1/sessions/"+m.ses+"/webrtc", strings.NewReader(newRTCClient(t, coach.Rep).offer(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/sdp")
	r.Header.Set("Authorization", "Bearer "+m.tokens["owner"])
	resp, err := noRedirect.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(loc, "/webrtc/") {
		t.Fatalf("WHIP offer: %d, Location %q", resp.StatusCode, loc)
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

// TestAccessMatrix asks every registered route as every kind of user: the
// owner of a call, a rep and the coach of its team, a coach and a rep of
// another team, an administrator and nobody. A route without a row here
// fails the test, so no route is added without deciding who may use it.
func TestAccessMatrix(t *testing.T) {
	cfg := server.DefaultWebRTCConfig()
	cfg.UDPPort, cfg.ListenIP, cfg.IncludeLoopback = 0, "127.0.0.1", true
	rtc, err := server.NewWebRTC(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtc.Close() })
	// Single sign-on through a real provider: its routes are in the matrix.
	idp := oidctest.Start(t)
	oc := &server.OIDCConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		DefaultRole: auth.RoleRep}
	probe := newMatrix(t, rtc, oc)
	seen := map[string]bool{}
	for _, rt := range probe.srv.Srv.Routes() {
		seen[rt.Pattern] = true
		want, ok := access[rt.Pattern]
		if !ok {
			t.Errorf("route %q (%s) has no row in the access matrix", rt.Pattern, rt.Policy)
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			m := newMatrix(t, rtc, oc)
			for i, exp := range strings.Fields(want) {
				actor := actors[i]
				if strings.HasPrefix(rt.Pattern, "DELETE ") && i > 0 {
					m = newMatrix(t, rtc, oc) // what one actor deleted is there for the next
				}
				r := m.request(t, rt.Pattern)
				if actor != "anon" {
					r.Header.Set("Authorization", "Bearer "+m.tokens[actor])
				}
				resp, err := noRedirect.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if !accessMatches(exp, resp.StatusCode) {
					t.Errorf("%s: %d, want %s", actor, resp.StatusCode, exp)
				}
			}
		})
	}
	for pattern := range access {
		if !seen[pattern] && !optionalRoutes[pattern] {
			t.Errorf("the access matrix has a row for %q, which is not a route", pattern)
		}
	}
}

// optionalRoutes exist only when configured (single sign-on).
var optionalRoutes = map[string]bool{"GET /v1/auth/oidc/login": true, "GET /v1/auth/oidc/callback": true}

// noRedirect shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func accessMatches(exp string, code int) bool {
	switch exp {
	case "any":
		return code < 500
	case "ok":
		return code < 500 && code != 401 && code != 403 && code != 404
	}
	return exp == strconv.Itoa(code)
}

// clientCreate is a session request with consent.
func clientCreate() client.CreateRequest {
	return client.CreateRequest{Title: "a call", Consent: true, ConsentText: "this call is recorded for coaching"}
}

package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/internal/oidctest"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
)

// sso is a cuecard server with single sign-on through a real provider.
type sso struct {
	idp *oidctest.Provider
	srv *servertest.Server
}

// ada is the provider's user of the tests.
var ada = oidctest.User{Username: "ada", Password: "lovelace-1815", Subject: "u-ada", Email: "ada@example.com",
	Name: "Ada Lovelace", EmailVerified: true, Groups: []string{"sales-east"}}

// startSSO runs a provider with ada and a cuecard server signing in
// through it with the rules.
func startSSO(t *testing.T, edit func(*server.OIDCConfig), rules ...string) *sso {
	t.Helper()
	idp := oidctest.Start(t, ada)
	oc := server.OIDCConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret}
	for _, s := range rules {
		r, err := server.ParseOIDCRule(s)
		if err != nil {
			t.Fatal(err)
		}
		oc.Map = append(oc.Map, r)
	}
	if edit != nil {
		edit(&oc)
	}
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.UI, c.OIDC = webui.FS(""), &oc }})
	idp.AllowRedirect(srv.URL + "/v1/auth/oidc/callback")
	return &sso{idp: idp, srv: srv}
}

// browserClient is an HTTP client with cookies that follows redirects.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// signIn signs ada in from a fresh client and returns the client, the
// final status, URL and body.
func (s *sso) signIn(t *testing.T, next string) (*http.Client, int, *url.URL, string) {
	t.Helper()
	c := browserClient(t)
	code, u, body := s.idp.SignIn(t, c, s.srv.URL+"/v1/auth/oidc/login?next="+url.QueryEscape(next), ada.Username, ada.Password)
	return c, code, u, body
}

// me returns who c is signed in as.
func (s *sso) me(t *testing.T, c *http.Client) (int, store.User) {
	t.Helper()
	resp, err := c.Get(s.srv.URL + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u store.User
	json.NewDecoder(resp.Body).Decode(&u)
	return resp.StatusCode, u
}

// lastAudit returns the newest audit entry with action.
func (s *sso) lastAudit(t *testing.T, action string) store.AuditEntry {
	t.Helper()
	es, err := s.srv.DB.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil || len(es) == 0 {
		t.Fatalf("no %s in the audit log (%v)", action, err)
	}
	return es[len(es)-1]
}

func teamRoles(u store.User) map[string]auth.Role {
	m := map[string]auth.Role{}
	for _, t := range u.Teams {
		m[t.TeamName] = t.Role
	}
	return m
}

func TestOIDCSignIn(t *testing.T) {
	s := startSSO(t, nil, "sales-east=East:rep", "coaches=East:coach", "ops=admin")
	c, code, u, _ := s.signIn(t, "/v1/me?from=sso")
	if code != http.StatusOK || u.String() != s.srv.URL+"/v1/me?from=sso" {
		t.Fatalf("ended at %s (%d), want %s/v1/me?from=sso", u, code, s.srv.URL)
	}
	code, me := s.me(t, c)
	if code != http.StatusOK || me.Email != ada.Email || me.Name != ada.Name || me.Role != auth.RoleRep {
		t.Fatalf("/v1/me: %d %+v", code, me)
	}
	if got := teamRoles(me); len(got) != 1 || got["East"] != auth.RoleRep {
		t.Fatalf("teams %v, want East as rep", got)
	}
	e := s.lastAudit(t, "signin")
	if e.Target != me.ID || !strings.Contains(string(e.Detail), `"via":"oidc"`) {
		t.Errorf("signin audit entry %+v", e)
	}
	// A second sign-in finds the same user by its subject.
	c2, _, _, _ := s.signIn(t, "/")
	if _, again := s.me(t, c2); again.ID != me.ID {
		t.Errorf("second sign-in is user %s, want %s", again.ID, me.ID)
	}
}

// uiSSO reports what /ui-config.json of the server at base says of
// single sign-on.
func uiSSO(t *testing.T, base string) bool {
	t.Helper()
	resp, err := http.Get(base + "/ui-config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		SSO *bool `json:"sso"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || c.SSO == nil {
		t.Fatalf("ui-config without sso: %v", err)
	}
	return *c.SSO
}

func TestUIConfigSSO(t *testing.T) {
	on := startSSO(t, nil, "sales-east=East:rep")
	off := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.UI = webui.FS("") }})
	if !uiSSO(t, on.srv.URL) || uiSSO(t, off.URL) {
		t.Errorf("sso with single sign-on %v, without %v", uiSSO(t, on.srv.URL), uiSSO(t, off.URL))
	}
}

func TestOIDCMappingFollowsGroups(t *testing.T) {
	s := startSSO(t, nil, "sales-east=East:rep", "sales-west=West:rep", "coaches=East:coach", "ops=admin")
	s.idp.SetGroups(ada.Username, "sales-east", "sales-west")
	c, _, _, _ := s.signIn(t, "/")
	_, me := s.me(t, c)
	if got := teamRoles(me); me.Role != auth.RoleRep || got["East"] != auth.RoleRep || got["West"] != auth.RoleRep {
		t.Fatalf("first sign-in: role %s, teams %v", me.Role, got)
	}
	// A team the mapping does not name is the administrators' business.
	other, err := s.srv.DB.CreateTeam(context.Background(), "Partners")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.DB.SetMember(context.Background(), other.ID, me.ID, auth.RoleRep); err != nil {
		t.Fatal(err)
	}
	s.idp.SetGroups(ada.Username, "coaches")
	c, _, _, _ = s.signIn(t, "/")
	_, me = s.me(t, c)
	got := teamRoles(me)
	if me.Role != auth.RoleCoach || got["East"] != auth.RoleCoach || got["West"] != "" || got["Partners"] != auth.RoleRep {
		t.Fatalf("after the move to coaches: role %s, teams %v; want coach of East, still in Partners, out of West", me.Role, got)
	}
	s.idp.SetGroups(ada.Username, "ops", "coaches")
	c, _, _, _ = s.signIn(t, "/")
	if _, me = s.me(t, c); me.Role != auth.RoleAdmin {
		t.Fatalf("in ops: role %s, want admin", me.Role)
	}
}

func TestOIDCUnmappedGroupRefused(t *testing.T) {
	s := startSSO(t, nil, "sales-east=East:rep")
	s.idp.SetGroups(ada.Username, "marketing")
	c, code, _, body := s.signIn(t, "/")
	if code != http.StatusForbidden || !strings.Contains(body, "none of the groups") {
		t.Fatalf("unmapped user: %d %q", code, body)
	}
	if code, _ := s.me(t, c); code != http.StatusUnauthorized {
		t.Errorf("refused user: /v1/me %d, want 401", code)
	}
	if e := s.lastAudit(t, "signin.failed"); !strings.Contains(string(e.Detail), "no mapped group") {
		t.Errorf("audit entry %+v", e)
	}
	if _, err := s.srv.DB.UserByOIDC(context.Background(), s.idp.URL+"|"+ada.Subject); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused user was created: %v", err)
	}
}

func TestOIDCDiscoveryRetried(t *testing.T) {
	idp := oidctest.Start(t, ada)
	idp.SetDown(true)
	r, err := server.ParseOIDCRule("sales-east=East:rep")
	if err != nil {
		t.Fatal(err)
	}
	oc := server.OIDCConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, Map: []server.OIDCRule{r}}
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.OIDC = &oc }})
	idp.AllowRedirect(srv.URL + "/v1/auth/oidc/callback")
	resp, err := http.Get(srv.URL + "/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-in while the provider is down: %d, want 503", resp.StatusCode)
	}
	idp.SetDown(false)
	s := &sso{idp: idp, srv: srv}
	c, _, _, _ := s.signIn(t, "/v1/me")
	if code, me := s.me(t, c); code != http.StatusOK || me.Email != ada.Email {
		t.Fatalf("sign-in once the provider is back: /v1/me %d %+v", code, me)
	}
}

func TestOIDCDefaultRole(t *testing.T) {
	s := startSSO(t, func(c *server.OIDCConfig) { c.DefaultRole = auth.RoleRep }, "sales-east=East:rep")
	s.idp.SetGroups(ada.Username)
	c, code, _, _ := s.signIn(t, "/v1/me")
	if code != http.StatusOK {
		t.Fatalf("sign-in with the default role: %d", code)
	}
	if _, me := s.me(t, c); me.Role != auth.RoleRep || len(me.Teams) != 0 {
		t.Fatalf("default role user %+v", me)
	}
}

// startLogin opens the login route without following the redirect and
// returns the client (holding the pending sign-in cookie) and the
// authorization URL.
func (s *sso) startLogin(t *testing.T) (*http.Client, *url.URL) {
	t.Helper()
	c := browserClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(s.srv.URL + "/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request without PKCE, nonce or state: %s", loc)
	}
	c.CheckRedirect = nil
	return c, loc
}

func TestOIDCRefusesForgedCallbacks(t *testing.T) {
	s := startSSO(t, nil, "sales-east=East:rep")
	t.Run("state mismatch", func(t *testing.T) {
		c, _ := s.startLogin(t)
		resp, err := c.Get(s.srv.URL + "/v1/auth/oidc/callback?code=x&state=forged")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged state: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("no pending sign-in", func(t *testing.T) {
		_, loc := s.startLogin(t)
		resp, err := browserClient(t).Get(s.srv.URL + "/v1/auth/oidc/callback?code=x&state=" + loc.Query().Get("state"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback in another browser: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("nonce mismatch", func(t *testing.T) {
		s.idp.SetNonce("replayed")
		defer s.idp.SetNonce("")
		c, code, _, body := s.signIn(t, "/")
		if code != http.StatusForbidden {
			t.Fatalf("forged nonce: %d %q", code, body)
		}
		if code, _ := s.me(t, c); code != http.StatusUnauthorized {
			t.Errorf("forged nonce signed in: /v1/me %d", code)
		}
		if e := s.lastAudit(t, "signin.failed"); !strings.Contains(string(e.Detail), "nonce") {
			t.Errorf("audit entry %+v", e)
		}
	})
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/sessions?mine=1#top", "/sessions?mine=1#top"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"sessions", "/"},
		{"/a\r\nSet-Cookie: x", "/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := server.SafeNext(tc.in); got != tc.want {
				t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseOIDCRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want server.OIDCRule
		bad  bool
	}{
		{in: "sales=East:rep", want: server.OIDCRule{Group: "sales", Team: "East", Role: auth.RoleRep}},
		{in: "cn=coaches,ou=x=East Coast:coach", want: server.OIDCRule{Group: "cn=coaches,ou=x", Team: "East Coast", Role: auth.RoleCoach}},
		{in: "it-ops=admin", want: server.OIDCRule{Group: "it-ops", Role: auth.RoleAdmin}},
		{in: "g=Team: with colon:coach", want: server.OIDCRule{Group: "g", Team: "Team: with colon", Role: auth.RoleCoach}},
		{in: "sales=East:admin", bad: true},
		{in: "sales=East", bad: true},
		{in: "=East:rep", bad: true},
		{in: "sales", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := server.ParseOIDCRule(tc.in)
			if tc.bad != (err != nil) || !tc.bad && got != tc.want {
				t.Errorf("ParseOIDCRule(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}

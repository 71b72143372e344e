package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
)

// do sends one request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// withPassword gives a user a password.
func withPassword(t *testing.T, srv *servertest.Server, userID, pw string) {
	t.Helper()
	hash, err := auth.HashPassword(pw, auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.SetPassword(context.Background(), userID, hash); err != nil {
		t.Fatal(err)
	}
}

func TestFirstStartSetupLink(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := server.New(server.DefaultConfig(), db, nil, nil, nil)
	t.Cleanup(srv.Shutdown)
	ts := newHTTPTest(t, srv.Handler())
	secret, err := srv.PrepareSetup(context.Background())
	if err != nil || secret == "" {
		t.Fatalf("setup secret %q, %v", secret, err)
	}
	b := browser(t)
	if code, body := do(t, b, "GET", ts+"/v1/auth/setup", ""); code != 200 || !strings.Contains(body, `"open":true`) {
		t.Fatalf("setup state: %d %s", code, body)
	}
	req := `{"token":"%s","email":"Boss@Example.com","name":"Boss","password":"correct horse battery"}`
	if code, _ := do(t, b, "POST", ts+"/v1/auth/setup", strings.Replace(req, "%s", "wrong", 1)); code != 403 {
		t.Fatalf("setup with a wrong secret: %d, want 403", code)
	}
	if code, body := do(t, b, "POST", ts+"/v1/auth/setup", strings.Replace(req, "%s", secret, 1)); code != 201 {
		t.Fatalf("setup: %d %s", code, body)
	}
	if code, body := do(t, b, "GET", ts+"/v1/me", ""); code != 200 || !strings.Contains(body, `"role":"admin"`) || !strings.Contains(body, "boss@example.com") {
		t.Fatalf("me after setup: %d %s", code, body)
	}
	if code, _ := do(t, browser(t), "POST", ts+"/v1/auth/setup", strings.Replace(req, "%s", secret, 1)); code != 403 {
		t.Fatalf("second setup with the same link: %d, want 403", code)
	}
	if again, err := srv.PrepareSetup(context.Background()); err != nil || again != "" {
		t.Fatalf("setup offered again once a user exists: %q %v", again, err)
	}
}

func TestSignInCookieAndSignOut(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	u, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "A")
	withPassword(t, srv, u.ID, "a long enough password")
	b := browser(t)
	if code, _ := do(t, b, "GET", srv.URL+"/v1/me", ""); code != 401 {
		t.Fatalf("me before sign-in: %d, want 401", code)
	}
	if code, body := do(t, b, "POST", srv.URL+"/v1/auth/login", `{"email":"REP@example.com","password":"wrong password!"}`); code != 401 {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	r, _ := http.NewRequest("POST", srv.URL+"/v1/auth/login", strings.NewReader(`{"email":"rep@example.com","password":"a long enough password"}`))
	r.Header.Set("Content-Type", "application/json")
	resp, err := b.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cuecard_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", cookie)
	}
	if code, body := do(t, b, "GET", srv.URL+"/v1/me", ""); code != 200 || !strings.Contains(body, `"rep@example.com"`) {
		t.Fatalf("me: %d %s", code, body)
	}
	if code, _ := do(t, b, "POST", srv.URL+"/v1/auth/logout", ""); code != 204 {
		t.Fatalf("sign-out: %d", code)
	}
	stolen := browser(t)
	stolen.Jar.SetCookies(r.URL, []*http.Cookie{{Name: "cuecard_session", Value: cookie.Value}})
	if code, _ := do(t, stolen, "GET", srv.URL+"/v1/me", ""); code != 401 {
		t.Fatalf("the signed-out session's cookie still works: %d", code)
	}
	audit := auditActions(t, srv)
	for _, a := range []string{"signin.failed", "signin", "signout"} {
		if !strings.Contains(audit, `"action":"`+a+`"`) {
			t.Errorf("audit log lacks %s:\n%s", a, audit)
		}
	}
}

func auditActions(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	code, body := do(t, srv.HTTP, "GET", srv.URL+"/v1/audit", "")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	return body
}

func TestSignInRateLimited(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
		c.SignInEvery, c.SignInBurst = time.Hour, 3
	}})
	b := browser(t)
	codes := []int{}
	for range 5 {
		code, _ := do(t, b, "POST", srv.URL+"/v1/auth/login", `{"email":"nobody@example.com","password":"guess guess guess"}`)
		codes = append(codes, code)
	}
	if codes[2] != 401 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("sign-in answers %v: want three 401 then 429", codes)
	}
}

func TestSessionsBelongToTheirRep(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	_, repA := srv.NewUser(t, "a@example.com", auth.RoleRep, "A")
	_, repB := srv.NewUser(t, "b@example.com", auth.RoleRep, "B")
	_, coachA := srv.NewUser(t, "coach@example.com", auth.RoleCoach, "A")
	mine := map[string]string{}
	for name, tok := range map[string]string{"a": repA, "b": repB} {
		cl := client.Client{BaseURL: srv.URL, Token: tok}
		s, err := cl.CreateSession(ctx, clientCreate())
		if err != nil {
			t.Fatal(err)
		}
		mine[name] = s.ID
	}
	list := func(tok string) string {
		_, body := do(t, servertest.HTTPClient(tok), "GET", srv.URL+"/v1/sessions", "")
		return body
	}
	if l := list(repA); !strings.Contains(l, mine["a"]) || strings.Contains(l, mine["b"]) {
		t.Errorf("rep A's list: %s", l)
	}
	if l := list(coachA); !strings.Contains(l, mine["a"]) || strings.Contains(l, mine["b"]) {
		t.Errorf("coach of A's list: %s", l)
	}
	if l := list(srv.Token); !strings.Contains(l, mine["a"]) || !strings.Contains(l, mine["b"]) {
		t.Errorf("admin's list: %s", l)
	}
	if code, _ := do(t, servertest.HTTPClient(repA), "POST", srv.URL+"/v1/sessions", `{"team":"B","consent":true}`); code != 403 {
		t.Errorf("rep A starting a call in team B: %d, want 403", code)
	}
	if code, _ := do(t, servertest.HTTPClient(repA), "POST", srv.URL+"/v1/sessions", `{"rep":"someone else","consent":true}`); code != 400 {
		t.Errorf("rep A starting a call as someone else: %d, want 400", code)
	}
}

// TestLiveCallCannotBeHijacked: another user who knows a live call's id
// can neither take over its audio nor stop it.
func TestLiveCallCannotBeHijacked(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	_, owner := srv.NewUser(t, "owner@example.com", auth.RoleRep, "A")
	_, coach := srv.NewUser(t, "coach@example.com", auth.RoleCoach, "A")
	_, outsider := srv.NewUser(t, "x@example.com", auth.RoleRep, "B")
	oc := &client.Client{BaseURL: srv.URL, Token: owner}
	s, err := oc.CreateSession(ctx, clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := oc.Dial(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.BinaryMessage, make([]byte, 641)); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"anonymous": "", "coach": coach, "outsider": outsider, "admin": srv.Token} {
		c := &client.Client{BaseURL: srv.URL, Token: tok}
		_, err := c.Dial(ctx, s.ID)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status < 401 || ae.Status > 404 {
			t.Errorf("%s took over the call's audio: %v", name, err)
		}
	}
	var it struct {
		IngestToken string `json:"ingest_token"`
	}
	_, body := do(t, servertest.HTTPClient(owner), "POST", srv.URL+"/v1/sessions", `{"consent":true,"consent_text":"recorded"}`)
	json.Unmarshal([]byte(body), &it)
	if _, err := (&client.Client{BaseURL: srv.URL, Token: it.IngestToken}).Dial(ctx, s.ID); err == nil {
		t.Error("another session's ingest token streams this one")
	}
	if code, _ := do(t, servertest.HTTPClient(it.IngestToken), "GET", srv.URL+"/v1/sessions", ""); code != 403 {
		t.Errorf("an ingest token lists sessions: %d, want 403", code)
	}
	// The owner's stream is still the one attached.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteJSON(map[string]string{"type": "stop"}); err != nil {
		t.Fatalf("owner's socket broken by the attempts: %v", err)
	}
}

func TestTokenScopesRevocationAndExpiry(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	u, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "A")
	readOnly := srv.NewToken(t, u.ID, auth.ScopeRead)
	if code, _ := do(t, servertest.HTTPClient(readOnly), "POST", srv.URL+"/v1/sessions", `{"consent":true}`); code != 403 {
		t.Errorf("a read-only token starts a call: %d", code)
	}
	if code, _ := do(t, servertest.HTTPClient(readOnly), "GET", srv.URL+"/v1/sessions", ""); code != 200 {
		t.Errorf("a read token cannot list: %d", code)
	}
	adminScope := srv.NewToken(t, u.ID, auth.ScopeAdmin, auth.ScopeRead)
	if code, _ := do(t, servertest.HTTPClient(adminScope), "GET", srv.URL+"/v1/users", ""); code != 403 {
		t.Errorf("a rep's token claiming the admin scope lists users: %d", code)
	}
	toks, err := srv.DB.ListTokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if err := srv.DB.RevokeToken(ctx, tk.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := do(t, servertest.HTTPClient(readOnly), "GET", srv.URL+"/v1/sessions", ""); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("a revoked token: %d %s", code, body)
	}
	plain, tk, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB.CreateToken(ctx, store.APIToken{ID: tk.ID, UserID: u.ID, Scopes: []auth.Scope{auth.ScopeRead},
		Hash: auth.HashSecret(tk.Secret), ExpiresAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, servertest.HTTPClient(plain), "GET", srv.URL+"/v1/sessions", ""); code != 401 || !strings.Contains(body, "expired") {
		t.Errorf("an expired token: %d %s", code, body)
	}
	for _, bad := range []string{"cc_x", "Basic abc", "Bearer", "Bearer cc_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 43)} {
		r, _ := http.NewRequest("GET", srv.URL+"/v1/sessions", nil)
		r.Header.Set("Authorization", bad)
		if !strings.HasPrefix(bad, "Basic") && !strings.HasPrefix(bad, "Bearer") {
			r.Header.Set("Authorization", "Bearer "+bad)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", bad, resp.StatusCode)
		}
	}
}

// TestBrowserProtections: a rebinding Host, a cross-origin form post and a
// cross-origin WebSocket with the victim's cookie are refused.
func TestBrowserProtections(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	u, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "A")
	withPassword(t, srv, u.ID, "a long enough password")
	b := browser(t)
	if code, _ := do(t, b, "POST", srv.URL+"/v1/auth/login", `{"email":"rep@example.com","password":"a long enough password"}`); code != 200 {
		t.Fatalf("sign-in: %d", code)
	}
	if code, _ := do(t, b, "GET", srv.URL+"/v1/me", "", "Host", "rebind.evil.example"); code != 421 {
		t.Errorf("rebinding Host: %d, want 421", code)
	}
	if code, _ := do(t, b, "GET", srv.URL+"/healthz", "", "Host", "localhost:1234"); code != 200 {
		t.Errorf("loopback Host: %d, want 200", code)
	}
	if code, _ := do(t, b, "POST", srv.URL+"/v1/sessions", `{"consent":true}`, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("cross-origin POST with the cookie: %d, want 403", code)
	}
	r, _ := http.NewRequest("POST", srv.URL+"/v1/sessions", strings.NewReader(`{"consent":true}`))
	r.Header.Set("Content-Type", "text/plain")
	resp, err := b.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("a text/plain JSON body: %d, want 415", resp.StatusCode)
	}
	code, body := do(t, b, "POST", srv.URL+"/v1/sessions", `{"consent":true,"consent_text":"recorded"}`, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin")
	if code != 201 {
		t.Fatalf("same-origin POST: %d %s", code, body)
	}
	var s struct{ ID string }
	json.Unmarshal([]byte(body), &s)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sessions/" + s.ID + "/events"
	cookies := b.Jar.Cookies(r.URL)
	hdr := http.Header{}
	for _, c := range cookies {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	dial := func() (int, error) {
		conn, resp, err := websocket.DefaultDialer.Dial(ws, hdr)
		if resp != nil {
			resp.Body.Close()
		}
		if conn != nil {
			conn.Close()
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	if code, err := dial(); err == nil || code != 403 {
		t.Errorf("a cookie WebSocket without Origin: %d %v", code, err)
	}
	hdr.Set("Origin", "https://evil.example")
	if _, err := dial(); err == nil {
		t.Error("a cookie WebSocket from another origin was accepted")
	}
	hdr.Set("Origin", srv.URL)
	if _, err := dial(); err != nil {
		t.Fatalf("same-origin cookie WebSocket: %v", err)
	}
}

func TestCommentsCarryTheirAuthor(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	_, owner := srv.NewUser(t, "owner@example.com", auth.RoleRep, "A")
	_, coach := srv.NewUser(t, "coach@example.com", auth.RoleCoach, "A")
	s, err := (&client.Client{BaseURL: srv.URL, Token: owner}).CreateSession(ctx, clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/v1/sessions/" + s.ID + "/comments"
	if code, _ := do(t, servertest.HTTPClient(coach), "POST", url, `{"at_ms":10,"text":"good","author":"the CEO"}`); code != 400 {
		t.Errorf("a comment signed with another name: %d, want 400", code)
	}
	code, body := do(t, servertest.HTTPClient(coach), "POST", url, `{"at_ms":10,"text":"good"}`)
	if code != 201 || !strings.Contains(body, `"author":"coach"`) {
		t.Fatalf("comment: %d %s", code, body)
	}
	var c struct{ ID string }
	json.Unmarshal([]byte(body), &c)
	if code, _ := do(t, servertest.HTTPClient(owner), "PATCH", url+"/"+c.ID, `{"text":"bad"}`); code != 403 {
		t.Errorf("the rep edits the coach's comment: %d, want 403", code)
	}
	if code, _ := do(t, servertest.HTTPClient(coach), "PATCH", url+"/"+c.ID, `{"text":"great"}`); code != 200 {
		t.Errorf("the author edits their comment: %d", code)
	}
	if code, _ := do(t, srv.HTTP, "DELETE", url+"/"+c.ID, ""); code != 204 {
		t.Errorf("an admin deletes a comment: %d", code)
	}
}

// newHTTPTest serves h on loopback until the test ends and returns its URL.
func newHTTPTest(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

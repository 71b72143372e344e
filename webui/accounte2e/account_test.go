package accounte2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// signInForm fills the sign-in page's form and submits it.
func signInForm(tb testing.TB, ctx context.Context, email, password string) {
	tb.Helper()
	waitJS(tb, ctx, "the sign-in page", `location.pathname === "/signin" && document.body.dataset.ready === "true"`)
	eval[bool](tb, ctx, `(() => { document.querySelector('#email').value = ""; document.querySelector('#password').value = ""; return true; })()`)
	do(tb, ctx,
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`#signin-btn`)))
}

// TestSignInOverlaySignOut: an anonymous visitor is sent to the sign-in
// page, a wrong password is refused in words, the right one goes on to
// the page asked for; the overlay calls as the signed-in rep; signing out
// ends the session; an off-site "next" is not followed.
func TestSignInOverlaySignOut(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	newUser(t, ts, "ana@example.com", auth.RoleRep, "Sales")
	ctx := browser(t)
	base := ts.URL

	do(t, ctx, chromedp.Navigate(base+"/sessions?rep=x"))
	waitJS(t, ctx, "the sign-in page", `location.pathname === "/signin"`)
	if next := eval[string](t, ctx, `new URLSearchParams(location.search).get("next")`); next != "/sessions?rep=x" {
		t.Fatalf("next = %q", next)
	}
	signInForm(t, ctx, "ana@example.com", "not the password")
	waitJS(t, ctx, "the error", `!document.querySelector('#signin-error').hidden && document.querySelector('#signin-error').textContent.includes("wrong")`)
	signInForm(t, ctx, "ana@example.com", browsertest.Password)
	waitJS(t, ctx, "the library", `location.pathname === "/sessions" && location.search === "?rep=x" && document.body.dataset.user === "ana@example.com"`)
	menu := eval[string](t, ctx, `document.querySelector('#user-menu').innerText`)
	for _, want := range []string{"ana", "Rep", "Overlay", "Calls", "My account", "Sign out"} {
		if !strings.Contains(menu, want) {
			t.Errorf("user menu %q lacks %q", menu, want)
		}
	}
	if strings.Contains(menu, "Admin") {
		t.Errorf("a rep's menu links to the admin page: %q", menu)
	}

	do(t, ctx, chromedp.Navigate(base+"/"))
	waitJS(t, ctx, "the overlay as ana", `document.querySelector('#rep-name').textContent === "ana" && document.body.dataset.user === "ana@example.com"`)
	if eval[bool](t, ctx, `!!document.querySelector('#rep')`) {
		t.Error("the overlay still asks for the rep's name")
	}

	do(t, ctx, chromedp.Click(chromedp.CSS(`#signout`)))
	waitJS(t, ctx, "the sign-in page after signing out", `location.pathname === "/signin"`)
	do(t, ctx, chromedp.Navigate(base+"/"))
	waitJS(t, ctx, "the sign-in page again", `location.pathname === "/signin"`)

	do(t, ctx, chromedp.Navigate(base+"/signin?next=//evil.example/x"))
	signInForm(t, ctx, "ana@example.com", browsertest.Password)
	waitJS(t, ctx, "the overlay, not the other site", `location.origin === "`+base+`" && location.pathname === "/" && document.body.dataset.user === "ana@example.com"`)
}

// TestSetupLink: on a fresh server the one-time link creates the first
// administrator, who lands signed in on the overlay; the link works once.
func TestSetupLink(t *testing.T) {
	need(t)
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := coach.DefaultPlaybook()
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.UI = webui.FS("")
	cfg.PasswordParams = auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg.Limits = server.Limits{}
	srv := server.New(cfg, db, nil, pb, nil)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Shutdown()
		hs.CloseClientConnections()
		hs.Close()
		db.Close()
	})
	secret, err := srv.PrepareSetup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bctx := browser(t)

	do(t, bctx, chromedp.Navigate(hs.URL+"/"))
	waitJS(t, bctx, "the sign-in page with the set-up note", `location.pathname === "/signin" && !document.querySelector('#setup-note').hidden`)

	fill := func(token string) {
		t.Helper()
		do(t, bctx, chromedp.Navigate(hs.URL+"/setup?token="+token))
		waitJS(t, bctx, "the set-up page", `document.body.dataset.ready === "true"`)
		do(t, bctx,
			chromedp.SendKeys(chromedp.CSS(`#name`), "Ada Admin"),
			chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
			chromedp.SendKeys(chromedp.CSS(`#password`), browsertest.Password),
			chromedp.SendKeys(chromedp.CSS(`#password2`), browsertest.Password),
			chromedp.Click(chromedp.CSS(`#setup-btn`)))
	}
	fill("not-the-secret")
	waitJS(t, bctx, "the refusal", `!document.querySelector('#setup-error').hidden`)
	if n, err := db.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("users after a wrong link: %d, %v", n, err)
	}
	fill(secret)
	waitJS(t, bctx, "the overlay, signed in", `location.pathname === "/" && document.body.dataset.user === "ada@example.com"`)
	u, _, err := db.UserByEmail(ctx, "ada@example.com")
	if err != nil || u.Role != auth.RoleAdmin || u.Name != "Ada Admin" {
		t.Fatalf("first user %+v, %v", u, err)
	}
	if !strings.Contains(eval[string](t, bctx, `document.querySelector('#user-menu').innerText`), "Admin") {
		t.Error("the administrator's menu has no admin link")
	}
	do(t, bctx, chromedp.Navigate(hs.URL+"/setup?token="+secret))
	waitJS(t, bctx, "the closed set-up", `document.body.dataset.ready === "true" && !document.querySelector('#setup-closed').hidden`)
}

// TestAdminCreatesTeamAndUser: the admin page makes a team, then a coach
// of it with a password, who can then sign in.
func TestAdminCreatesTeamAndUser(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	ctx := browser(t)
	browsertest.SignIn(t, ctx, ts.URL, ts.Admin.Email, "/admin")
	waitJS(t, ctx, "the admin page", `location.pathname === "/admin" && document.body.dataset.ready === "true"`)

	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#t-name`), "Field"), chromedp.Click(chromedp.CSS(`#team-form button[type=submit]`)))
	waitJS(t, ctx, "the new team", `!!document.querySelector('section.team[data-team="Field"]') && [...document.querySelectorAll('#u-team option')].some(o => o.text === "Field")`)

	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#u-email`), "cora@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#u-name`), "Cora Coach"),
		chromedp.SetValue(chromedp.CSS(`#u-role`), "coach"),
		chromedp.SendKeys(chromedp.CSS(`#u-password`), browsertest.Password))
	eval[bool](t, ctx, `(() => { const s = document.querySelector('#u-team'); s.value = [...s.options].find(o => o.text === "Field").value; return true; })()`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`#u-team-role`), "coach"), chromedp.Click(chromedp.CSS(`#user-form button[type=submit]`)))
	waitJS(t, ctx, "the new user", `!!document.querySelector('#users tr[data-email="cora@example.com"]')`)

	u, _, err := ts.DB.UserByEmail(context.Background(), "cora@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err = ts.DB.GetUser(context.Background(), u.ID)
	if err != nil || u.Role != auth.RoleCoach || len(u.Teams) != 1 || u.Teams[0].TeamName != "Field" || u.Teams[0].Role != auth.RoleCoach {
		t.Fatalf("user %+v, %v", u, err)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#a-action`), "user.create"), chromedp.Click(chromedp.CSS(`#audit-form button[type=submit]`)))
	waitJS(t, ctx, "the audit entry", `[...document.querySelectorAll('#audit tbody tr')].some(tr => tr.textContent.includes("user.create"))`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#ret-dry`)))
	waitJS(t, ctx, "the retention dry run", `document.querySelector('#ret-out').textContent.includes("Dry run")`)

	other := browser(t)
	browsertest.SignIn(t, other, ts.URL, "cora@example.com", "/account")
	waitJS(t, other, "cora's account", `document.body.dataset.ready === "true" && document.querySelector('#me-info').textContent.includes("Field (coach)")`)
}

// TestLibraryShowsTeamCallsToCoach: a coach sees the calls of their team
// in the library (without an erase button: not theirs); a rep of another
// team sees none of them.
func TestLibraryShowsTeamCallsToCoach(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	ana := newUser(t, ts, "ana@example.com", auth.RoleRep, "East")
	newUser(t, ts, "cora@example.com", auth.RoleCoach, "East")
	newUser(t, ts, "bo@example.com", auth.RoleRep, "West")
	ses := endedCall(t, ts.DB, ana, "East", "East discovery")
	row := `#sessions tbody tr[data-id="` + ses.ID + `"]`

	coachTab := browser(t)
	browsertest.SignIn(t, coachTab, ts.URL, "cora@example.com", "/sessions")
	waitJS(t, coachTab, "the call in the coach's library", `document.body.dataset.ready === "true" && !!document.querySelector('`+row+`')`)
	if eval[bool](t, coachTab, `!!document.querySelector('`+row+` button.erase')`) {
		t.Error("a coach is offered to erase a rep's call")
	}
	if !eval[bool](t, coachTab, `[...document.querySelectorAll('#f-team option')].some(o => o.text === "East")`) {
		t.Error("no team filter for East")
	}

	repTab := browser(t)
	browsertest.SignIn(t, repTab, ts.URL, "bo@example.com", "/sessions")
	waitJS(t, repTab, "the other rep's library", `document.body.dataset.ready === "true"`)
	if n := eval[int](t, repTab, `document.querySelectorAll('#sessions tbody tr').length`); n != 0 {
		t.Fatalf("a rep of another team sees %d calls", n)
	}
	do(t, repTab, chromedp.Navigate(ts.URL+"/sessions/"+ses.ID))
	waitJS(t, repTab, "the replay refused", `!document.querySelector('#load-error').hidden`)

	ownerTab := browser(t)
	browsertest.SignIn(t, ownerTab, ts.URL, "ana@example.com", "/sessions")
	waitJS(t, ownerTab, "the owner's erase button", `document.body.dataset.ready === "true" && !!document.querySelector('`+row+` button.erase')`)
	do(t, ownerTab, chromedp.Click(chromedp.CSS(row+` button.erase`)))
	waitJS(t, ownerTab, "the confirm dialog", `document.querySelector('#erase-dialog').open`)
	do(t, ownerTab, chromedp.Click(chromedp.CSS(`#erase-confirm`)))
	waitJS(t, ownerTab, "the call erased", `!document.querySelector('`+row+`') && document.querySelector('#list-status').textContent.includes("Erased")`)
	if _, err := ts.DB.GetSession(context.Background(), ses.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("erased session still there: %v", err)
	}
}

// TestMyTokens: "my account" makes a token, shows it once, and revokes it.
func TestMyTokens(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	newUser(t, ts, "ana@example.com", auth.RoleRep, "Sales")
	ctx := browser(t)
	browsertest.SignIn(t, ctx, ts.URL, "ana@example.com", "/account")
	waitJS(t, ctx, "my account", `document.body.dataset.ready === "true"`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#tok-name`), "laptop"), chromedp.Click(chromedp.CSS(`#tok-form button[type=submit]`)))
	waitJS(t, ctx, "the new token", `!!document.querySelector('#token-value') && [...document.querySelectorAll('#tokens tbody tr')].some(tr => tr.textContent.includes("laptop"))`)
	plain := eval[string](t, ctx, `document.querySelector('#token-value').textContent`)
	if _, err := auth.ParseToken(plain); err != nil {
		t.Fatalf("token shown %q: %v", plain, err)
	}
	do(t, ctx, chromedp.Reload())
	waitJS(t, ctx, "my account again", `document.body.dataset.ready === "true" && [...document.querySelectorAll('#tokens tbody tr')].some(tr => tr.textContent.includes("laptop"))`)
	if eval[bool](t, ctx, `document.body.innerText.includes(`+strconv.Quote(plain)+`)`) {
		t.Fatal("the token is shown again")
	}
	// Revoking asks first (confirm); the test accepts.
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	const laptop = `[...document.querySelectorAll('#tokens tbody tr')].find(tr => tr.textContent.includes("laptop"))`
	eval[bool](t, ctx, `(`+laptop+`.querySelector('button.revoke').click(), true)`)
	waitJS(t, ctx, "the token revoked", laptop+`.textContent.includes("revoked")`)
	resp, err := servertest.HTTPClient(plain).Get(ts.URL + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: HTTP %d", resp.StatusCode)
	}
}

// Package ssoe2e signs in through single sign-on in real headless
// Chromium: a real cuecard server and a real OpenID provider, both on
// loopback, the provider's login form filled in by the browser.
package ssoe2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/internal/oidctest"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

func browser(tb testing.TB) context.Context {
	tb.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browsertest.Options(tb)...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	tb.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

func do(tb testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatal(err)
	}
}

func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS waits until the JavaScript expression is true. It polls from
// here rather than in the page: the page navigates (to the provider and
// back) while the test waits, which ends a poll running inside it.
func waitJS(tb testing.TB, ctx context.Context, what, expr string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
			tb.Fatalf("waiting for %s (%s) at %s: %v", what, expr, href, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the page, which has no event for this
	}
}

// TestSingleSignOn opens a page while signed out, is sent to the sign-in
// page, follows its single sign-on button to the provider, signs in
// there, and comes back to the page signed in with the role and team its
// groups map to.
func TestSingleSignOn(t *testing.T) {
	browsertest.NeedChromium(t)
	idp, srv := start(t)
	ctx := browser(t)
	signInAt(t, ctx, idp, srv, "grace", "cobol-1959")
	waitJS(t, ctx, "the page asked for, signed in", `location.href === `+jsString(srv.URL+"/sessions"))

	var me store.User
	body := eval[string](t, ctx, `fetch("/v1/me").then(r => r.ok ? r.text() : "status " + r.status)`)
	if err := json.Unmarshal([]byte(body), &me); err != nil {
		t.Fatalf("/v1/me: %s", body)
	}
	if me.Email != "grace@example.com" || me.Name != "Grace Hopper" || me.Role != auth.RoleCoach ||
		len(me.Teams) != 1 || me.Teams[0].TeamName != "Field Sales" || me.Teams[0].Role != auth.RoleCoach {
		t.Fatalf("signed in as %+v, want Grace, coach of Field Sales", me)
	}
	if cookie := eval[string](t, ctx, `document.cookie`); strings.Contains(cookie, "cuecard_") {
		t.Errorf("session or sign-in cookie readable by scripts: %q", cookie)
	}
}

// TestSingleSignOnRefused signs in a user in no mapped group, who is told
// why and stays signed out.
func TestSingleSignOnRefused(t *testing.T) {
	browsertest.NeedChromium(t)
	idp, srv := start(t)
	ctx := browser(t)
	signInAt(t, ctx, idp, srv, "linus", "penguin-1991")
	waitJS(t, ctx, "the refusal", `!!document.querySelector("#reason") && location.origin === `+jsString(srv.URL))
	if msg := eval[string](t, ctx, `document.querySelector("#reason").textContent`); !strings.Contains(msg, "none of the groups") {
		t.Errorf("refusal says %q", msg)
	}
	if st := eval[int](t, ctx, `fetch("/v1/me").then(r => r.status)`); st != 401 {
		t.Errorf("refused user: /v1/me %d, want 401", st)
	}
}

// start runs a provider with grace (a sales coach) and linus (in no
// mapped group), and a cuecard server signing in through it.
func start(t *testing.T) (*oidctest.Provider, *servertest.Server) {
	t.Helper()
	idp := oidctest.Start(t,
		oidctest.User{Username: "grace", Password: "cobol-1959", Subject: "u-grace", Email: "grace@example.com",
			Name: "Grace Hopper", EmailVerified: true, Groups: []string{"staff", "sales-coaches"}},
		oidctest.User{Username: "linus", Password: "penguin-1991", Subject: "u-linus", Email: "linus@example.com",
			Name: "Linus", EmailVerified: true, Groups: []string{"kernel"}})
	oc := &server.OIDCConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret}
	for _, s := range []string{"sales-reps=Field Sales:rep", "sales-coaches=Field Sales:coach", "it=admin"} {
		r, err := server.ParseOIDCRule(s)
		if err != nil {
			t.Fatal(err)
		}
		oc.Map = append(oc.Map, r)
	}
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.UI, c.OIDC = webui.FS(""), oc }})
	idp.AllowRedirect(srv.URL + "/v1/auth/oidc/callback")
	return idp, srv
}

// signInAt opens a page while signed out, follows the sign-in page's
// single sign-on button and fills in the provider's login form.
func signInAt(t *testing.T, ctx context.Context, idp *oidctest.Provider, srv *servertest.Server, user, password string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(srv.URL+"/sessions"))
	waitJS(t, ctx, "the sign-in page's single sign-on button",
		`location.pathname === "/signin" && !!document.querySelector("#sso:not([hidden])")`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#sso`)))
	waitJS(t, ctx, "the provider's login form", `location.origin === `+jsString(idp.URL)+` && !!document.querySelector("#username")`)
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#username`), user),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`#submit`)))
}

// jsString quotes s as a JavaScript string.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

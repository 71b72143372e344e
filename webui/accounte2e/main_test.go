// Package accounte2e drives the account pages (sign-in, set-up, admin),
// the user menu and the access rules in real headless Chromium against a
// real cuecard server on loopback: who may see which call, and that a page
// of another origin cannot act with a signed-in user's cookie.
package accounte2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// need skips a test when Chromium is missing, and fails it in CI.
func need(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("chromium: %v", err)
		}
		tb.Skipf("chromium unavailable: %v", err)
	}
}

// startServer runs a server with the embedded UI; its administrator has
// browsertest.Password.
func startServer(tb testing.TB, opt servertest.Options) *servertest.Server {
	tb.Helper()
	edit := opt.Edit
	opt.Edit = func(cfg *server.Config) {
		cfg.UI = webui.FS("")
		if edit != nil {
			edit(cfg)
		}
	}
	ts := servertest.Start(tb, opt)
	browsertest.GivePassword(tb, ts.DB, ts.Admin.ID)
	return ts
}

// newUser makes a user with a password, in team (as rep, or coach for a coach).
func newUser(tb testing.TB, ts *servertest.Server, email string, role auth.Role, team string) store.User {
	tb.Helper()
	u, _ := ts.NewUser(tb, email, role, team)
	browsertest.GivePassword(tb, ts.DB, u.ID)
	return u
}

// browser starts headless Chromium and returns a tab, bounded in time.
func browser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(browsertest.Options(tb), chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func waitJS(tb testing.TB, ctx context.Context, what, expr string) {
	tb.Helper()
	browsertest.WaitJS(tb, ctx, what, expr, 20*time.Second)
}

func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.Fatalf("%s: %v", expr, err)
	}
	return v
}

func do(tb testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatal(err)
	}
}

// endedCall stores an ended call of owner in team.
func endedCall(tb testing.TB, db *store.DB, owner store.User, team, title string) store.Session {
	tb.Helper()
	ctx := context.Background()
	t, err := db.TeamByName(ctx, team)
	if err != nil {
		tb.Fatal(err)
	}
	ses, err := db.CreateSession(ctx, store.NewSession{Rep: owner.Name, Title: title, Owner: owner.ID, Team: t.ID,
		Consent: true, ConsentText: "Everyone knew.", CreatedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.EndSession(ctx, ses.ID, nil); err != nil {
		tb.Fatal(err)
	}
	return ses
}

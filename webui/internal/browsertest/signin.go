package browsertest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// Password is the password GivePassword sets.
const Password = "correct horse battery"

// GivePassword sets user's password to Password in db, so that a test can
// sign in as them through the sign-in page.
func GivePassword(tb testing.TB, db *store.DB, userID string) {
	tb.Helper()
	hash, err := auth.HashPassword(Password, auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.SetPassword(context.Background(), userID, hash); err != nil {
		tb.Fatal(err)
	}
}

// SignIn signs the browser in as email (with Password) through the
// sign-in page of the server at base, and waits until the page it goes to
// (next, a path) has loaded with the user menu.
func SignIn(tb testing.TB, ctx context.Context, base, email, next string) {
	tb.Helper()
	u := base + "/signin"
	if next != "" {
		u += "?next=" + next
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), Password),
		chromedp.Click(chromedp.CSS(`#signin-btn`)),
	); err != nil {
		tb.Fatalf("sign in as %s: %v", email, err)
	}
	WaitJS(tb, ctx, "the signed-in page", `document.body.dataset.user === `+strconv.Quote(email), 20*time.Second)
}

// WaitJS polls the JavaScript predicate expr until it is truthy, for at
// most d; it fails the test with what on timeout. A navigation while it
// polls (a form that submits, a redirect) starts the poll again on the
// new page.
func WaitJS(tb testing.TB, ctx context.Context, what, expr string, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(max(left, time.Millisecond)),
			chromedp.WithPollingInterval(50*time.Millisecond)))
		if err == nil {
			return
		}
		if !navigated(err) || left <= 0 || ctx.Err() != nil {
			tb.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
}

// navigated reports whether err is a page's JavaScript context going away.
func navigated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "navigated or closed") || strings.Contains(msg, "context was destroyed") ||
		strings.Contains(msg, "Cannot find context")
}

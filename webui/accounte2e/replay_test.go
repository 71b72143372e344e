package accounte2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// TestReplayConsentAndCommentRights: the replay shows the call's consent
// record; a coach sees the rep's comment with its author but may change
// only their own; an administrator may change any and sets a legal hold.
func TestReplayConsentAndCommentRights(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	ana := newUser(t, ts, "ana@example.com", auth.RoleRep, "East")
	newUser(t, ts, "cora@example.com", auth.RoleCoach, "East")
	ses := endedCall(t, ts.DB, ana, "East", "East discovery")
	ctx := context.Background()
	if _, err := ts.DB.AddComment(ctx, ses.ID, 1000, "ana's own note", ana.Name, ana.ID); err != nil {
		t.Fatal(err)
	}
	page := "/sessions/" + ses.ID
	comment := func(text string) string {
		return `[...document.querySelectorAll('#transcript li.comment')].find(li => li.textContent.includes("` + text + `"))`
	}

	coachTab := browser(t)
	browsertest.SignIn(t, coachTab, ts.URL, "cora@example.com", page)
	waitJS(t, coachTab, "the replay", `document.body.dataset.ready === "true" && !!(`+comment("ana's own note")+`)`)
	if rec := eval[string](t, coachTab, `document.querySelector('#consent-record').innerText`); !strings.Contains(rec, "Everyone knew.") {
		t.Errorf("consent record %q lacks the consent text", rec)
	}
	if eval[bool](t, coachTab, `!!(`+comment("ana's own note")+`).querySelector('button.edit')`) {
		t.Error("a coach may edit the rep's comment on the page")
	}
	if !eval[bool](t, coachTab, `document.querySelector('#hold-admin').hidden`) {
		t.Error("a coach is offered the legal hold")
	}
	do(t, coachTab,
		chromedp.SendKeys(chromedp.CSS(`#comment-text`), "coach's remark"),
		chromedp.Click(chromedp.CSS(`#comment-form button[type=submit]`)))
	waitJS(t, coachTab, "the coach's comment, editable", `!!(`+comment("coach's remark")+`) && !!(`+comment("coach's remark")+`).querySelector('button.edit') && (`+comment("coach's remark")+`).textContent.includes("cora")`)

	adminTab := browser(t)
	browsertest.SignIn(t, adminTab, ts.URL, ts.Admin.Email, page)
	waitJS(t, adminTab, "the admin's replay", `document.body.dataset.ready === "true" && !!(`+comment("ana's own note")+`)`)
	if !eval[bool](t, adminTab, `!!(`+comment("ana's own note")+`).querySelector('button.edit') && !!(`+comment("coach's remark")+`).querySelector('button.delete')`) {
		t.Error("an administrator may not change the comments on the page")
	}
	do(t, adminTab, chromedp.Click(chromedp.CSS(`#hold-toggle`)))
	waitJS(t, adminTab, "the legal hold", `document.querySelector('#hold-status').textContent.includes("Legal hold set")`)
	got, err := ts.DB.GetSession(ctx, ses.ID)
	if err != nil || !got.LegalHold {
		t.Fatalf("legal hold not stored: %+v, %v", got.LegalHold, err)
	}
}

package accounte2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// postLog remembers the POSTs that reached the server with a session
// cookie, and from which origin: proof that the browser did send them.
type postLog struct {
	mu    sync.Mutex
	posts []string
}

func (l *postLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("cuecard_session"); err == nil && r.Method == http.MethodPost {
			l.mu.Lock()
			l.posts = append(l.posts, r.Header.Get("Origin")+" "+r.URL.Path)
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (l *postLog) from(origin string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.posts {
		if strings.HasPrefix(p, origin+" ") {
			out = append(out, p)
		}
	}
	return out
}

// attackPage is a page of another origin that, with the victim's cookie,
// tries to add a comment, start a session and upload a call: by fetch
// (the CORS-safelisted kinds a page may send anywhere) and by plain form
// posts into frames.
const attackPage = `<!doctype html><html><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="c" method="post" action="%[1]s/v1/sessions/%[2]s/comments" target="f1" enctype="text/plain"><input name='{"at_ms":1,"text":"csrf form","x":"' value='"}'></form>
<form id="s" method="post" action="%[1]s/v1/sessions" target="f2"><input name="title" value="csrf form"><input name="consent" value="true"><input name="consent_text" value="x"></form>
<form id="u" method="post" action="%[1]s/v1/uploads" target="f3" enctype="multipart/form-data"><input name="consent" value="true"><input name="consent_text" value="x"><input type="file" name="stereo"></form>
<script>
(async () => {
  const T = %[1]q, S = %[2]q;
  const post = (path, body, type) => fetch(T + path, { method: "POST", mode: "no-cors", credentials: "include",
    headers: type ? { "Content-Type": type } : {}, body }).catch(() => {});
  await post("/v1/sessions/" + S + "/comments", JSON.stringify({ at_ms: 1000, text: "csrf fetch" }), "text/plain");
  await post("/v1/sessions", JSON.stringify({ title: "csrf fetch", consent: true, consent_text: "x", sample_rate: 16000 }), "text/plain");
  // One second of stereo 16 kHz silence, a valid WAV.
  const n = 16000 * 4, b = new DataView(new ArrayBuffer(44 + n));
  const str = (o, s) => [...s].forEach((c, i) => b.setUint8(o + i, c.charCodeAt(0)));
  str(0, "RIFF"); b.setUint32(4, 36 + n, true); str(8, "WAVEfmt "); b.setUint32(16, 16, true); b.setUint16(20, 1, true);
  b.setUint16(22, 2, true); b.setUint32(24, 16000, true); b.setUint32(28, 64000, true); b.setUint16(32, 4, true);
  b.setUint16(34, 16, true); str(36, "data"); b.setUint32(40, n, true);
  const fd = new FormData();
  fd.append("consent", "true"); fd.append("consent_text", "x"); fd.append("title", "csrf upload");
  fd.append("stereo", new Blob([b.buffer], { type: "audio/wav" }), "call.wav");
  await post("/v1/uploads", fd);
  for (const [form, frame] of [["c", "f1"], ["s", "f2"], ["u", "f3"]]) {
    await new Promise((done) => {
      document.querySelector('iframe[name="' + frame + '"]').addEventListener("load", done, { once: true });
      document.getElementById(form).submit();
    });
  }
  document.body.dataset.done = "true";
})();
</script></body></html>`

// TestCrossOriginWritesRefused: a page of another origin on the same host
// (same site, so the browser sends the SameSite=Lax cookie) cannot add
// comments, start sessions or upload calls as the signed-in victim, by
// fetch or by form; the same requests from the server's own pages work.
func TestCrossOriginWritesRefused(t *testing.T) {
	need(t)
	var log postLog
	ts := startServer(t, servertest.Options{Handler: log.wrap})
	ana := newUser(t, ts, "ana@example.com", auth.RoleRep, "Sales")
	ses := endedCall(t, ts.DB, ana, "Sales", "Victim's call")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, ts.URL, ses.ID)
	}))
	t.Cleanup(evil.Close)

	ctx := browser(t)
	browsertest.SignIn(t, ctx, ts.URL, "ana@example.com", "/sessions")
	do(t, ctx, chromedp.Navigate(evil.URL+"/"))
	waitJS(t, ctx, "the attack page to finish", `document.body.dataset.done === "true"`)

	sent := log.from(evil.URL)
	t.Logf("cross-origin POSTs that carried the cookie: %q", sent)
	if len(sent) < 6 {
		t.Fatalf("only %d of 6 cross-origin POSTs reached the server with the cookie: the test proves nothing", len(sent))
	}
	assertNothingWritten(t, ts.DB, ses.ID)

	// The control: the same session cookie works from the server's own page.
	do(t, ctx, chromedp.Navigate(ts.URL+"/sessions"))
	waitJS(t, ctx, "the library", `document.body.dataset.ready === "true"`)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/v1/sessions/`+ses.ID+`/comments", { method: "POST",
		headers: { "Content-Type": "application/json" }, body: JSON.stringify({ at_ms: 1000, text: "same origin" }) }).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusCreated {
		t.Fatalf("same-origin comment: HTTP %d", status)
	}
}

func assertNothingWritten(tb testing.TB, db *store.DB, sessionID string) {
	tb.Helper()
	ctx := context.Background()
	cs, err := db.Comments(ctx, sessionID)
	if err != nil {
		tb.Fatal(err)
	}
	if len(cs) != 0 {
		tb.Errorf("cross-origin comments stored: %+v", cs)
	}
	page, err := db.ListSessions(ctx, store.ListFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	if page.Total != 1 {
		for _, s := range page.Sessions {
			tb.Logf("session %s %q %s", s.ID, s.Title, s.Source)
		}
		tb.Errorf("%d sessions, want only the victim's call", page.Total)
	}
}

// Package replaye2e drives the coaches' pages (the session library and
// the replay) in real headless Chromium against a real cuecard server on
// loopback, with a synthesized call uploaded and analyzed for real.
package replaye2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// Shared by the tests: the synthesized call, the recognizer, and why
// either is missing.
var (
	env        *browsertest.Env
	callDir    string
	recognizer *sphinx.Recognizer
)

func TestMain(m *testing.M) {
	os.Exit(browsertest.Main(m, func(e *browsertest.Env) {
		env, callDir, recognizer = e, e.CallDir, e.Sphinx
	}))
}

// need skips a test when chromium, flite, sox or the speech model is
// missing, and fails it in CI, where they must be installed.
func need(tb testing.TB) {
	tb.Helper()
	env.Need(tb)
}

func artifacts(tb testing.TB) string { return browsertest.Artifacts(tb) }

// startServer runs a server with the embedded UI on loopback; its
// administrator has browsertest.Password.
func startServer(tb testing.TB) *servertest.Server {
	tb.Helper()
	ts := servertest.Start(tb, servertest.Options{Transcriber: recognizer, Edit: func(cfg *server.Config) {
		cfg.UI = webui.FS("")
	}})
	db := ts.DB
	browsertest.GivePassword(tb, db, ts.Admin.ID)
	// A few other calls so the library is not a list of one.
	ctx := context.Background()
	for i, rep := range []string{"Ana", "Ben", "Cleo"} {
		ses, err := db.CreateSession(ctx, store.NewSession{Rep: rep, Title: "Discovery call", CreatedAt: time.Now().Add(-time.Duration(i+1) * 24 * time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		sum := &coach.Summary{Metrics: coach.Metrics{DurationMS: int64(300000 * (i + 1)), RepShare: 0.3 + 0.15*float64(i),
			LongestRepMonologueMS: int64(20000 * (i + 1)), FurthestStage: []string{"discovery", "future", "commitment"}[i],
			CuesFired: 3 + i, CuesTaken: 2, Uptake: 2 / float64(3+i)}}
		if err := db.EndSession(ctx, ses.ID, sum); err != nil {
			tb.Fatal(err)
		}
	}
	return ts
}

// uploadCall uploads the synthesized stereo call and waits for its
// analysis; it returns the session id.
func uploadCall(tb testing.TB, ts *servertest.Server) string {
	tb.Helper()
	base := ts.URL
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("rep_name", "Dee")
	mw.WriteField("title", "Crew scheduling, first call")
	mw.WriteField("consent", "true")
	mw.WriteField("consent_text", "Everyone knew the call was recorded.")
	w, _ := mw.CreateFormFile("stereo", "stereo.wav")
	b, err := os.ReadFile(filepath.Join(callDir, "stereo.wav"))
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(b)
	mw.Close()
	resp, err := ts.HTTP.Post(base+"/v1/uploads", mw.FormDataContentType(), &body)
	if err != nil {
		tb.Fatal(err)
	}
	var out struct{ ID, Error string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("upload: %s %s", resp.Status, out.Error)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := ts.HTTP.Get(base + "/v1/uploads/" + out.ID)
		if err != nil {
			tb.Fatal(err)
		}
		var u store.Upload
		json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		switch {
		case u.State == store.UploadDone:
			return out.ID
		case u.State != store.UploadAnalyzing:
			tb.Fatalf("upload %+v", u)
		case time.Now().After(deadline):
			tb.Fatalf("upload still analyzing: %+v", u)
		}
		time.Sleep(50 * time.Millisecond) // polling the API, as the page does
	}
}

func browser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(browsertest.Options(tb),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1360, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	tb.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// waitJS waits until the JavaScript expression is true.
func waitJS(tb testing.TB, ctx context.Context, what, expr string) {
	tb.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second),
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		tb.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// eval evaluates a JavaScript expression.
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

func screenshot(tb testing.TB, ctx context.Context, path string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot %s", path)
}

// TestReplayInBrowser uploads a call, finds it in the library, and in the
// replay jumps by clicking a transcript line, adds a comment that survives
// a reload, and opens a cue's card.
func TestReplayInBrowser(t *testing.T) {
	need(t)
	ts := startServer(t)
	base := ts.URL
	id := uploadCall(t, ts)
	art := artifacts(t)
	ctx := browser(t)
	row := `tr[data-id="` + id + `"]`

	// The library lists the uploaded call with its metrics.
	browsertest.SignIn(t, ctx, base, ts.Admin.Email, "/sessions")
	waitJS(t, ctx, "the library", `document.body.dataset.ready === "true" && !!document.querySelector('`+row+` a')`)
	if rows := eval[int](t, ctx, `document.querySelectorAll('#sessions tbody tr').length`); rows != 4 {
		t.Fatalf("%d rows in the library, want 4", rows)
	}
	t.Logf("library row: %s", eval[string](t, ctx, `document.querySelector('`+row+`').innerText`))
	screenshot(t, ctx, filepath.Join(art, "library.png"))

	// Open the replay from the library.
	href := eval[string](t, ctx, `document.querySelector('`+row+` a').href`)
	if href != base+"/sessions/"+id {
		t.Fatalf("library links to %s", href)
	}
	do(t, ctx, chromedp.Navigate(href))
	waitJS(t, ctx, "the replay", `document.body.dataset.ready === "true" && document.querySelectorAll('#transcript li.line').length >= 5`)
	waitJS(t, ctx, "the audio", `!document.querySelector('#play').disabled`)

	// Clicking a transcript line moves playback there and highlights it.
	const line = `document.querySelectorAll('#transcript li.line')[3]`
	startMS := eval[float64](t, ctx, `Number(`+line+`.dataset.start)`)
	if startMS < 10000 {
		t.Fatalf("fourth line starts at %v ms", startMS)
	}
	if p := eval[float64](t, ctx, `window.cuecardReplay.positionMS()`); p > 1000 {
		t.Fatalf("playback at %v ms before the click", p)
	}
	eval[bool](t, ctx, line+`.querySelector('button').click() || true`)
	waitJS(t, ctx, "playback at the line", fmt.Sprintf(`(() => { const p = window.cuecardReplay.positionMS(); return p >= %v - 300 && p < %v + 5000; })()`, startMS, startMS))
	waitJS(t, ctx, "the line highlighted", line+`.classList.contains('current')`)
	eval[bool](t, ctx, `(document.querySelector('#play').textContent.includes('Pause') && document.querySelector('#play').click()) || true`)

	// A comment at a timestamp, kept across a reload.
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS(`#comment-at`), "0:19"),
		chromedp.SendKeys(chromedp.CSS(`#comment-text`), "Good future question; let the silence work."),
		chromedp.Click(chromedp.CSS(`#comment-form button[type=submit]`)))
	waitJS(t, ctx, "the comment", `[...document.querySelectorAll('#transcript li.comment')].some(li => li.textContent.includes("let the silence work"))`)
	do(t, ctx, chromedp.Reload())
	waitJS(t, ctx, "the replay after reload", `document.body.dataset.ready === "true"`)
	waitJS(t, ctx, "the comment after reload", `[...document.querySelectorAll('#transcript li.comment')].some(li => li.textContent.includes("let the silence work") && li.textContent.includes("0:19")) && document.querySelectorAll('#comment-track .marker.comment').length === 1`)
	waitJS(t, ctx, "the waveforms", `[...document.querySelectorAll('#wave-rep > div, #wave-prospect > div')].every(d => d.shadowRoot && d.shadowRoot.querySelector('canvas'))`)
	screenshot(t, ctx, filepath.Join(art, "replay.png"))

	// A cue marker opens the card with its evidence.
	do(t, ctx, chromedp.Click(chromedp.CSS(`#cue-track .marker`)))
	waitJS(t, ctx, "the cue card", `document.querySelector('#cue-dialog').open && document.querySelector('#cue-title').textContent.length > 0 && document.querySelector('#cue-evidence').textContent.length > 0`)
	t.Logf("cue card: %s (%s)", eval[string](t, ctx, `document.querySelector('#cue-title').textContent`), eval[string](t, ctx, `document.querySelector('#cue-meta').textContent`))
	screenshot(t, ctx, filepath.Join(art, "replay-cue.png"))
	resp, err := ts.HTTP.Get(base + "/v1/sessions/" + id + "/comments")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte("let the silence work")) {
		t.Fatalf("comment not stored: %s", b)
	}
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/webui"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// harness is a cuecard server with the embedded UI and its test hooks on,
// WebRTC on a free loopback UDP port, and the synthesized call's files
// under /test-audio/ (same origin, so the page may capture them).
type harness struct {
	url   string
	db    *store.DB
	http  *http.Client // the administrator's token
	conns *connTracker
}

// repEmail is the rep the tests sign in as (a member of team Sales, with
// browsertest.Password).
const repEmail = "ana@example.com"

// connTracker remembers the server's connections, hijacked WebSockets
// included, so a test can cut them all as a network drop would.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection accepted so far.
func (l *connTracker) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// newHarness starts the server with playbook pb (nil: the default one) and
// recognizer tr (nil: none, talk metrics only).
func newHarness(tb testing.TB, pb *coach.Playbook, tr stream.Transcriber) *harness {
	tb.Helper()
	rc := server.DefaultWebRTCConfig()
	rc.UDPPort, rc.ListenIP, rc.IncludeLoopback = 0, "127.0.0.1", true
	rtc, err := server.NewWebRTC(rc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rtc.Close() }) // after the server's shutdown
	var conns *connTracker
	ts := servertest.Start(tb, servertest.Options{Transcriber: tr, Playbook: pb,
		Edit: func(cfg *server.Config) {
			// A loaded machine may fall seconds behind real time: queue the
			// audio rather than drop it, so that the calls the tests play
			// are whole.
			cfg.InputBuffer = 100000
			cfg.UI = server.WithUITestHooks(webui.FS(""))
			cfg.WebRTC = rtc
		},
		Handler: func(h http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/test-audio/", http.StripPrefix("/test-audio/", http.FileServer(http.Dir(callDir))))
			mux.Handle("/", h)
			return mux
		},
		Listener: func(l net.Listener) net.Listener {
			conns = &connTracker{Listener: l}
			return conns
		},
	})
	db := ts.DB
	rep, _ := ts.NewUser(tb, repEmail, auth.RoleRep, "Sales")
	browsertest.GivePassword(tb, db, rep.ID)
	return &harness{url: ts.URL, db: db, http: ts.HTTP, conns: conns}
}

// events returns the session's stored events of the given types.
func (h *harness) events(tb testing.TB, id string, types ...string) []coach.Event {
	tb.Helper()
	resp, err := h.http.Get(h.url + "/v1/sessions/" + id + "/events")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("stored events: HTTP %d", resp.StatusCode)
	}
	var out []coach.Event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev coach.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			tb.Fatalf("stored event %q: %v", sc.Text(), err)
		}
		for _, t := range types {
			if ev.Type == t {
				out = append(out, ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// browser starts headless Chromium whose fake microphone plays micWAV once,
// and returns a tab's context, bounded by timeout. The page's console
// output and errors are logged when the test ends.
func browser(tb testing.TB, micWAV string, timeout time.Duration) context.Context {
	tb.Helper()
	opts := append(browsertest.Options(tb),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", micWAV+"%noloop"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.WindowSize(900, 1250),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	stop := func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	}

	// One goroutine collects the page's console; it ends with the tab.
	var (
		mu   sync.Mutex
		logs []string
		wg   sync.WaitGroup
	)
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			logs = append(logs, m.String())
			mu.Unlock()
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		stop()
		wg.Wait()
		tb.Fatalf("start chromium: %v", err)
	}
	tb.Cleanup(func() {
		stop()
		wg.Wait()
		for _, l := range logs {
			tb.Log("page:", l)
		}
	})
	return ctx
}

// waitFor polls the JavaScript predicate expr until it is truthy, for at
// most d; it fails the test with what on timeout.
func waitFor(tb testing.TB, ctx context.Context, what, expr string, d time.Duration) {
	tb.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// eval returns the value of the JavaScript expression expr.
func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// startCall signs in as the rep on the way to pageURL (base and path),
// then walks the set-up: consent, start; it returns the session id once
// the page is live.
func startCall(tb testing.TB, ctx context.Context, base, page string) string {
	tb.Helper()
	browsertest.SignIn(tb, ctx, base, repEmail, url.QueryEscape(page))
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #start`)),
		chromedp.Click(chromedp.CSS(`#consent`)),
		chromedp.Click(chromedp.CSS(`#start`)),
	); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, ctx, "the page to go live",
		`document.querySelector('#conn').dataset.state === 'live' || !document.querySelector('#setup-error').hidden`, 20*time.Second)
	errText := eval[string](tb, ctx, `document.querySelector('#setup-error').hidden ? '' : document.querySelector('#setup-error').textContent`)
	if errText != "" {
		tb.Fatalf("set-up error on the page: %s", errText)
	}
	id := eval[string](tb, ctx, `document.body.dataset.session`)
	if id == "" {
		tb.Fatal("no session id on the page")
	}
	return id
}

// stopCall clicks Stop and waits for the summary.
func stopCall(tb testing.TB, ctx context.Context) {
	tb.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#stop`))); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, ctx, "the summary", `document.body.dataset.phase === 'ended' && !document.querySelector('#summary').hidden`, 30*time.Second)
}

func artifactDir(tb testing.TB) string { return browsertest.Artifacts(tb) }

// shownCue is a cue as the page shows it: on the card or in the history.
type shownCue struct {
	ID       string `json:"id"`
	Cue      string `json:"cue"`
	Evidence string `json:"evidence"`
}

const shownCuesJS = `(() => {
  const out = [];
  const card = document.querySelector('#cue');
  if (card.dataset.id) out.push({id: card.dataset.id, cue: card.dataset.cue, evidence: card.querySelector('.cue-evidence').textContent});
  for (const li of document.querySelectorAll('#history .history-list li')) {
    out.push({id: li.dataset.id, cue: li.dataset.cue, evidence: li.querySelector('.h-evidence').textContent});
  }
  return out;
})()`

// TestOverlayCoachesLiveCall plays the synthesized short call into the
// overlay over real WebRTC (the rep through Chromium's fake microphone,
// the prospect through the test hook) and checks that the stage stepper
// advances and that the cue cards the server sent appear, with their ids
// and quotes.
func TestOverlayCoachesLiveCall(t *testing.T) {
	need(t)
	h := newHarness(t, nil, recognizer)
	ctx := browser(t, filepath.Join(callDir, "rep.wav"), 100*time.Second)
	id := startCall(t, ctx, h.url, "/?test-prospect=/test-audio/prospect.wav")
	t.Cleanup(func() {
		if t.Failed() {
			for _, ev := range h.events(t, id, "transcript", "cue", "cue_outcome", "stage", "status") {
				if ev.Type != "transcript" || ev.Final {
					t.Logf("server sent: %s at %d ms: %s%s%s", ev.Type, ev.AtMS, ev.Cue, ev.Stage, ev.Text)
				}
			}
		}
	})

	transport := eval[string](t, ctx, `document.querySelector('#conn').dataset.transport`)
	if transport != "webrtc" {
		t.Fatalf("connected over %q, want webrtc", transport)
	}

	hasCue := func(cue string) string {
		return fmt.Sprintf(`!!document.querySelector('#cue[data-cue=%q], #history li[data-cue=%q]')`, cue, cue)
	}
	waitFor(t, ctx, "the future_forward cue card", hasCue("future_forward"), 60*time.Second)
	stageNow := eval[string](t, ctx, `document.querySelector('#stages li[aria-current="step"]')?.dataset.stage ?? ''`)
	if stageNow == "" || stageNow == "rapport" {
		t.Errorf("stage stepper at %q when the first cue came, want past rapport", stageNow)
	}
	// Mid-call: both sides heard, so no warning; the card is up.
	warned := eval[bool](t, ctx, `!document.querySelector('#hear-prospect').hidden || !document.querySelector('#hear-rep').hidden`)
	if warned {
		t.Error("a can't-hear warning is shown while both sides talk")
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir(t), "overlay-mid-call.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// Keys: L switches the theme (auto, dark), Esc dismisses the card into
	// the history.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("l")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the dark theme", `document.documentElement.dataset.theme === 'dark'`, 5*time.Second)
	if png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), "overlay-mid-call-dark.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	card := eval[string](t, ctx, `document.querySelector('#cue').dataset.id ?? ''`)
	if card == "" {
		t.Fatal("no cue card shown")
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the dismissed card in the history", fmt.Sprintf(`!!document.querySelector('#history li[data-id=%q]') && document.querySelector('#cue').dataset.id !== %q`, card, card), 5*time.Second)

	// The prospect's last line values the fixed future and asks for help:
	// depending on what the recognizer hears of it ("so how can you help
	// us" or "so hi can you help us"), the card is door_opened or
	// make_the_ask.
	waitFor(t, ctx, "the door_opened or make_the_ask cue card",
		hasCue("door_opened")+" || "+hasCue("make_the_ask"), 60*time.Second)
	stopCall(t, ctx)

	// What the page showed is what the server sent.
	shown := eval[[]shownCue](t, ctx, shownCuesJS)
	sent := h.events(t, id, "cue")
	got := map[string]shownCue{}
	for _, c := range shown {
		got[c.ID] = c
	}
	if len(shown) != len(sent) {
		t.Errorf("page showed %d cues %+v, server sent %d", len(shown), shown, len(sent))
	}
	names := map[string]bool{}
	for _, ev := range sent {
		names[ev.Cue] = true
		c, ok := got[ev.ID]
		switch {
		case !ok:
			t.Errorf("cue %s (%s) was sent but not shown", ev.ID, ev.Cue)
		case c.Cue != ev.Cue || strings.TrimSpace(c.Evidence) != strings.TrimSpace(ev.Evidence):
			t.Errorf("cue %s shown as %s %q, sent as %s %q", ev.ID, c.Cue, c.Evidence, ev.Cue, ev.Evidence)
		}
	}
	if !names["future_forward"] || !names["door_opened"] && !names["make_the_ask"] {
		t.Errorf("server sent %v, want future_forward and door_opened or make_the_ask", names)
	}

	stages := h.events(t, id, "stage")
	if len(stages) < 2 {
		t.Fatalf("server moved through %d stages, want at least 2", len(stages))
	}
	final := eval[string](t, ctx, `document.querySelector('#stages li[aria-current="step"]')?.dataset.stage ?? ''`)
	if last := stages[len(stages)-1].Stage; final != last {
		t.Errorf("stepper ends at %q, server's last stage %q", final, last)
	}
	done := eval[int](t, ctx, `document.querySelectorAll('#stages li[data-state="done"]').length`)
	if done == 0 {
		t.Error("no stage marked done on the stepper")
	}

	href := eval[string](t, ctx, `document.querySelector('#replay').getAttribute('href')`)
	if href != "/sessions/"+id {
		t.Errorf("replay link %q, want /sessions/%s", href, id)
	}
	summaryCues := eval[int](t, ctx, `document.querySelectorAll('#summary-cues li').length`)
	if summaryCues != len(sent) {
		t.Errorf("summary lists %d cues, want %d", summaryCues, len(sent))
	}
}

// TestOverlayWarnsWhenProspectSilent gives the overlay a silent prospect
// side while the rep talks, over the WebSocket fallback, and checks the
// plain warning that the other side cannot be heard.
func TestOverlayWarnsWhenProspectSilent(t *testing.T) {
	need(t)
	h := newHarness(t, nil, recognizer)
	ctx := browser(t, filepath.Join(callDir, "rep.wav"), 80*time.Second)
	startCall(t, ctx, h.url, "/?test-prospect=/test-audio/silence.wav&transport=ws")

	transport := eval[string](t, ctx, `document.querySelector('#conn').dataset.transport`)
	if transport != "ws" {
		t.Fatalf("connected over %q, want the WebSocket fallback", transport)
	}
	// The rep is heard, so the page is measuring; nothing is said yet.
	waitFor(t, ctx, "the rep to be heard", `document.querySelector('#level-rep').dataset.heard === 'yes'`, 15*time.Second)
	early := eval[bool](t, ctx, `!document.querySelector('#hear-prospect').hidden`)
	if early {
		t.Error("the warning shows before the prospect has been silent for 20 s")
	}
	waitFor(t, ctx, "the can't-hear warning", `!document.querySelector('#hear-prospect').hidden`, 40*time.Second)
	text := eval[string](t, ctx, `document.querySelector('#hear-prospect').textContent`)
	if !strings.Contains(text, "cuecard can't hear the other side: share the call tab with audio") {
		t.Errorf("warning reads %q", text)
	}
	repWarned := eval[bool](t, ctx, `!document.querySelector('#hear-rep').hidden`)
	if repWarned {
		t.Error("the rep is reported unheard too")
	}
	// Talk metrics flowed over the WebSocket: the server heard the rep.
	waitFor(t, ctx, "a talk share", `document.querySelector('#share-call .value').textContent.endsWith('%')`, 10*time.Second)
	stopCall(t, ctx)
}

// TestOverlayReconnects drops the page's connection mid-call: the page
// says it is reconnecting, reconnects by itself, and the same session goes
// on (one session, media time moving on, the summary at the end).
func TestOverlayReconnects(t *testing.T) {
	need(t)
	h := newHarness(t, nil, recognizer)
	ctx := browser(t, filepath.Join(callDir, "rep.wav"), 90*time.Second)
	startCall(t, ctx, h.url, "/?test-prospect=/test-audio/prospect.wav&transport=ws")
	waitFor(t, ctx, "talk metrics", `document.querySelector('#share-call .value').textContent.endsWith('%')`, 20*time.Second)
	before := eval[string](t, ctx, `document.querySelector('#clock').textContent`)

	// The network drops: every connection to the server is cut.
	h.conns.cut()
	waitFor(t, ctx, "the page to notice", `document.querySelector('#conn').dataset.state === 'reconnecting'`, 15*time.Second)
	waitFor(t, ctx, "the page to reconnect", `document.querySelector('#conn').dataset.state === 'live'`, 30*time.Second)
	waitFor(t, ctx, "media time to move on", `document.querySelector('#clock').textContent !== `+strconv.Quote(before), 20*time.Second)
	stopCall(t, ctx)

	page, err := h.db.ListSessions(context.Background(), store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 {
		t.Fatalf("%d sessions after the reconnect, want the one", page.Total)
	}
	ses, err := h.db.GetSession(context.Background(), page.Sessions[0].ID)
	if err != nil || ses.Summary == nil {
		t.Fatalf("session %+v %v", ses, err)
	}
}

// TestOverlayTalkLimitsFromServer runs the overlay against a playbook whose
// talk settings differ from the default playbook's (a 20-40% band, a
// 2-minute window, a 2 s monologue limit) and checks that the talk share
// and the monologue timer are judged by them: the page keeps no copy.
// Talk metrics need no recognizer, so the server runs none.
func TestOverlayTalkLimitsFromServer(t *testing.T) {
	need(t)
	def, err := coach.DefaultPlaybook()
	if err != nil {
		t.Fatal(err)
	}
	src := regexp.MustCompile(`(?m)^talk:\n(?:[ \t]+.*\n)+`).ReplaceAll(def.Source,
		[]byte("talk:\n  window_ms: 120000\n  healthy_rep_share: [0.2, 0.4]\n  monologue_warn_ms: 1000\n  monologue_limit_ms: 2000\n"))
	pb, err := coach.ParsePlaybook("talk.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Talk.HealthyRepShare != [2]float64{0.2, 0.4} || pb.Talk.MonologueLimitMS != 2000 {
		t.Fatalf("the test playbook's talk settings are %+v", pb.Talk)
	}
	h := newHarness(t, pb, nil)
	ctx := browser(t, filepath.Join(callDir, "rep.wav"), 80*time.Second)
	startCall(t, ctx, h.url, "/?test-prospect=/test-audio/silence.wav&transport=ws")

	if got := eval[string](t, ctx, `document.querySelector('#share-window .window-len').textContent`); got != "2 min" {
		t.Errorf("recent window shown as %q, want 2 min", got)
	}
	band := eval[string](t, ctx, `(() => { const b = document.querySelector('#share-call .band'); return b.style.left + ' ' + b.style.width; })()`)
	if band != "20% 20%" {
		t.Errorf("healthy band drawn at left, width %q, want 20%% 20%%", band)
	}
	// Only the rep talks: the share is above the band, and the rep's first
	// utterance (7 s) runs past the 2 s limit.
	waitFor(t, ctx, "the share judged against the server's band",
		`document.querySelector('#share-call').dataset.verdict === 'high'`, 30*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#share-call .verdict').textContent`); got != "▲ above the healthy 20–40%: let them talk" {
		t.Errorf("talk share verdict %q", got)
	}
	waitFor(t, ctx, "the monologue over the server's limit", `document.querySelector('#mono').dataset.level === 'over'`, 20*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#mono .mono-note').textContent`); got != "Over the limit: stop and ask a question." {
		t.Errorf("monologue note %q", got)
	}
	stopCall(t, ctx)
}

// TestOverlaySignedOutGoesToSignIn: when the browser session has ended
// behind the page's back, starting a call sends the rep to the sign-in
// page, which brings them back to the overlay.
func TestOverlaySignedOutGoesToSignIn(t *testing.T) {
	need(t)
	h := newHarness(t, nil, nil)
	ctx := browser(t, silence, 60*time.Second)
	const page = "/?test-prospect=/test-audio/silence.wav&transport=ws"
	browsertest.SignIn(t, ctx, h.url, repEmail, url.QueryEscape(page))
	waitFor(t, ctx, "the overlay", `document.body.dataset.ready === "true"`, 20*time.Second)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/v1/auth/logout", { method: "POST",
		headers: { "Content-Type": "application/json" }, body: "{}" }).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("sign out behind the page: %d, %v", status, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#consent`)), chromedp.Click(chromedp.CSS(`#start`))); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page", `location.pathname === "/signin" && new URLSearchParams(location.search).get("next") === `+strconv.Quote(page), 20*time.Second)
	page1, err := h.db.ListSessions(context.Background(), store.ListFilter{})
	if err != nil || page1.Total != 0 {
		t.Fatalf("sessions after a refused start: %d, %v", page1.Total, err)
	}
}

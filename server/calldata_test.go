package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
)

// TestNoAudioWithoutConsent: a session created without consent takes no
// audio on the WebSocket (a close code and reason), and an upload without
// the confirmation is refused before anything is stored.
func TestNoAudioWithoutConsent(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	s, err := srv.Client.CreateSession(ctx, client.CreateRequest{Title: "no consent"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Client.Dial(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "consent") {
		t.Fatalf("stream without consent: %v, want close 1008 with a reason about consent", err)
	}
	if dir := filepath.Join(srv.Dir, "audio", s.ID); fileCount(dir) > 0 {
		t.Errorf("audio recorded without consent: %s", dir)
	}
	if code, body := do(t, srv.HTTP, "POST", srv.URL+"/v1/sessions", `{"consent":true}`); code != 400 || !strings.Contains(body, "consent_text") {
		t.Errorf("consent without its text: %d %s", code, body)
	}
	code, body := do(t, srv.HTTP, "POST", srv.URL+"/v1/sessions", `{"consent":true,"consent_text":"  We record calls for coaching. "}`)
	var got store.Session
	json.Unmarshal([]byte(body), &got)
	if code != 201 || got.ConsentBy != srv.Admin.ID || got.ConsentAt.IsZero() || got.ConsentPolicy != store.PolicyAllParty ||
		got.ConsentText != "We record calls for coaching." {
		t.Errorf("consent record: %d %+v", code, got)
	}
	page, err := srv.DB.ListSessions(ctx, store.ListFilter{Source: store.SourceUpload})
	if err != nil || len(page.Sessions) != 0 {
		t.Fatalf("uploads before: %v %v", page.Sessions, err)
	}
}

func fileCount(dir string) int {
	es, _ := os.ReadDir(dir)
	return len(es)
}

// TestTeamConsentText: a rep who gives no text records the team's text
// and its version; the team's policy is recorded with the consent.
func TestTeamConsentText(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	rep, tok := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	team := rep.Teams[0].TeamID
	for _, text := range []string{"first wording", "second wording"} {
		body := `{"consent_policy":"one-party","consent_text":"` + text + `","recordings_days":30,"transcripts_days":90}`
		if code, b := do(t, srv.HTTP, "PUT", srv.URL+"/v1/teams/"+team+"/policy", body); code != 200 {
			t.Fatalf("set policy: %d %s", code, b)
		}
	}
	code, body := do(t, servertest.HTTPClient(tok), "POST", srv.URL+"/v1/sessions", `{"consent":true}`)
	var got store.Session
	json.Unmarshal([]byte(body), &got)
	if code != 201 || got.ConsentText != "second wording" || got.ConsentVersion != 2 || got.ConsentPolicy != store.PolicyOneParty || got.Team != team {
		t.Errorf("session with the team's consent: %d %+v", code, got)
	}
	if code, _ := do(t, servertest.HTTPClient(tok), "PUT", srv.URL+"/v1/teams/"+team+"/policy", `{"consent_policy":"one-party"}`); code != 403 {
		t.Errorf("a rep sets the policy: %d", code)
	}
}

// TestEraseSession removes the session from the database and the disk,
// is refused on legal hold, and is in the audit log.
func TestEraseSession(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	_, tok := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	rc := &client.Client{BaseURL: srv.URL, Token: tok}
	s, err := rc.CreateSession(ctx, clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.AppendEvents(ctx, s.ID, 1, []coach.Event{{Type: coach.EventTranscript, AtMS: 10, Text: "secret", Final: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB.AddComment(ctx, s.ID, 5, "note", "admin", srv.Admin.ID); err != nil {
		t.Fatal(err)
	}
	path, err := srv.DB.RecordingPath(s.ID, coach.Rep, "wav")
	if err == nil {
		err = os.WriteFile(path, []byte("RIFF"), 0o600)
	}
	if err == nil {
		err = srv.DB.AddRecording(ctx, s.ID, coach.Rep, path, "audio/wav")
	}
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/v1/sessions/" + s.ID
	if code, _ := do(t, srv.HTTP, "PUT", url+"/hold", `{"hold":true}`); code != 204 {
		t.Fatalf("hold: %d", code)
	}
	if code, body := do(t, servertest.HTTPClient(tok), "DELETE", url, ""); code != 409 || !strings.Contains(body, "legal hold") {
		t.Fatalf("erase on hold: %d %s", code, body)
	}
	do(t, srv.HTTP, "PUT", url+"/hold", `{"hold":false}`)
	if code, body := do(t, servertest.HTTPClient(tok), "DELETE", url, ""); code != 204 {
		t.Fatalf("erase: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("recordings left on disk: %v", err)
	}
	if _, err := srv.DB.GetSession(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session row left: %v", err)
	}
	n := 0
	srv.DB.ReadEvents(ctx, s.ID, 0, func(int64, []byte) error { n++; return nil })
	if cs, _ := srv.DB.Comments(ctx, s.ID); n > 0 || len(cs) > 0 {
		t.Errorf("left: %d events, %d comments", n, len(cs))
	}
	if db, err := os.ReadFile(filepath.Join(srv.Dir, "cuecard.db")); err != nil || strings.Contains(string(db), "secret") {
		t.Errorf("the erased transcript is still in the database file (%v)", err)
	}
	if a := auditActions(t, srv); !strings.Contains(a, `"action":"session.erase","target":"`+s.ID) {
		t.Errorf("erasure not in the audit log:\n%s", a)
	}
}

// TestRetention applies a team's periods with a fake clock: a dry run
// reports and removes nothing; the run removes recordings after N days
// and transcripts after M, keeps the summary and sessions on hold.
func TestRetention(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.Now = func() time.Time { return clock() } }})
	ctx := context.Background()
	rep, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	team := rep.Teams[0].TeamID
	if _, err := srv.DB.SetTeamPolicy(ctx, store.TeamPolicy{TeamID: team, ConsentPolicy: store.PolicyAllParty, RecordingsDays: 7, TranscriptsDays: 30}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		s, err := srv.DB.CreateSession(ctx, store.NewSession{Owner: rep.ID, Team: team, Consent: true, ConsentText: "x"})
		if err == nil {
			err = srv.DB.AppendEvents(ctx, s.ID, 1, []coach.Event{{Type: coach.EventTranscript, AtMS: 10, Text: "words", Final: true}})
		}
		if err == nil {
			err = srv.DB.EndSession(ctx, s.ID, &coach.Summary{Metrics: coach.Metrics{DurationMS: 10, RepShare: 0.4}})
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if err := srv.DB.SetLegalHold(ctx, ids[1], true); err != nil {
		t.Fatal(err)
	}
	run := func(dry bool) server.RetentionReport {
		rep, err := srv.Srv.RunRetention(ctx, dry)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if r := run(false); r.Removed != 0 || len(r.Items) != 0 {
		t.Fatalf("fresh sessions removed: %+v", r)
	}
	clock = func() time.Time { return now.Add(8 * 24 * time.Hour) }
	if r := run(true); len(r.Items) != 1 || r.Items[0].What != store.PurgeRecordings || r.Removed != 0 {
		t.Fatalf("dry run after 8 days: %+v", r)
	}
	if r := run(false); r.Removed != 1 {
		t.Fatalf("run after 8 days: %+v", r)
	}
	clock = func() time.Time { return now.Add(31 * 24 * time.Hour) }
	if r := run(false); r.Removed != 1 || r.Items[0].What != store.PurgeTranscripts {
		t.Fatalf("run after 31 days: %+v", r)
	}
	ses, err := srv.DB.GetSession(ctx, ids[0])
	if err != nil || ses.Summary == nil || ses.RepShare != 0.4 || ses.RecordingsPurgedAt.IsZero() || ses.TranscriptsPurgedAt.IsZero() {
		t.Errorf("after retention: %+v %v", ses, err)
	}
	n := 0
	srv.DB.ReadEvents(ctx, ids[0], 0, func(int64, []byte) error { n++; return nil })
	held := 0
	srv.DB.ReadEvents(ctx, ids[1], 0, func(int64, []byte) error { held++; return nil })
	if n != 0 || held != 1 {
		t.Errorf("events left: %d purged, %d held (want 0, 1)", n, held)
	}
}

// TestLiveSessionLimits: a rep cannot hold more live sessions than the
// cap; the refusal closes the socket with a reason.
func TestLiveSessionLimits(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.Limits.MaxLivePerUser = 1 }})
	ctx := context.Background()
	_, tok := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	rc := &client.Client{BaseURL: srv.URL, Token: tok}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 2 {
		s, err := rc.CreateSession(ctx, clientCreate())
		if err != nil {
			t.Fatal(err)
		}
		c, err := rc.Dial(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i == 0 {
			waitLive(t, srv, s.ID)
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || !strings.Contains(ce.Text, "live sessions") {
			t.Fatalf("second live session: %v, want close 1013 about live sessions", err)
		}
	}
}

// waitLive waits until session id is live (its audio client attached).
func waitLive(t *testing.T, srv *servertest.Server, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ses, err := srv.DB.GetSession(context.Background(), id); err == nil && ses.Status == store.StatusLive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("session %s never went live", id)
}

// TestUploadLimits: an upload over the size or length cap, or beyond the
// uploads analyzed at once, or too frequent, is refused with a clear
// status, and nothing is stored.
func TestUploadLimits(t *testing.T) {
	needCall(t)
	stereo := filepath.Join(callDir, "stereo.wav")
	for _, tc := range []struct {
		name string
		edit func(*server.Limits)
		code int
		msg  string
	}{
		{"too many bytes", func(l *server.Limits) { l.MaxUploadBytes = 1000 }, 413, "larger than 1000 bytes"},
		{"too long", func(l *server.Limits) { l.MaxUploadLength = time.Second }, 413, "more than the 1s allowed"},
		{"too frequent", func(l *server.Limits) { l.UploadEvery, l.UploadBurst = time.Hour, 1 }, 429, "too many uploads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { tc.edit(&c.Limits) }})
			code, m := upload(t, srv.URL, map[string]string{"stereo": stereo}, nil)
			if tc.code == 429 {
				if code != 202 {
					t.Fatalf("first upload: %d %v", code, m)
				}
				code, m = upload(t, srv.URL, map[string]string{"stereo": stereo}, nil)
			}
			if msg, _ := m["error"].(string); code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("%d %v, want %d with %q", code, m, tc.code, tc.msg)
			}
			page, err := srv.DB.ListSessions(context.Background(), store.ListFilter{})
			if want := map[bool]int{true: 1, false: 0}[tc.code == 429]; err != nil || len(page.Sessions) != want {
				t.Errorf("%d sessions stored, want %d (%v)", len(page.Sessions), want, err)
			}
		})
	}
}

// TestSessionRateLimit: a rep who opens sessions too fast gets 429.
func TestSessionRateLimit(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.Limits.CreateEvery, c.Limits.CreateBurst = time.Hour, 2 }})
	_, tok := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	var codes []int
	for range 3 {
		code, _ := do(t, servertest.HTTPClient(tok), "POST", srv.URL+"/v1/sessions", `{"consent":true,"consent_text":"recorded"}`)
		codes = append(codes, code)
	}
	if codes[0] != 201 || codes[1] != 201 || codes[2] != 429 {
		t.Fatalf("codes %v, want 201 201 429", codes)
	}
}

// TestMaxSessionLength ends a live session once it has that much audio.
func TestMaxSessionLength(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
		c.Limits.MaxSessionLength = 2 * time.Second
		c.InputBuffer = 10000
	}})
	ctx := context.Background()
	s, err := srv.Client.CreateSession(ctx, clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Client.Dial(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := make([]byte, 641) // channel byte + 20 ms of silence
	for i := range 300 {       // 3 s a side
		frame[0] = byte(i % 2)
		if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			break
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var last coach.Event
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			break
		}
		json.Unmarshal(b, &last)
	}
	if last.Type != coach.EventSummary || last.Summary.Metrics.DurationMS > 2500 {
		t.Fatalf("last event %s, duration %v: want a summary at about 2 s", last.Type, last.Summary)
	}
	ses, err := srv.DB.GetSession(ctx, s.ID)
	if err != nil || ses.Status != store.StatusEnded {
		t.Fatalf("session %s %v", ses.Status, err)
	}
}

// TestExpiredBrowserSession: a cookie whose stored session has expired
// is anonymous.
func TestExpiredBrowserSession(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	u, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "East")
	cookie := signInCookie(t, srv, u.ID)
	ctx := context.Background()
	b, found, err := srv.DB.FindCtx(ctx, cookie)
	if err != nil || !found {
		t.Fatalf("stored session: %v %v", found, err)
	}
	if code, _ := do(t, http.DefaultClient, "GET", srv.URL+"/v1/me", "", "Cookie", "cuecard_session="+cookie); code != 200 {
		t.Fatalf("fresh cookie: %d", code)
	}
	if err := srv.DB.CommitCtx(ctx, cookie, b, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, http.DefaultClient, "GET", srv.URL+"/v1/me", "", "Cookie", "cuecard_session="+cookie); code != 401 {
		t.Fatalf("expired cookie: %d, want 401", code)
	}
}

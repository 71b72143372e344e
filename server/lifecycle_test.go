package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/wire"
)

// waitStatus polls the session until it has status, or fails after 20 s.
func waitStatus(t *testing.T, ts *testServer, id, status string) store.Session {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ses, err := ts.db.GetSession(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ses.Status == status {
			return ses
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still %s, want %s", id, ses.Status, status)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestReconnectContinues drops the audio connection mid-call without
// "stop", reconnects and finishes: one session, media time going on,
// no event twice.
func TestReconnectContinues(t *testing.T) {
	needCall(t)
	ts := newTestServer(t, t.TempDir(), nil, recognizer)
	id := ts.create(t)
	ctx := context.Background()
	var first, second collector
	err := ts.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StopAtMS: 20000, NoStop: true}, first.add)
	if err != nil && !isGoingAway(err) {
		t.Fatalf("first part: %v", err)
	}
	waitStatus(t, ts, id, store.StatusLive)
	if err := ts.cl.Stream(ctx, id, rep(), prospect(), client.StreamOptions{StartMS: 20000}, second.add); err != nil {
		t.Fatalf("second part: %v", err)
	}
	a, b := first.all(), second.all()
	if len(a) == 0 || len(b) == 0 {
		t.Fatalf("events: %d before, %d after the reconnect", len(a), len(b))
	}
	var lastTalk int64
	for _, ev := range a {
		if ev.Type == coach.EventTalk {
			lastTalk = ev.AtMS
		}
	}
	for _, ev := range filter(b, "talk") {
		if ev.AtMS < lastTalk {
			t.Fatalf("media time went back after the reconnect: talk at %d after %d", ev.AtMS, lastTalk)
		}
	}
	sum := b[len(b)-1]
	if sum.Type != coach.EventSummary || sum.Summary.Metrics.DurationMS < 40000 {
		t.Fatalf("last event %s, duration %d", sum.Type, sum.Summary.Metrics.DurationMS)
	}
	stored := storedEvents(t, ts, id)
	seen := map[string]bool{}
	for _, ev := range stored {
		if ev.Type == coach.EventCue {
			if seen[ev.ID] {
				t.Fatalf("cue %s stored twice", ev.ID)
			}
			seen[ev.ID] = true
		}
	}
	if len(stored) < len(filter(a, "talk", "stage", "cue"))+len(filter(b, "talk", "stage", "cue")) {
		t.Fatalf("%d events stored", len(stored))
	}
}

func isGoingAway(err error) bool {
	var ce *client.CloseError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "close")
}

// TestShutdownFinishesSessions stops the server mid-call: the client gets
// the summary and a going-away close, the recordings are valid WAV files,
// the events and summary are stored, and a restarted server still lists
// the session.
func TestShutdownFinishesSessions(t *testing.T) {
	needCall(t)
	dir := t.TempDir()
	ts := newTestServer(t, dir, nil, recognizer)
	id := ts.create(t)
	conn, err := ts.cl.Dial(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, _ := readWAV(rep())
	p, _ := readWAV(prospect())
	var buf []byte
	for i := 0; i < 16000*10; i += 320 {
		buf = wire.EncodeFrame(buf, coach.Rep, chunk(r, i))
		conn.WriteMessage(websocket.BinaryMessage, buf)
		buf = wire.EncodeFrame(buf, coach.Prospect, chunk(p, i))
		conn.WriteMessage(websocket.BinaryMessage, buf)
	}
	var got collector
	done := make(chan error, 1)
	go func() { done <- client.ReadEvents(conn, got.add) }()
	waitStatus(t, ts, id, store.StatusLive)
	// Wait until the session has processed some audio.
	deadline := time.Now().Add(20 * time.Second)
	for len(filter(got.all(), "talk")) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ts.close()
	err = <-done
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("close: %v", err)
	}
	evs := got.all()
	if last := evs[len(evs)-1]; last.Type != coach.EventSummary {
		t.Fatalf("last event before shutdown %s, want summary", last.Type)
	}

	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ses, err := db.GetSession(context.Background(), id)
	if err != nil || ses.Status != store.StatusEnded || ses.Summary == nil {
		t.Fatalf("after restart: %+v %v", ses, err)
	}
	n := 0
	db.ReadEvents(context.Background(), id, 0, func(int64, []byte) error { n++; return nil })
	if n != len(evs) {
		t.Fatalf("%d events stored, %d sent", n, len(evs))
	}
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		rec, err := db.Recording(context.Background(), id, sp)
		if err != nil {
			t.Fatal(err)
		}
		checkPrivate(t, rec.Path)
		f, err := audio.OpenWAV(rec.Path)
		if err != nil {
			t.Fatalf("%s recording: %v", sp, err)
		}
		samples := 0
		b := make([]float32, 4096)
		for {
			k, err := f.Read(b)
			samples += k
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s recording: %v", sp, err)
			}
		}
		f.Close()
		if samples < 16000*9 {
			t.Fatalf("%s recording has %d samples, want about 10 s", sp, samples)
		}
	}
	page, err := db.ListSessions(context.Background(), store.ListFilter{})
	if err != nil || page.Total != 1 {
		t.Fatalf("list after restart: %+v %v", page, err)
	}
}

// TestAPI exercises the session and comment endpoints and their errors.
func TestAPI(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	base := ts.ts.URL
	do := func(method, path, body string) (int, map[string]any, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := authDo(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m, b
	}
	code, ses, _ := do("POST", "/v1/sessions", `{"rep":"Ana","title":"Acme intro","consent":true,"consent_text":"all parties agreed"}`)
	if code != 201 || ses["id"] == "" || ses["consent"] != true {
		t.Fatalf("create: %d %v", code, ses)
	}
	id := ses["id"].(string)
	if code, _, _ := do("POST", "/v1/sessions", ""); code != 201 {
		t.Fatalf("create without body: %d", code)
	}
	for _, tt := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/v1/sessions", `{"rep":`, 400, "unexpected EOF"},
		{"POST", "/v1/sessions", `{"nope":1}`, 400, "unknown field"},
		{"POST", "/v1/sessions", `{"rep":"` + strings.Repeat("x", 300) + `"}`, 400, "longer than"},
		{"POST", "/v1/sessions", `{"title":"` + strings.Repeat("x", 70000) + `"}`, 413, "larger than"},
		{"GET", "/v1/sessions/nope", "", 404, "not found"},
		{"GET", "/v1/sessions?sort=loudness", "", 400, "sort"},
		{"GET", "/v1/sessions?min_uptake=2", "", 400, "min_uptake"},
		{"GET", "/v1/sessions/" + id + "/audio?speaker=coach", "", 400, "speaker"},
		{"GET", "/v1/sessions/" + id + "/audio?speaker=rep", "", 404, "not found"},
		{"POST", "/v1/sessions/" + id + "/comments", `{"at_ms":-1,"text":"x"}`, 400, "negative"},
		{"POST", "/v1/sessions/" + id + "/comments", `{"at_ms":10,"text":""}`, 400, "empty"},
		{"POST", "/v1/sessions/" + id + "/comments", `{"text":"x"}`, 400, "required"},
		{"PATCH", "/v1/sessions/" + id + "/comments/zzz", `{"text":"x"}`, 404, "not found"},
	} {
		code, m, raw := do(tt.method, tt.path, tt.body)
		msg, _ := m["error"].(string)
		if code != tt.code || !strings.Contains(msg, tt.msg) || bytes.Count(raw, []byte("\n")) != 1 {
			t.Errorf("%s %s: %d %q, want %d containing %q", tt.method, tt.path[:min(len(tt.path), 60)], code, msg, tt.code, tt.msg)
		}
	}
	// Comments: add, list, edit, delete.
	code, c, _ := do("POST", "/v1/sessions/"+id+"/comments", `{"at_ms":12000,"text":"good question here"}`)
	if code != 201 || c["id"] == "" || c["author"] != "admin" || c["created_at"] == nil {
		t.Fatalf("add comment: %d %v", code, c)
	}
	cid := c["id"].(string)
	code, c, _ = do("PATCH", "/v1/sessions/"+id+"/comments/"+cid, `{"text":"great question"}`)
	if code != 200 || c["text"] != "great question" || c["at_ms"] != float64(12000) {
		t.Fatalf("edit: %d %v", code, c)
	}
	resp, _ := authGet(base + "/v1/sessions/" + id + "/comments")
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0]["text"] != "great question" {
		t.Fatalf("list comments: %v", list)
	}
	if code, _, _ := do("DELETE", "/v1/sessions/"+id+"/comments/"+cid, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	// List with filters and paging.
	code, page, _ := do("GET", "/v1/sessions?rep=Ana&limit=1", "")
	if code != 200 || page["total"] != float64(1) {
		t.Fatalf("list: %d %v", code, page)
	}
	code, pb, _ := do("GET", "/v1/playbook", "")
	if code != 200 || len(pb["cues"].([]any)) != 8 {
		t.Fatalf("playbook: %d %v", code, pb)
	}
	resp, err := authGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"cuecard_live_sessions", "cuecard_cue_latency_seconds", "cuecard_audio_frames_dropped_total",
		"cuecard_audio_frames_total", "cuecard_recognizer_queue", "cuecard_viewers", "cuecard_slow_subscribers_dropped_total"} {
		if !bytes.Contains(b, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestEndedSessionRefusesAudio checks that audio for a finished session is
// refused with a reason.
func TestEndedSessionRefusesAudio(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	id := ts.create(t)
	c, err := ts.cl.Dial(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"stop"}`))
	if err := client.ReadEvents(c, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = ts.cl.Dial(context.Background(), id)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "ended") {
		t.Fatalf("dial ended session: %v", err)
	}
}

// checkPrivate fails the test unless the file at path has store.FileMode:
// a recording is for the server's user alone.
func checkPrivate(tb testing.TB, path string) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != store.FileMode {
		tb.Errorf("%s: mode %o, want %o", path, got, store.FileMode)
	}
}

// TestStreamBadResumePoint refuses a stream whose at_ms is not a media
// time, before the upgrade.
func TestStreamBadResumePoint(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	id := ts.create(t)
	for _, v := range []string{"abc", "-5", "99999999999999"} {
		resp, err := authGet(ts.ts.URL + "/v1/sessions/" + id + "/stream?at_ms=" + v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "at_ms") {
			t.Errorf("at_ms=%s: %d %s", v, resp.StatusCode, b)
		}
	}
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// getJSON GETs path and decodes a 200 answer into v.
func getJSON(tb testing.TB, base, path string, v any) {
	tb.Helper()
	resp, err := authGet(base + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
}

// seedLibrary stores n ended sessions with varied reps, dates and metrics.
func seedLibrary(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	reps := []string{"Ana", "Ben", "Cleo"}
	stages := []string{"rapport", "discovery", "future", "relationship", "commitment"}
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range n {
		ses, err := db.CreateSession(ctx, store.NewSession{Rep: reps[i%3], Title: fmt.Sprintf("call %d", i),
			CreatedAt: t0.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		fired := i % 5
		sum := &coach.Summary{Metrics: coach.Metrics{DurationMS: int64(60000 + i*1000), RepShare: float64(i%10) / 10,
			LongestRepMonologueMS: int64(i%7) * 10000, FurthestStage: stages[i%5], CuesFired: fired, CuesTaken: fired / 2}}
		if fired > 0 {
			sum.Metrics.Uptake = float64(fired/2) / float64(fired)
		}
		if err := db.EndSession(ctx, ses.ID, sum); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestLibraryQueries lists, filters, sorts and pages sessions the way the
// library page does.
func TestLibraryQueries(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	seedLibrary(t, ts.db, 60)
	base := ts.ts.URL

	t.Run("paging covers every match once, in order", func(t *testing.T) {
		q := url.Values{"rep": {"Ana"}, "sort": {"rep_share"}, "order": {"asc"}, "limit": {"7"}}
		var seen []store.Session
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var p store.Page
			getJSON(t, base, "/v1/sessions?"+q.Encode(), &p)
			if p.Total != 20 {
				t.Fatalf("total %d, want 20", p.Total)
			}
			seen = append(seen, p.Sessions...)
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if len(seen) != 20 {
			t.Fatalf("%d sessions over all pages, want 20", len(seen))
		}
		ids := map[string]bool{}
		for i, s := range seen {
			if s.Rep != "Ana" || ids[s.ID] {
				t.Fatalf("session %d: rep %q, duplicate %v", i, s.Rep, ids[s.ID])
			}
			ids[s.ID] = true
			if i > 0 && s.RepShare < seen[i-1].RepShare {
				t.Fatalf("not sorted by rep share at %d", i)
			}
		}
	})
	cases := []struct {
		name  string
		query string
		want  int
		check func(store.Session) bool
	}{
		{"date range", "from=2025-03-01&to=2025-03-02", 15, func(s store.Session) bool { return s.CreatedAt.Day() == 1 }},
		{"stage reached", "min_stage=relationship", 24, func(s store.Session) bool {
			return s.FurthestStage == "relationship" || s.FurthestStage == "commitment"
		}},
		{"uptake", "min_uptake=0.5", 24, func(s store.Session) bool { return s.Uptake >= 0.5 }},
		{"combined", "rep=Ben&min_stage=future&min_uptake=0.5", 8, func(s store.Session) bool { return s.Rep == "Ben" && s.Uptake >= 0.5 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p store.Page
			getJSON(t, base, "/v1/sessions?limit=100&"+c.query, &p)
			if p.Total != c.want || len(p.Sessions) != c.want {
				t.Fatalf("total %d, %d sessions, want %d", p.Total, len(p.Sessions), c.want)
			}
			for _, s := range p.Sessions {
				if !c.check(s) {
					t.Fatalf("session %+v does not match %s", s, c.query)
				}
			}
		})
	}
	t.Run("reps", func(t *testing.T) {
		var reps []string
		getJSON(t, base, "/v1/reps", &reps)
		if !slices.Equal(reps, []string{"Ana", "Ben", "Cleo"}) {
			t.Fatalf("reps %v", reps)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		resp, err := authGet(base + "/v1/sessions?min_stage=closing")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// storeTranscriptCall stores the short call, analyzed from its transcript,
// as an ended session and returns its id and events.
func storeTranscriptCall(tb testing.TB, db *store.DB) (string, []coach.Event) {
	tb.Helper()
	ctx := context.Background()
	f, err := os.Open("testdata/short-call.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	pb, _ := coach.DefaultPlaybook()
	var evs []coach.Event
	if err := stream.AnalyzeTranscript(ctx, f, "short-call.jsonl", pb, func(ev coach.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	ses, err := db.CreateSession(ctx, store.NewSession{Rep: "Ana", Title: "short call", Consent: true,
		ConsentText: "This call is recorded.", ConsentPolicy: store.PolicyAllParty, ConsentVersion: 3})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.AppendEvents(ctx, ses.ID, 1, evs); err != nil {
		tb.Fatal(err)
	}
	if err := db.EndSession(ctx, ses.ID, evs[len(evs)-1].Summary); err != nil {
		tb.Fatal(err)
	}
	return ses.ID, evs
}

type replayAnswer struct {
	Session  store.Session                   `json:"session"`
	Events   []map[string]any                `json:"events"`
	Talk     [][5]float64                    `json:"talk"`
	Comments []store.Comment                 `json:"comments"`
	Audio    map[string]bool                 `json:"audio"`
	Playbook struct{ Talk coach.TalkConfig } `json:"playbook"`
}

// TestReplayAndTranscript checks the replay page's one request and the
// transcript export.
func TestReplayAndTranscript(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	id, evs := storeTranscriptCall(t, ts.db)
	ctx := context.Background()
	// A partial transcript, which the replay leaves out.
	last := evs[len(evs)-1]
	partial := coach.Event{Type: coach.EventTranscript, AtMS: last.AtMS, Speaker: coach.Rep, StartMS: 1, EndMS: 2, Text: "half a thought"}
	if err := ts.db.AppendEvents(ctx, id, int64(len(evs)+1), []coach.Event{partial}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.AddComment(ctx, id, 9000, "good question here", "coach", ""); err != nil {
		t.Fatal(err)
	}
	var r replayAnswer
	getJSON(t, ts.ts.URL, "/v1/sessions/"+id+"/replay", &r)
	if r.Session.Summary == nil || r.Session.ID != id {
		t.Fatalf("session %+v", r.Session)
	}
	types := map[string]int{}
	for _, ev := range r.Events {
		types[ev["type"].(string)]++
		if ev["type"] == "transcript" && ev["final"] != true {
			t.Fatalf("partial transcript in the replay: %v", ev)
		}
	}
	if types["talk"] != 0 || types["transcript"] != 6 || types["speech"] != 6 || types["cue"] == 0 || types["summary"] != 1 {
		t.Fatalf("event types %v", types)
	}
	if len(r.Talk) == 0 || len(r.Talk) > 800 || r.Talk[len(r.Talk)-1][0] < float64(r.Session.DurationMS-1000) {
		t.Fatalf("%d talk points, last %v, duration %d", len(r.Talk), r.Talk[len(r.Talk)-1], r.Session.DurationMS)
	}
	if len(r.Comments) != 1 || r.Comments[0].Text != "good question here" {
		t.Fatalf("comments %+v", r.Comments)
	}
	if r.Audio["rep"] || r.Audio["prospect"] || r.Playbook.Talk.HealthyRepShare[1] == 0 {
		t.Fatalf("audio %v, talk %+v", r.Audio, r.Playbook.Talk)
	}

	resp, err := authGet(ts.ts.URL + "/v1/sessions/" + id + "/transcript")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[1], "# consent (all-party, version 3, confirmed ") ||
		!strings.HasSuffix(lines[1], "): This call is recorded.") ||
		!strings.HasPrefix(lines[2], "[0:00] rep: Thanks for making time today.") ||
		!strings.HasPrefix(lines[3], "[0:08] prospect: Honestly the big problem is scheduling.") || strings.Contains(text, "half a thought") {
		t.Fatalf("transcript:\n%s", text)
	}
	resp, err = authGet(ts.ts.URL + "/v1/sessions/nope/transcript")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown session: %d", resp.StatusCode)
	}
}

// postBacktest posts a backtest request and decodes the answer.
func postBacktest(tb testing.TB, base string, req map[string]any) (int, map[string]any) {
	tb.Helper()
	b, _ := json.Marshal(req)
	resp, err := authPost(base+"/v1/backtest", "application/json", bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, out
}

// TestBacktest re-runs a stored session through the default playbook (no
// change), through one without future_forward (removed), and a broken one
// (its line), and checks that the stored session is untouched.
func TestBacktest(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	id, evs := storeTranscriptCall(t, ts.db)
	fired := map[string]int{}
	for _, ev := range evs {
		if ev.Type == coach.EventCue {
			fired[ev.Cue]++
		}
	}
	if fired["future_forward"] == 0 {
		t.Fatalf("the short call fires no future_forward: %v", fired)
	}
	src := string(coach.DefaultPlaybookYAML())
	const ffWhen = `when: u.concrete_pain && !state.asked_future`
	if !strings.Contains(src, ffWhen) {
		t.Fatal("default playbook changed: update the test")
	}
	before := storedEvents(t, ts, id)

	session := func(out map[string]any) map[string]any {
		t.Helper()
		ss := out["sessions"].([]any)
		if len(ss) != 1 {
			t.Fatalf("sessions %v", out)
		}
		return ss[0].(map[string]any)
	}
	t.Run("same playbook", func(t *testing.T) {
		code, out := postBacktest(t, ts.ts.URL, map[string]any{"playbook": src, "session_ids": []string{id}})
		s := session(out)
		if code != 200 || len(s["added"].([]any))+len(s["removed"].([]any))+len(s["moved"].([]any)) != 0 ||
			s["same"].(float64) != s["stored"].(float64) {
			t.Fatalf("%d %v", code, s)
		}
	})
	t.Run("future_forward never fires", func(t *testing.T) {
		edited := strings.Replace(src, ffWhen, `when: 1 == 2`, 1)
		code, out := postBacktest(t, ts.ts.URL, map[string]any{"playbook": edited, "filter": "rep=Ana"})
		s := session(out)
		removed := s["removed"].([]any)
		if code != 200 || len(removed) != fired["future_forward"] || len(s["added"].([]any)) != 0 {
			t.Fatalf("%d %v", code, s)
		}
		for _, c := range removed {
			if c.(map[string]any)["cue"] != "future_forward" {
				t.Fatalf("removed %v", c)
			}
		}
	})
	t.Run("broken playbook", func(t *testing.T) {
		lines := strings.Split(src, "\n")
		n := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "priority: 2" })
		lines[n] = strings.Replace(lines[n], "2", "two", 1)
		code, out := postBacktest(t, ts.ts.URL, map[string]any{"playbook": strings.Join(lines, "\n"), "session_ids": []string{id}})
		if code != http.StatusUnprocessableEntity || out["line"] != float64(n+1) || out["error"] == "" {
			t.Fatalf("%d %v, want line %d", code, out, n+1)
		}
	})
	t.Run("no sessions", func(t *testing.T) {
		code, out := postBacktest(t, ts.ts.URL, map[string]any{"playbook": src})
		if code != http.StatusBadRequest || out["error"] == "" {
			t.Fatalf("%d %v", code, out)
		}
	})
	after := storedEvents(t, ts, id)
	if len(after) != len(before) {
		t.Fatalf("the backtest changed the stored events: %d then %d", len(before), len(after))
	}

	resp, err := authGet(ts.ts.URL + "/v1/playbook/source")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != src {
		t.Fatalf("playbook source: %s, %d bytes", resp.Status, len(b))
	}
}

// upload posts files (field name to path) as multipart to /v1/uploads.
func upload(tb testing.TB, base string, files map[string]string, fields map[string]string) (int, map[string]any) {
	tb.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if _, ok := fields["consent"]; !ok {
		fields = maps.Clone(fields)
		if fields == nil {
			fields = map[string]string{}
		}
		fields["consent"], fields["consent_text"] = "true", "the callers were told this call is recorded"
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for field, path := range files {
		w, err := mw.CreateFormFile(field, filepath.Base(path))
		if err != nil {
			tb.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
	}
	mw.Close()
	resp, err := authPost(base+"/v1/uploads", mw.FormDataContentType(), &body)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, out
}

// waitUpload polls the upload's progress until it is no longer analyzing.
func waitUpload(tb testing.TB, base, id string) store.Upload {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var u store.Upload
		getJSON(tb, base, "/v1/uploads/"+id, &u)
		if u.State != store.UploadAnalyzing {
			return u
		}
		if time.Now().After(deadline) {
			tb.Fatalf("upload still analyzing: %+v", u)
		}
		time.Sleep(50 * time.Millisecond) // polling the API, as the page does
	}
}

// TestUpload analyzes a stereo file and a pair of files into sessions
// like live ones.
func TestUpload(t *testing.T) {
	needCall(t)
	ts := newTestServer(t, t.TempDir(), nil, recognizer)
	for _, c := range []struct {
		name  string
		files map[string]string
	}{
		{"stereo", map[string]string{"stereo": filepath.Join(callDir, "stereo.wav")}},
		{"pair", map[string]string{"rep": rep(), "prospect": prospect()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := upload(t, ts.ts.URL, c.files, map[string]string{"rep_name": "Dee", "title": "uploaded " + c.name})
			if code != http.StatusAccepted {
				t.Fatalf("%d %v", code, out)
			}
			id := out["id"].(string)
			if u := waitUpload(t, ts.ts.URL, id); u.State != store.UploadDone || u.DoneMS != u.TotalMS || u.TotalMS < 40000 {
				t.Fatalf("upload %+v", u)
			}
			var ses store.Session
			getJSON(t, ts.ts.URL, "/v1/sessions/"+id, &ses)
			if ses.Source != store.SourceUpload || ses.Status != store.StatusEnded || ses.Rep != "Dee" || ses.Summary == nil ||
				ses.CuesFired == 0 || ses.FurthestStage == "" {
				t.Fatalf("session %+v", ses)
			}
			evs := storedEvents(t, ts, id)
			if n := len(filter(evs, coach.EventTranscript)); n < 6 {
				t.Fatalf("%d transcripts", n)
			}
			for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
				rec, err := ts.db.Recording(context.Background(), id, sp)
				if err != nil {
					t.Fatal(err)
				}
				checkPrivate(t, rec.Path)
			}
			req, _ := http.NewRequest("GET", ts.ts.URL+"/v1/sessions/"+id+"/audio?speaker=prospect", nil)
			req.Header.Set("Range", "bytes=0-43")
			resp, err := authDo(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || len(b) != 44 || string(b[:4]) != "RIFF" {
				t.Fatalf("audio range: %s, %d bytes", resp.Status, len(b))
			}
		})
	}
}

// TestUploadBadFiles checks that a bad upload is a 4xx with a clear error
// and leaves nothing behind: no session, no files.
func TestUploadBadFiles(t *testing.T) {
	dir := t.TempDir()
	ts := newTestServer(t, dir, nil, nil)
	notWAV := filepath.Join(t.TempDir(), "notes.wav")
	os.WriteFile(notWAV, []byte("these are my notes, not audio"), 0o644)
	mono := filepath.Join(t.TempDir(), "mono.wav")
	if err := audio.WriteWAVFile(mono, 16000, 1, make([]float32, 16000)); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.wav")
	good, _ := os.ReadFile(mono)
	os.WriteFile(truncated, good[:30], 0o644)
	for _, c := range []struct {
		name   string
		files  map[string]string
		fields map[string]string
		want   string
	}{
		{"not WAV", map[string]string{"stereo": notWAV}, nil, "stereo: "},
		{"mono as stereo", map[string]string{"stereo": mono}, nil, "2 channels"},
		{"truncated header", map[string]string{"rep": truncated, "prospect": mono}, nil, "rep: "},
		{"one side only", map[string]string{"rep": mono}, nil, "rep and prospect go together"},
		{"no file", nil, map[string]string{"title": "x"}, "no recording"},
		{"both kinds", map[string]string{"stereo": mono, "rep": mono, "prospect": mono}, nil, "either stereo"},
		{"unknown field", map[string]string{"left": mono}, nil, "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := upload(t, ts.ts.URL, c.files, c.fields)
			msg, _ := out["error"].(string)
			if code != http.StatusBadRequest || !strings.Contains(msg, c.want) || strings.Contains(msg, dir) {
				t.Fatalf("%d %q, want 400 containing %q", code, msg, c.want)
			}
		})
	}
	var p store.Page
	getJSON(t, ts.ts.URL, "/v1/sessions", &p)
	if p.Total != 0 {
		t.Fatalf("%d sessions stored after bad uploads", p.Total)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "upload-*"))
	audio, _ := os.ReadDir(filepath.Join(dir, "audio"))
	if len(left) > 0 || len(audio) > 0 {
		t.Fatalf("left behind: %v, audio %d", left, len(audio))
	}
	resp, err := authPost(ts.ts.URL+"/v1/uploads", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON body: %d", resp.StatusCode)
	}
}

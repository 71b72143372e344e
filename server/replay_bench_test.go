package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// getOK GETs url and drains a 200 answer.
func getOK(tb testing.TB, url string) {
	resp, err := authGet(url)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
}

// BenchmarkLibraryPage times the library page's request, GET
// /v1/sessions (one page of 50 with the total), with 10,000 sessions stored.
func BenchmarkLibraryPage(b *testing.B) {
	ts := newTestServer(b, b.TempDir(), nil, nil)
	seedLibrary(b, ts.db, 10000)
	var first store.Page
	getJSON(b, ts.ts.URL, "/v1/sessions?limit=50", &first)
	for _, c := range []struct{ name, query string }{
		{"newest", "limit=50"},
		{"next page", "limit=50&cursor=" + first.NextCursor},
		{"rep and dates", "limit=50&rep=Ben&from=2025-03-10&to=2025-09-01"},
		{"stage and uptake by uptake", "limit=50&min_stage=future&min_uptake=0.5&sort=uptake"},
		{"by rep share ascending", "limit=50&sort=rep_share&order=asc"},
	} {
		b.Run(c.name, func(b *testing.B) {
			url := ts.ts.URL + "/v1/sessions?" + c.query
			for b.Loop() {
				getOK(b, url)
			}
		})
	}
}

// seedLongCall stores a 60-minute call's worth of events: talk every
// 500 ms, an utterance every 5 s with its speech, three partials and the
// final, a stage every 10 minutes and a cue with its outcome every 2.
func seedLongCall(tb testing.TB, db *store.DB) string {
	tb.Helper()
	ctx := context.Background()
	ses, err := db.CreateSession(ctx, store.NewSession{Rep: "Ana", Title: "an hour"})
	if err != nil {
		tb.Fatal(err)
	}
	const hour = int64(time.Hour / time.Millisecond)
	var evs []coach.Event
	stages := []string{"rapport", "discovery", "future", "relationship", "commitment"}
	sp := []coach.Speaker{coach.Rep, coach.Prospect}
	text := "so tell me a little more about how the crews are scheduled today and what happens when one is late"
	for t := int64(0); t < hour; t += 500 {
		evs = append(evs, coach.Event{Type: coach.EventTalk, AtMS: t, Talk: coach.Talk{RepMS: t / 2, ProspectMS: t / 2,
			RepShare: 0.5, WindowRepShare: 0.45, MonologueSpeaker: coach.Rep, MonologueMS: 3000}})
		if t%5000 == 0 {
			s := sp[(t/5000)%2]
			for p := int64(1); p <= 3; p++ {
				evs = append(evs, coach.Event{Type: coach.EventTranscript, AtMS: t - 5000 + p*1000, Speaker: s, StartMS: t - 4500, Text: text[:30*p]})
			}
			evs = append(evs, coach.Event{Type: coach.EventSpeech, AtMS: t, Speaker: s, StartMS: t - 4500, EndMS: t},
				coach.Event{Type: coach.EventTranscript, AtMS: t + 250, Speaker: s, StartMS: t - 4500, EndMS: t, Text: text, Final: true})
		}
		if t%600000 == 0 && int(t/600000) < len(stages) {
			evs = append(evs, coach.Event{Type: coach.EventStage, AtMS: t, Stage: stages[t/600000], Evidence: text})
		}
		if t%120000 == 60000 {
			id := fmt.Sprintf("c%d", t/120000+1)
			evs = append(evs, coach.Event{Type: coach.EventCue, AtMS: t, ID: id, Cue: "future_forward", Title: "Bring the future forward",
				Body: "Ask them to picture it fixed.", Evidence: text, Priority: 2},
				coach.Event{Type: coach.EventOutcome, AtMS: t + 20000, ID: id, Cue: "future_forward", Taken: t%240000 == 60000})
		}
	}
	for i := 0; i < len(evs); i += 1000 {
		if err := db.AppendEvents(ctx, ses.ID, int64(i+1), evs[i:min(i+1000, len(evs))]); err != nil {
			tb.Fatal(err)
		}
	}
	sum := &coach.Summary{Metrics: coach.Metrics{DurationMS: hour, RepShare: 0.5, FurthestStage: "commitment", CuesFired: 30, CuesTaken: 15, Uptake: 0.5}}
	if err := db.EndSession(ctx, ses.ID, sum); err != nil {
		tb.Fatal(err)
	}
	for i := range 20 {
		if _, err := db.AddComment(ctx, ses.ID, int64(i)*180000, "a note", "coach", ""); err != nil {
			tb.Fatal(err)
		}
	}
	return ses.ID
}

// BenchmarkReplay60Min times GET /v1/sessions/{id}/replay for a
// 60-minute call (about 11,000 stored events).
func BenchmarkReplay60Min(b *testing.B) {
	ts := newTestServer(b, b.TempDir(), nil, nil)
	id := seedLongCall(b, ts.db)
	url := ts.ts.URL + "/v1/sessions/" + id + "/replay"
	b.ReportAllocs()
	for b.Loop() {
		getOK(b, url)
	}
}

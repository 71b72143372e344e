package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/store/storetest"
)

func openDB(tb testing.TB, dir string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func newSession(tb testing.TB, db *store.DB, n store.NewSession) store.Session {
	tb.Helper()
	s, err := db.CreateSession(context.Background(), n)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func summary(durMS int64, share, uptake float64, stage string, fired, taken int) *coach.Summary {
	return &coach.Summary{
		Metrics: coach.Metrics{DurationMS: durMS, RepShare: share, Uptake: uptake, FurthestStage: stage,
			CuesFired: fired, CuesTaken: taken, LongestRepMonologueMS: durMS / 10},
		Stages: []coach.StageSpan{{Stage: "rapport", StartMS: 0, EndMS: durMS}},
		Cues:   []coach.CueRecord{{ID: "c1", Cue: "future_forward", Title: "t", AtMS: 10, Outcome: "taken"}},
	}
}

// count runs a COUNT query, written with ? placeholders, on the engine's
// database directly, for checks the API does not offer (what is left in a
// table).
func count(tb testing.TB, e storetest.Env, raw *sql.DB, query string, args ...any) int {
	tb.Helper()
	if e.Engine == storetest.Postgres {
		query = store.Rebind(query)
	}
	var n int
	if err := raw.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestOpenMigratesOnceAndUsesWAL(t *testing.T) { storetest.Run(t, testOpenMigratesOnceAndUsesWAL) }

func testOpenMigratesOnceAndUsesWAL(t *testing.T, engine string) {
	env := storetest.New(t, engine)
	dir := env.Dir
	ctx := context.Background()
	db := env.Open(t)
	s := newSession(t, db, store.NewSession{Rep: "ann"})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = env.Open(t) // reopening must not re-apply the migrations
	if _, err := db.GetSession(ctx, s.ID); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "audio")); err != nil || !fi.IsDir() {
		t.Fatalf("audio dir: %v", err)
	}
	raw := env.Raw(t)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	if n := count(t, env, raw, `SELECT COUNT(*) FROM schema_migrations`); n != len(files) {
		t.Errorf("schema_migrations rows = %d, want %d (one per migration)", n, len(files))
	}
	if engine != storetest.SQLite {
		return
	}
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestSessionLifecycle(t *testing.T) { storetest.Run(t, testSessionLifecycle) }

func testSessionLifecycle(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	consentAt := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	s := newSession(t, db, store.NewSession{
		Rep: "ann", Title: "Acme intro", Source: store.SourceLive, Consent: true,
		ConsentText: "This call is coached.", ConsentAt: consentAt, SampleRate: 16000, Backend: "vosk", Team: "emea",
	})
	if len(s.ID) != 12 || s.Status != store.StatusCreated || s.CreatedAt.IsZero() {
		t.Fatalf("created %+v", s)
	}
	if err := db.MarkLive(ctx, s.ID, 48000); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkLive(ctx, s.ID, 0); err != nil { // reconnect
		t.Fatal(err)
	}
	live, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if live.Status != store.StatusLive || live.SampleRate != 48000 || live.StartedAt.IsZero() || live.Summary != nil {
		t.Fatalf("live %+v", live)
	}
	sum := summary(600000, 0.41, 0.5, "future", 4, 2)
	if err := db.EndSession(ctx, s.ID, sum); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := s
	want.Status, want.SampleRate, want.StartedAt, want.EndedAt = store.StatusEnded, 48000, live.StartedAt, got.EndedAt
	want.DurationMS, want.RepShare, want.Uptake, want.FurthestStage = 600000, 0.41, 0.5, "future"
	want.CuesFired, want.CuesTaken, want.LongestRepMonologueMS = 4, 2, 60000
	want.Summary = sum
	if got.EndedAt.IsZero() || !reflect.DeepEqual(got, want) {
		t.Fatalf("ended session\n got %+v\nwant %+v", got, want)
	}
	if err := db.EndSession(ctx, s.ID, summary(1, 0, 0, "", 0, 0)); !errors.Is(err, store.ErrEnded) {
		t.Errorf("second EndSession: %v, want ErrEnded", err)
	}
	if err := db.MarkLive(ctx, s.ID, 0); !errors.Is(err, store.ErrEnded) {
		t.Errorf("MarkLive after end: %v, want ErrEnded", err)
	}
}

func TestSessionErrors(t *testing.T) { storetest.Run(t, testSessionErrors) }

func testSessionErrors(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"get unknown", func() error { _, err := db.GetSession(ctx, "nope"); return err }(), store.ErrNotFound},
		{"live unknown", db.MarkLive(ctx, "nope", 0), store.ErrNotFound},
		{"end unknown", db.EndSession(ctx, "nope", nil), store.ErrNotFound},
		{"delete unknown", db.DeleteSession(ctx, "nope"), store.ErrNotFound},
		{"bad source", func() error { _, err := db.CreateSession(ctx, store.NewSession{Source: "tape"}); return err }(), store.ErrInvalid},
		{"long rep", func() error {
			_, err := db.CreateSession(ctx, store.NewSession{Rep: strings.Repeat("x", 201)})
			return err
		}(), store.ErrInvalid},
		{"negative rate", func() error { _, err := db.CreateSession(ctx, store.NewSession{SampleRate: -1}); return err }(), store.ErrInvalid},
		{"bad sort", func() error { _, err := db.ListSessions(ctx, store.ListFilter{Sort: "rep"}); return err }(), store.ErrInvalid},
		{"bad stage", func() error { _, err := db.ListSessions(ctx, store.ListFilter{MinStage: "closing"}); return err }(), store.ErrInvalid},
		{"cursor and offset", func() error {
			_, err := db.ListSessions(ctx, store.ListFilter{Cursor: "x", Offset: 2})
			return err
		}(), store.ErrInvalid},
		{"garbage cursor", func() error { _, err := db.ListSessions(ctx, store.ListFilter{Cursor: "!!"}); return err }(), store.ErrBadCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func TestEndSessionWithoutSummaryTakesLastEvent(t *testing.T) {
	storetest.Run(t, testEndSessionWithoutSummaryTakesLastEvent)
}

func testEndSessionWithoutSummaryTakesLastEvent(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	s := newSession(t, db, store.NewSession{})
	if err := db.AppendEvents(ctx, s.ID, 1, []coach.Event{{Type: coach.EventTalk, AtMS: 500}, {Type: coach.EventTalk, AtMS: 73500}}); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, s.ID, nil); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DurationMS != 73500 || got.Status != store.StatusEnded || got.Summary != nil {
		t.Fatalf("got %+v", got)
	}
}

// seed is a session as seeded for the list tests, with the values the
// filters and sorts look at.
type seed struct {
	id      string
	rep     string
	created time.Time
	source  string
	ended   bool
	dur     int64
	share   float64
	uptake  float64
	stage   string
}

var stages = []string{"", "rapport", "discovery", "future", "relationship", "commitment"}

func seedSessions(tb testing.TB, db *store.DB, n int) []seed {
	tb.Helper()
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	reps := []string{"ann", "bob", "cho", "dev", "eve"}
	seeds := make([]seed, n)
	for i := range seeds {
		sd := seed{
			rep: reps[i%len(reps)],
			// Every third session shares its timestamp with the one
			// before, so ties must be broken by id.
			created: base.Add(time.Duration(i-i%3/2) * 37 * time.Minute),
			source:  []string{store.SourceLive, store.SourceUpload}[i%7/6],
			ended:   i%11 != 0,
		}
		s := newSession(tb, db, store.NewSession{Rep: sd.rep, Title: fmt.Sprint("call ", i), Source: sd.source, CreatedAt: sd.created})
		sd.id = s.ID
		if sd.ended {
			sd.dur = int64(60000 + (i*7919)%3600000)
			sd.share = float64((i*31)%100) / 100
			sd.uptake = float64((i*17)%5) / 4
			sd.stage = stages[(i*13)%len(stages)]
			if err := db.EndSession(ctx, s.ID, summary(sd.dur, sd.share, sd.uptake, sd.stage, 4, int(sd.uptake*4))); err != nil {
				tb.Fatal(err)
			}
		}
		seeds[i] = sd
	}
	return seeds
}

func stageIndex(s string) int { return slices.Index(stages, s) }

// expect is the reference implementation of ListSessions' filter and sort.
func expect(seeds []seed, f store.ListFilter) []string {
	var out []seed
	for _, s := range seeds {
		switch {
		case f.Rep != "" && s.rep != f.Rep,
			!f.From.IsZero() && s.created.Before(f.From),
			!f.To.IsZero() && !s.created.Before(f.To),
			f.Stage != "" && s.stage != f.Stage,
			f.MinStage != "" && stageIndex(s.stage) < stageIndex(f.MinStage),
			f.MinUptake > 0 && s.uptake < f.MinUptake,
			f.Source != "" && s.source != f.Source,
			f.Status == store.StatusEnded && !s.ended:
			continue
		}
		out = append(out, s)
	}
	key := func(s seed) float64 {
		switch f.Sort {
		case store.SortDuration:
			return float64(s.dur)
		case store.SortRepShare:
			return s.share
		case store.SortUptake:
			return s.uptake
		default:
		}
		return float64(s.created.UnixMilli())
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		less := key(a) < key(b) || key(a) == key(b) && a.id < b.id
		if f.Asc {
			return less
		}
		return !less && (key(a) != key(b) || a.id != b.id)
	})
	ids := make([]string, len(out))
	for i, s := range out {
		ids[i] = s.id
	}
	return ids
}

func ids(ss []store.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestListSessionsFilterSortPage(t *testing.T) { storetest.Run(t, testListSessionsFilterSortPage) }

func testListSessionsFilterSortPage(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	seeds := seedSessions(t, db, 120)
	mid := seeds[40].created
	tests := []struct {
		name string
		f    store.ListFilter
	}{
		{"newest first", store.ListFilter{}},
		{"oldest first", store.ListFilter{Asc: true}},
		{"by rep", store.ListFilter{Rep: "bob"}},
		{"date range", store.ListFilter{From: mid, To: mid.Add(24 * time.Hour)}},
		{"rep and date by uptake", store.ListFilter{Rep: "ann", From: mid, Sort: store.SortUptake}},
		{"exact stage", store.ListFilter{Stage: "discovery"}},
		{"stage reached by share", store.ListFilter{MinStage: "future", Sort: store.SortRepShare, Asc: true}},
		{"min uptake by duration", store.ListFilter{MinUptake: 0.5, Sort: store.SortDuration}},
		{"uploads", store.ListFilter{Source: store.SourceUpload}},
		{"ended by duration asc", store.ListFilter{Status: store.StatusEnded, Sort: store.SortDuration, Asc: true}},
		{"nothing matches", store.ListFilter{Rep: "zed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := expect(seeds, tt.f)
			// Keyset paging through everything.
			var got []string
			f := tt.f
			f.Limit = 7
			for range 100 {
				p, err := db.ListSessions(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != len(want) {
					t.Fatalf("total = %d, want %d", p.Total, len(want))
				}
				if len(p.Sessions) > 7 || p.NextCursor != "" && len(p.Sessions) != 7 {
					t.Fatalf("page of %d with cursor %q", len(p.Sessions), p.NextCursor)
				}
				got = append(got, ids(p.Sessions)...)
				if p.NextCursor == "" {
					break
				}
				f.Cursor = p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("keyset pages\n got %v\nwant %v", got, want)
			}
			// Offset paging: the third page.
			f = tt.f
			f.Limit, f.Offset = 5, 10
			p, err := db.ListSessions(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			wantPage := want[min(10, len(want)):min(15, len(want))]
			if !slices.Equal(ids(p.Sessions), wantPage) {
				t.Fatalf("offset page\n got %v\nwant %v", ids(p.Sessions), wantPage)
			}
		})
	}

	t.Run("list has metrics but no summary", func(t *testing.T) {
		p, err := db.ListSessions(ctx, store.ListFilter{Status: store.StatusEnded, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		s := p.Sessions[0]
		if s.Summary != nil || s.DurationMS == 0 || s.Rep == "" || s.CuesFired != 4 {
			t.Fatalf("listed %+v", s)
		}
	})
	t.Run("cursor of another sort is rejected", func(t *testing.T) {
		p, err := db.ListSessions(ctx, store.ListFilter{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ListSessions(ctx, store.ListFilter{Limit: 3, Sort: store.SortUptake, Cursor: p.NextCursor})
		if !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("err = %v, want ErrBadCursor", err)
		}
	})
	t.Run("limit is capped", func(t *testing.T) {
		p, err := db.ListSessions(ctx, store.ListFilter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Sessions) != 120 || p.NextCursor != "" {
			t.Fatalf("got %d, cursor %q", len(p.Sessions), p.NextCursor)
		}
	})
}

func events(n int) []coach.Event {
	evs := make([]coach.Event, n)
	for i := range evs {
		at := int64(i) * 300
		switch i % 4 {
		case 0:
			evs[i] = coach.Event{Type: coach.EventTalk, AtMS: at, Talk: coach.Talk{RepMS: at / 2, ProspectMS: at / 3, RepShare: 0.6, WindowRepShare: 0.7, MonologueSpeaker: coach.Rep, MonologueMS: 1200}}
		case 1:
			evs[i] = coach.Event{Type: coach.EventSpeech, AtMS: at, Speaker: coach.Prospect, StartMS: at - 2000, EndMS: at}
		case 2:
			evs[i] = coach.Event{Type: coach.EventTranscript, AtMS: at, Speaker: coach.Prospect, StartMS: at - 2000, EndMS: at,
				Text: fmt.Sprintf("we lose about %d hours a week \"reconciling\" invoices by hand", i), Final: true}
		case 3:
			evs[i] = coach.Event{Type: coach.EventCue, AtMS: at, ID: fmt.Sprint("c", i), Cue: "future_forward", Title: "Bring the future forward",
				Body: "What would it mean for you if that were solved?", Evidence: "by hand", Priority: 2, Speaker: coach.Prospect, StartMS: at - 2000, EndMS: at}
		}
	}
	return evs
}

// readAll returns the session's stored events after afterSeq as JSONL and
// their sequence numbers.
func readAll(tb testing.TB, db *store.DB, id string, afterSeq int64) ([]int64, []byte) {
	tb.Helper()
	var (
		seqs []int64
		buf  bytes.Buffer
	)
	err := db.ReadEvents(context.Background(), id, afterSeq, func(seq int64, data []byte) error {
		seqs = append(seqs, seq)
		buf.Write(data)
		buf.WriteByte('\n')
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return seqs, buf.Bytes()
}

func jsonl(tb testing.TB, evs []coach.Event) []byte {
	tb.Helper()
	var buf bytes.Buffer
	for _, e := range evs {
		b, err := e.MarshalJSON()
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func TestEventsAppendReadIdempotent(t *testing.T) { storetest.Run(t, testEventsAppendReadIdempotent) }

func testEventsAppendReadIdempotent(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	s := newSession(t, db, store.NewSession{})
	evs := events(450) // more than one multi-row INSERT
	if seq, err := db.LastSeq(ctx, s.ID); err != nil || seq != 0 {
		t.Fatalf("LastSeq of empty session = %d, %v", seq, err)
	}
	if err := db.AppendEvents(ctx, s.ID, 1, evs[:300]); err != nil {
		t.Fatal(err)
	}
	// A reconnecting client re-sends an overlapping batch: 251..450.
	if err := db.AppendEvents(ctx, s.ID, 251, evs[250:]); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(ctx, s.ID, 1, evs[:10]); err != nil { // a full duplicate
		t.Fatal(err)
	}
	seqs, got := readAll(t, db, s.ID, 0)
	if want := jsonl(t, evs); !bytes.Equal(got, want) {
		t.Fatalf("stored JSONL differs from MarshalJSON's:\n got %.300s\nwant %.300s", got, want)
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("seq[%d] = %d", i, seq)
		}
	}
	if seq, err := db.LastSeq(ctx, s.ID); err != nil || seq != 450 {
		t.Fatalf("LastSeq = %d, %v; want 450", seq, err)
	}
	// Each stored line decodes to the event that was appended.
	lines := bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n"))
	for i, line := range lines {
		var e coach.Event
		if err := e.UnmarshalJSON(line); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e, evs[i]) {
			t.Fatalf("event %d: got %+v, want %+v", i+1, e, evs[i])
		}
	}
	seqs, _ = readAll(t, db, s.ID, 445)
	if !slices.Equal(seqs, []int64{446, 447, 448, 449, 450}) {
		t.Fatalf("after 445: %v", seqs)
	}

	t.Run("errors", func(t *testing.T) {
		if err := db.AppendEvents(ctx, "nope", 1, evs[:1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("append to unknown session: %v", err)
		}
		if err := db.AppendEvents(ctx, s.ID, 0, evs[:1]); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("seq 0: %v", err)
		}
		if err := db.ReadEvents(ctx, "nope", 0, func(int64, []byte) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("read unknown session: %v", err)
		}
		if _, err := db.LastSeq(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LastSeq of unknown session: %v", err)
		}
		stop := errors.New("stop")
		n := 0
		err := db.ReadEvents(ctx, s.ID, 0, func(int64, []byte) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("callback error: %v after %d calls", err, n)
		}
	})
}

func TestConcurrentAppendsAndReads(t *testing.T) { storetest.Run(t, testConcurrentAppendsAndReads) }

func testConcurrentAppendsAndReads(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	const (
		sessions = 8
		batches  = 40
		perBatch = 15
	)
	evs := events(batches * perBatch)
	ss := make([]store.Session, sessions)
	for i := range ss {
		ss[i] = newSession(t, db, store.NewSession{Rep: fmt.Sprint("rep", i)})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, s := range ss {
		wg.Go(func() {
			for b := range batches {
				lo := b * perBatch
				if err := db.AppendEvents(ctx, s.ID, int64(lo+1), evs[lo:lo+perBatch]); err != nil {
					report(err)
					return
				}
			}
		})
		// A viewer reads and lists while the writers write.
		wg.Go(func() {
			for range batches / 4 {
				last := int64(0)
				err := db.ReadEvents(ctx, s.ID, 0, func(seq int64, _ []byte) error {
					if seq != last+1 {
						return fmt.Errorf("seq %d after %d", seq, last)
					}
					last = seq
					return nil
				})
				if err == nil {
					_, err = db.ListSessions(ctx, store.ListFilter{Rep: s.Rep})
				}
				if err != nil {
					report(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	want := jsonl(t, evs)
	for _, s := range ss {
		if _, got := readAll(t, db, s.ID, 0); !bytes.Equal(got, want) {
			t.Errorf("session %s: events differ", s.ID)
		}
	}
}

func TestComments(t *testing.T) { storetest.Run(t, testComments) }

func testComments(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	s := newSession(t, db, store.NewSession{})
	other := newSession(t, db, store.NewSession{})

	c2, err := db.AddComment(ctx, s.ID, 9000, "  missed the ask here ", "coach", "")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := db.AddComment(ctx, s.ID, 1500, "good opener", "coach", "")
	if err != nil {
		t.Fatal(err)
	}
	if c2.Text != "missed the ask here" || c2.ID == "" || c2.CreatedAt.IsZero() || c2.SessionID != s.ID {
		t.Fatalf("added %+v", c2)
	}
	got, err := db.Comments(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []store.Comment{c1, c2}) {
		t.Fatalf("comments by at_ms\n got %+v\nwant %+v", got, []store.Comment{c1, c2})
	}

	text, at := "missed the ask", int64(9100)
	up, err := db.UpdateComment(ctx, s.ID, c2.ID, store.CommentPatch{Text: &text, AtMS: &at})
	if err != nil {
		t.Fatal(err)
	}
	if up.Text != text || up.AtMS != at || up.CreatedAt != c2.CreatedAt || up.Author != "coach" {
		t.Fatalf("updated %+v", up)
	}
	if g, err := db.GetComment(ctx, s.ID, c2.ID); err != nil || !reflect.DeepEqual(g, up) {
		t.Fatalf("after update got %+v, %v; want %+v", g, err, up)
	}
	if _, err := db.GetComment(ctx, other.ID, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("comment through another session: %v", err)
	}
	if err := db.DeleteComment(ctx, other.ID, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete through another session: %v", err)
	}
	if err := db.DeleteComment(ctx, s.ID, c2.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteComment(ctx, s.ID, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if got, err := db.Comments(ctx, s.ID); err != nil || len(got) != 1 || got[0].ID != c1.ID {
		t.Fatalf("after delete: %+v, %v", got, err)
	}
	if got, err := db.Comments(ctx, other.ID); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("no comments: %#v, %v", got, err)
	}

	empty, neg, long := "  ", int64(-1), strings.Repeat("é", store.MaxCommentLen+1)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"empty text", func() error { _, err := db.AddComment(ctx, s.ID, 0, " \n", "", ""); return err }(), store.ErrEmptyText},
		{"negative at_ms", func() error { _, err := db.AddComment(ctx, s.ID, -5, "x", "", ""); return err }(), store.ErrNegativeTime},
		{"too long", func() error { _, err := db.AddComment(ctx, s.ID, 0, long, "", ""); return err }(), store.ErrTextTooLong},
		{"author too long", func() error {
			_, err := db.AddComment(ctx, s.ID, 0, "x", strings.Repeat("a", store.MaxAuthorLen+1), "")
			return err
		}(), store.ErrTextTooLong},
		{"unknown session", func() error { _, err := db.AddComment(ctx, "nope", 0, "x", "", ""); return err }(), store.ErrNotFound},
		{"list unknown session", func() error { _, err := db.Comments(ctx, "nope"); return err }(), store.ErrNotFound},
		{"patch to empty", func() error {
			_, err := db.UpdateComment(ctx, s.ID, c1.ID, store.CommentPatch{Text: &empty})
			return err
		}(), store.ErrEmptyText},
		{"patch to negative", func() error {
			_, err := db.UpdateComment(ctx, s.ID, c1.ID, store.CommentPatch{AtMS: &neg})
			return err
		}(), store.ErrNegativeTime},
		{"patch unknown", func() error {
			_, err := db.UpdateComment(ctx, s.ID, "nope", store.CommentPatch{Text: &text})
			return err
		}(), store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
			if errors.Is(tt.want, store.ErrInvalid) && !errors.Is(tt.err, store.ErrInvalid) {
				t.Errorf("err = %v does not wrap ErrInvalid", tt.err)
			}
		})
	}
	if g, err := db.GetComment(ctx, s.ID, c1.ID); err != nil || g != c1 {
		t.Fatalf("a rejected patch changed the comment: %+v, %v", g, err)
	}
}

func TestRecordings(t *testing.T) { storetest.Run(t, testRecordings) }

func testRecordings(t *testing.T, engine string) {
	ctx := context.Background()
	env := storetest.New(t, engine)
	dir := env.Dir
	db := env.Open(t)
	s := newSession(t, db, store.NewSession{})
	p, err := db.RecordingPath(s.ID, coach.Prospect, "ogg")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "audio", s.ID, "prospect.ogg"); p != want {
		t.Fatalf("path %s, want %s", p, want)
	}
	if err := os.WriteFile(p, []byte("OggS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.AddRecording(ctx, s.ID, coach.Prospect, p, "audio/ogg"); err != nil {
		t.Fatal(err)
	}
	r, err := db.Recording(ctx, s.ID, coach.Prospect)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != p || r.ContentType != "audio/ogg" || r.Speaker != coach.Prospect {
		t.Fatalf("recording %+v", r)
	}
	if _, err := db.Recording(ctx, s.ID, coach.Rep); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rep recording: %v", err)
	}
	if rs, err := db.Recordings(ctx, s.ID); err != nil || len(rs) != 1 || rs[0] != r {
		t.Fatalf("recordings %+v, %v", rs, err)
	}
	for name, fn := range map[string]func() error{
		"path outside session dir": func() error {
			return db.AddRecording(ctx, s.ID, coach.Rep, filepath.Join(dir, "cuecard.db"), "")
		},
		"traversal id": func() error { _, err := db.RecordingPath("../x", coach.Rep, "wav"); return err },
		"bad ext":      func() error { _, err := db.RecordingPath(s.ID, coach.Rep, "o/gg"); return err },
		"no speaker":   func() error { _, err := db.RecordingPath(s.ID, coach.NoSpeaker, "wav"); return err },
	} {
		if err := fn(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestDeleteSessionRemovesEverything(t *testing.T) {
	storetest.Run(t, testDeleteSessionRemovesEverything)
}

func testDeleteSessionRemovesEverything(t *testing.T, engine string) {
	ctx := context.Background()
	env := storetest.New(t, engine)
	dir := env.Dir
	db := env.Open(t)
	s := newSession(t, db, store.NewSession{})
	keep := newSession(t, db, store.NewSession{})
	for _, id := range []string{s.ID, keep.ID} {
		if err := db.AppendEvents(ctx, id, 1, events(20)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddComment(ctx, id, 10, "note", "", ""); err != nil {
			t.Fatal(err)
		}
		p, err := db.RecordingPath(id, coach.Rep, "wav")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("RIFF"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := db.AddRecording(ctx, id, coach.Rep, p, "audio/wav"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSession(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "audio", s.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("audio dir still there: %v", err)
	}
	raw := env.Raw(t)
	for _, table := range []string{"events", "comments", "recordings"} {
		if n := count(t, env, raw, `SELECT COUNT(*) FROM `+table+` WHERE session_id = ?`, s.ID); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
		if n := count(t, env, raw, `SELECT COUNT(*) FROM `+table+` WHERE session_id = ?`, keep.ID); n == 0 {
			t.Errorf("the other session lost its %s", table)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audio", keep.ID, "rep.wav")); err != nil {
		t.Errorf("the other session lost its audio: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) { storetest.Run(t, testReopenKeepsData) }

func testReopenKeepsData(t *testing.T, engine string) {
	ctx := context.Background()
	env := storetest.New(t, engine)
	db := env.Open(t)
	s := newSession(t, db, store.NewSession{Rep: "ann", Source: store.SourceUpload})
	evs := events(30)
	if err := db.AppendEvents(ctx, s.ID, 1, evs); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, s.ID, summary(5000, 0.5, 1, "commitment", 1, 1)); err != nil {
		t.Fatal(err)
	}
	c, err := db.AddComment(ctx, s.ID, 100, "nice", "lee", "")
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = env.Open(t)
	after, err := db.GetSession(ctx, s.ID)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after reopen %+v, %v\nwant %+v", after, err, before)
	}
	if _, got := readAll(t, db, s.ID, 0); !bytes.Equal(got, jsonl(t, evs)) {
		t.Fatal("events differ after reopen")
	}
	if cs, err := db.Comments(ctx, s.ID); err != nil || len(cs) != 1 || cs[0] != c {
		t.Fatalf("comments after reopen %+v, %v", cs, err)
	}
	if p, err := db.ListSessions(ctx, store.ListFilter{MinStage: "commitment"}); err != nil || p.Total != 1 {
		t.Fatalf("list after reopen %+v, %v", p, err)
	}
}

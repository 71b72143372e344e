package store_test

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// legacyMigrations are the migration files as they were before goose, and
// legacyMigrate the code that applied them, kept to make the data
// directories that servers of that time left behind.
//
//go:embed testdata/legacy/*.sql
var legacyMigrations embed.FS

// legacyMigrate applies the legacy migrations up to version upTo to the
// SQLite database dir/cuecard.db the way the store did before goose: a
// schema_migrations row per version, each file in one transaction.
func legacyMigrate(tb testing.TB, dir string, upTo int) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cuecard.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	names, err := fs.Glob(legacyMigrations, "testdata/legacy/*.sql")
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			tb.Fatal(err)
		}
		if version > upTo {
			break
		}
		body, err := legacyMigrations.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		tx, err := db.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tb.Fatalf("%s: %v", base, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			version, base, time.Now().UnixMilli()); err != nil {
			tb.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// legacyExec runs statements on the legacy database dir/cuecard.db.
func legacyExec(tb testing.TB, dir string, stmts ...string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cuecard.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
}

// TestOpenUpgradesLegacyDataDir opens a data directory made by the store
// before goose, with data in every kind of table, and checks that nothing
// is lost, nothing is migrated twice, and the store works on it.
func TestOpenUpgradesLegacyDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	legacyMigrate(t, dir, 5)
	const (
		created = int64(1735722000000) // 2025-01-01 09:00 UTC
		ended   = created + 600000
	)
	sum, err := json.Marshal(summary(600000, 0.4, 0.5, "future", 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := (&coach.Event{Type: coach.EventTalk, AtMS: 250}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	legacyExec(t, dir,
		`INSERT INTO teams (id, name, created_at) VALUES ('team1', 'emea', 1)`,
		`INSERT INTO team_policies (team_id, consent_policy, consent_text, consent_version, recordings_days, transcripts_days, updated_at)
			VALUES ('team1', 'one-party', 'coached', 3, 30, 0, 1)`,
		`INSERT INTO sessions (id, rep, title, source, status, consent, consent_text, consent_at, created_at, started_at, ended_at,
			sample_rate, team, owner, duration_ms, rep_share, furthest_stage, furthest_stage_rank, cues_fired, cues_taken, uptake,
			summary, notes, consent_by, consent_version, consent_policy, legal_hold)
			VALUES ('sess1', 'ann', 'Acme', 'live', 'ended', 1, 'coached', 1735722000000, 1735722000000, 1735722000000, 1735722600000,
			16000, 'team1', 'user1', 600000, 0.4, 'future', 3, 4, 2, 0.5, '`+string(sum)+`', '{"next":"call"}', 'user1', 3, 'one-party', 0)`,
		`INSERT INTO events (session_id, seq, at_ms, type, data) VALUES ('sess1', 1, 250, 'talk', '`+string(ev)+`')`,
		`INSERT INTO comments (id, session_id, at_ms, text, author, created_at, updated_at, author_id) VALUES ('c1', 'sess1', 10, 'nice', 'lee', 1, 1, 'user1')`,
		`INSERT INTO users (id, email, name, role, disabled, password_hash, created_at, updated_at)
			VALUES ('user1', 'ann@example.com', 'Ann', 'coach', 1, 'hash', 1, 1)`,
		`INSERT INTO team_members (team_id, user_id, role) VALUES ('team1', 'user1', 'coach')`,
		`INSERT INTO api_tokens (id, user_id, name, hash, scopes, created_at, last_used_at) VALUES ('tok1', 'user1', 'ci', 'h', 'read', 1, 500)`,
		`INSERT INTO web_sessions (token, data, expiry) VALUES ('web1', X'00FF10', 99999999999999)`,
		`INSERT INTO settings (key, value) VALUES ('k', 'v')`,
		`INSERT INTO audit_log (at, actor_id, action, detail) VALUES (1, 'user1', 'user.create', '{"a":1}')`,
		`INSERT INTO audit_log (at, actor_id, action) VALUES (2, 'user1', 'user.update')`,
	)

	db := openDB(t, dir)
	s, err := db.GetSession(ctx, "sess1")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Consent || s.LegalHold || s.Rep != "ann" || s.Team != "team1" || s.DurationMS != 600000 || s.RepShare != 0.4 ||
		s.EndedAt.UnixMilli() != ended || s.ConsentVersion != 3 || s.Summary == nil || s.Summary.Metrics.CuesFired != 4 {
		t.Errorf("session after upgrade: %+v", s)
	}
	if _, got := readAll(t, db, "sess1", 0); string(got) != string(ev)+"\n" {
		t.Errorf("events after upgrade: %q", got)
	}
	if cs, err := db.Comments(ctx, "sess1"); err != nil || len(cs) != 1 || cs[0].AuthorID != "user1" {
		t.Errorf("comments after upgrade: %+v, %v", cs, err)
	}
	u, hash, err := db.UserByEmail(ctx, "ANN@example.com")
	if err != nil || !u.Disabled || hash != "hash" || len(u.Teams) != 1 || u.Teams[0].TeamName != "emea" {
		t.Errorf("user after upgrade: %+v %q, %v", u, hash, err)
	}
	if b, ok, err := db.FindCtx(ctx, "web1"); err != nil || !ok || string(b) != "\x00\xff\x10" {
		t.Errorf("web session after upgrade: %q %v %v", b, ok, err)
	}
	if p, err := db.TeamPolicy(ctx, "team1"); err != nil || p.ConsentVersion != 3 || p.RecordingsDays != 30 {
		t.Errorf("policy after upgrade: %+v, %v", p, err)
	}
	due, err := db.RetentionDue(ctx, time.UnixMilli(ended).AddDate(0, 0, 31))
	if err != nil || len(due) != 1 || due[0].SessionID != "sess1" || due[0].What != store.PurgeRecordings {
		t.Errorf("retention after upgrade: %+v, %v", due, err)
	}
	if err := db.TouchToken(ctx, "tok1", time.UnixMilli(400)); err != nil {
		t.Fatal(err)
	}
	if tok, err := db.GetToken(ctx, "tok1"); err != nil || tok.LastUsedAt.UnixMilli() != 500 {
		t.Errorf("an older touch moved last use: %+v, %v", tok, err)
	}
	e, err := db.AppendAudit(ctx, store.AuditEntry{Action: "store.upgrade"})
	if err != nil || e.Seq != 3 {
		t.Errorf("audit after upgrade: seq %d, %v; want 3", e.Seq, err)
	}
	if es, err := db.ListAudit(ctx, store.AuditFilter{}); err != nil || len(es) != 3 || string(es[0].Detail) != `{"a":1}` {
		t.Errorf("audit log after upgrade: %+v, %v", es, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawSQLite(t, dir)
	if _, err := raw.Exec(`DELETE FROM audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("audit log delete after upgrade: %v", err)
	}
	var names string
	if err := raw.QueryRow(`SELECT group_concat(name, ' ') FROM (SELECT name FROM schema_migrations ORDER BY version)`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if want := "0001_init.sql 0002_uploads.sql 0003_notes.sql 0004_accounts.sql 0005_call_data.sql"; names != want {
		t.Errorf("schema_migrations: %q, want %q", names, want)
	}
}

// TestOpenUpgradesPartlyMigratedLegacyDataDir opens a data directory that
// the store left at version 3, before accounts: goose applies the rest.
func TestOpenUpgradesPartlyMigratedLegacyDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	legacyMigrate(t, dir, 3)
	legacyExec(t, dir, `INSERT INTO sessions (id, source, created_at, consent) VALUES ('sess1', 'upload', 1, 1)`)
	db := openDB(t, dir)
	if s, err := db.GetSession(ctx, "sess1"); err != nil || !s.Consent || s.Source != store.SourceUpload {
		t.Fatalf("session after upgrade: %+v, %v", s, err)
	}
	u, err := db.CreateUser(ctx, store.User{Email: "bo@example.com", Role: "rep"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetLegalHold(ctx, "sess1", true); err != nil {
		t.Fatal(err)
	}
	if err := db.EraseSession(ctx, "sess1"); !errors.Is(err, store.ErrHeld) {
		t.Fatalf("erase held: %v", err)
	}
	if got, err := db.GetUser(ctx, u.ID); err != nil || got.Email != u.Email {
		t.Fatalf("user: %+v, %v", got, err)
	}
}

func rawSQLite(tb testing.TB, dir string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite", filepath.Join(dir, "cuecard.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

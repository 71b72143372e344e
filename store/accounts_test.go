package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/store/storetest"
)

// TestAccounts covers users, teams, members and tokens, whose unique keys
// and foreign keys each engine reports in its own way.
func TestAccounts(t *testing.T) { storetest.Run(t, testAccounts) }

func testAccounts(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	ann, err := db.CreateUser(ctx, store.User{Email: " Ann@Example.com ", Name: "Ann", Role: auth.RoleCoach, Disabled: true,
		OIDCSubject: "iss|ann"}, "hash1")
	if err != nil {
		t.Fatal(err)
	}
	if ann.Email != "ann@example.com" || !ann.Disabled {
		t.Fatalf("created %+v", ann)
	}
	if _, err := db.CreateUser(ctx, store.User{Email: "ANN@example.com", Role: auth.RoleRep}, ""); !errors.Is(err, store.ErrConflict) ||
		!strings.Contains(err.Error(), "email") {
		t.Errorf("same email: %v", err)
	}
	if _, err := db.CreateUser(ctx, store.User{Email: "bo@example.com", Role: auth.RoleRep, OIDCSubject: "iss|ann"}, ""); !errors.Is(err, store.ErrConflict) ||
		!strings.Contains(err.Error(), "single sign-on") {
		t.Errorf("same subject: %v", err)
	}
	team, err := db.CreateTeam(ctx, " emea ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTeam(ctx, "emea"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same team name: %v", err)
	}
	if err := db.SetMember(ctx, team.ID, ann.ID, auth.RoleCoach); err != nil {
		t.Fatal(err)
	}
	if err := db.SetMember(ctx, team.ID, "nobody", auth.RoleRep); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("member of unknown user: %v", err)
	}
	disabled := false
	up, err := db.UpdateUser(ctx, ann.ID, store.UserPatch{Disabled: &disabled})
	if err != nil || up.Disabled || len(up.Teams) != 1 || up.Teams[0].TeamName != "emea" {
		t.Fatalf("updated %+v, %v", up, err)
	}
	if _, err := db.UpdateUser(ctx, "nobody", store.UserPatch{Disabled: &disabled}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update unknown user: %v", err)
	}
	if got, hash, err := db.UserByEmail(ctx, "ANN@EXAMPLE.COM"); err != nil || got.ID != ann.ID || hash != "hash1" {
		t.Errorf("by email: %+v %q %v", got, hash, err)
	}
	if got, err := db.UserByOIDC(ctx, "iss|ann"); err != nil || got.ID != ann.ID {
		t.Errorf("by subject: %+v %v", got, err)
	}

	tok := store.APIToken{ID: "tok1", UserID: ann.ID, Name: "ci", Hash: "h", Scopes: []auth.Scope{auth.ScopeRead}}
	if _, err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same token id: %v", err)
	}
	if _, err := db.CreateToken(ctx, store.APIToken{ID: "tok2", UserID: "nobody", Hash: "h", Scopes: tok.Scopes}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of unknown user: %v", err)
	}
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, touch := range []time.Time{at, at.Add(-time.Hour)} {
		if err := db.TouchToken(ctx, "tok1", touch); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.GetToken(ctx, "tok1"); err != nil || !got.LastUsedAt.Equal(at) {
		t.Errorf("last used %v, %v; want %v", got.LastUsedAt, err, at)
	}
	if err := db.TouchToken(ctx, "nope", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touch unknown token: %v", err)
	}
	if err := db.RevokeToken(ctx, "tok1", at); err != nil {
		t.Fatal(err)
	}
	if ts, err := db.ListTokens(ctx, ann.ID); err != nil || len(ts) != 1 || !ts[0].RevokedAt.Equal(at) {
		t.Errorf("tokens %+v, %v", ts, err)
	}
}

// TestWebSessionsSettingsAudit covers the browser sessions (binary data),
// the settings and the append-only audit log.
func TestWebSessionsSettingsAudit(t *testing.T) { storetest.Run(t, testWebSessionsSettingsAudit) }

func testWebSessionsSettingsAudit(t *testing.T, engine string) {
	ctx := context.Background()
	env := storetest.New(t, engine)
	db := env.Open(t)
	data := []byte{0, 0xff, 'x', 0x80}
	if err := db.CommitCtx(ctx, "web1", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.CommitCtx(ctx, "old", nil, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := db.FindCtx(ctx, "web1"); err != nil || !ok || string(b) != string(data) {
		t.Errorf("find: %q %v %v", b, ok, err)
	}
	if _, ok, err := db.FindCtx(ctx, "old"); err != nil || ok {
		t.Errorf("expired found: %v %v", ok, err)
	}
	if n, err := db.DeleteExpiredWebSessions(ctx, time.Now()); err != nil || n != 1 {
		t.Errorf("expired deleted: %d, %v", n, err)
	}
	if err := db.DeleteCtx(ctx, "web1"); err != nil {
		t.Fatal(err)
	}

	if err := db.SetSetting(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Setting(ctx, "k"); err != nil || !ok || v != "v2" {
		t.Errorf("setting %q %v %v", v, ok, err)
	}

	var seqs []int64
	for _, a := range []string{"user.create", "team.create", "user.create"} {
		e, err := db.AppendAudit(ctx, store.AuditEntry{Action: a, ActorID: "u1", Detail: json.RawMessage(` { "x" : 1 } `)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if seqs[0] < 1 || seqs[1] <= seqs[0] || seqs[2] <= seqs[1] {
		t.Errorf("audit seqs %v", seqs)
	}
	es, err := db.ListAudit(ctx, store.AuditFilter{Action: "user.create"})
	if err != nil || len(es) != 2 || es[1].Seq != seqs[2] || string(es[0].Detail) != `{"x":1}` {
		t.Errorf("audit %+v, %v", es, err)
	}
	raw := env.Raw(t)
	for _, q := range []string{`UPDATE audit_log SET action = 'x'`, `DELETE FROM audit_log`} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want append-only", q, err)
		}
	}
}

// TestPolicyRetentionErase covers the team policies, retention and
// erasure, with legal hold.
func TestPolicyRetentionErase(t *testing.T) { storetest.Run(t, testPolicyRetentionErase) }

func testPolicyRetentionErase(t *testing.T, engine string) {
	ctx := context.Background()
	env := storetest.New(t, engine)
	db := env.Open(t)
	team, err := db.CreateTeam(ctx, "emea")
	if err != nil {
		t.Fatal(err)
	}
	p := store.TeamPolicy{TeamID: team.ID, ConsentPolicy: store.PolicyOneParty, ConsentText: "a", RecordingsDays: 30, TranscriptsDays: 36500}
	for i, text := range []string{"a", "a", "b"} {
		p.ConsentText = text
		got, err := db.SetTeamPolicy(ctx, p)
		if want := []int{1, 1, 2}[i]; err != nil || got.ConsentVersion != want {
			t.Fatalf("set policy %d: version %d, %v; want %d", i, got.ConsentVersion, err, want)
		}
	}
	if _, err := db.SetTeamPolicy(ctx, store.TeamPolicy{TeamID: "nope", ConsentPolicy: store.PolicyAllParty}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("policy of unknown team: %v", err)
	}
	var ids []string
	for range 3 {
		s := newSession(t, db, store.NewSession{Team: team.ID})
		if err := db.AppendEvents(ctx, s.ID, 1, events(4)); err != nil {
			t.Fatal(err)
		}
		if err := db.EndSession(ctx, s.ID, summary(1000, 0.5, 0.5, "rapport", 1, 1)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if err := db.SetLegalHold(ctx, ids[1], true); err != nil {
		t.Fatal(err)
	}
	// 36,500 days of transcripts: beyond 32-bit milliseconds.
	due, err := db.RetentionDue(ctx, time.Now().AddDate(0, 0, 31))
	if err != nil || len(due) != 2 || due[0].What != store.PurgeRecordings {
		t.Fatalf("due %+v, %v", due, err)
	}
	if due, err := db.RetentionDue(ctx, time.Now().AddDate(101, 0, 0)); err != nil || len(due) != 4 {
		t.Fatalf("due in a century %+v, %v", due, err)
	}
	if err := db.Purge(ctx, ids[0], store.PurgeTranscripts); err != nil {
		t.Fatal(err)
	}
	if seq, err := db.LastSeq(ctx, ids[0]); err != nil || seq != 0 {
		t.Errorf("events after purge: %d, %v", seq, err)
	}
	if err := db.Purge(ctx, ids[1], store.PurgeTranscripts); !errors.Is(err, store.ErrHeld) {
		t.Errorf("purge held: %v", err)
	}
	if err := db.SetNotes(ctx, ids[2], json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	rec, err := db.RecordingPath(ids[2], coach.Rep, "wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec, []byte("RIFF"), store.FileMode); err != nil {
		t.Fatal(err)
	}
	if err := db.EraseSession(ctx, ids[1]); !errors.Is(err, store.ErrHeld) {
		t.Errorf("erase held: %v", err)
	}
	if err := db.EraseSession(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSession(ctx, ids[2]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erased session: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(rec)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("erased audio: %v", err)
	}
	if n := count(t, env, env.Raw(t), `SELECT COUNT(*) FROM events WHERE session_id = ?`, ids[2]); n != 0 {
		t.Errorf("%d events left after erasure", n)
	}
	if err := db.EraseSession(ctx, ids[2]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erase twice: %v", err)
	}
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/store/storetest"
)

// TestTwoNodesOnePostgres runs two stores on one PostgreSQL schema, as two
// servers of a cluster do, and has them write the same things at once: the
// events of the same sessions (as a node that takes a session over re-sends
// the batches it is unsure of), their own new sessions, a token's last use,
// a browser session, a team's consent text and the audit log, while a
// reader tails the audit log.
func TestTwoNodesOnePostgres(t *testing.T) {
	ctx := context.Background()
	env := storetest.New(t, storetest.Postgres)
	nodes := []*store.DB{env.Open(t), env.Open(t)}
	a := nodes[0]
	const (
		shared   = 4  // sessions both nodes append to
		batches  = 20 // per shared session, each appended by both nodes
		perBatch = 10
		own      = 10 // sessions each node creates
		rounds   = 25 // touches, commits, policy changes and audit entries per node
	)
	evs := events(batches * perBatch)
	var sessions []store.Session
	for range shared {
		sessions = append(sessions, newSession(t, a, store.NewSession{Rep: "shared"}))
	}
	user, err := a.CreateUser(ctx, store.User{Email: "ann@example.com", Role: auth.RoleRep}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateToken(ctx, store.APIToken{ID: "tok", UserID: user.ID, Hash: "h", Scopes: []auth.Scope{auth.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	team, err := a.CreateTeam(ctx, "emea")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		webData  = [][]byte{[]byte("node 0"), []byte("node 1")}
		appended atomic.Int64
		writers  sync.WaitGroup
	)
	report := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for n, db := range nodes {
		for _, s := range sessions {
			writers.Go(func() { report(appendAll(ctx, db, s.ID, evs, perBatch)) })
		}
		writers.Go(func() {
			for i := range own {
				s, err := db.CreateSession(ctx, store.NewSession{Rep: fmt.Sprint("node", n)})
				if err == nil {
					err = db.AppendEvents(ctx, s.ID, 1, evs[:perBatch])
				}
				if err != nil {
					report(fmt.Errorf("node %d: session %d: %w", n, i, err))
					return
				}
			}
		})
		writers.Go(func() {
			for i := range rounds {
				// Node 0 touches at even minutes, node 1 at odd ones, each
				// in descending order: only the latest may stay.
				at := base.Add(time.Duration(2*(rounds-i)+n) * time.Minute)
				err := errors.Join(
					db.TouchToken(ctx, "tok", at),
					db.CommitCtx(ctx, "web", webData[n], base.AddDate(100, 0, 0)),
					setConsentText(ctx, db, team.ID, fmt.Sprintf("text %d of node %d", i, n)),
					appendAudit(ctx, db, &appended),
				)
				if err != nil {
					report(fmt.Errorf("node %d: round %d: %w", n, i, err))
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var tailed []int64
	wg.Go(func() { // tails the audit log through node 1 while both write
		var err error
		tailed, err = tailAudit(ctx, nodes[1], done)
		report(err)
	})
	writers.Wait()
	close(done)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	want := jsonl(t, evs)
	for _, s := range sessions {
		seqs, got := readAll(t, nodes[1], s.ID, 0)
		if len(seqs) != len(evs) || seqs[0] != 1 || seqs[len(seqs)-1] != int64(len(evs)) || !bytes.Equal(got, want) {
			t.Errorf("session %s: %d events, want %d once each", s.ID, len(seqs), len(evs))
		}
	}
	if p, err := a.ListSessions(ctx, store.ListFilter{}); err != nil || p.Total != shared+2*own {
		t.Errorf("sessions: %d, %v; want %d", p.Total, err, shared+2*own)
	}
	if tok, err := nodes[1].GetToken(ctx, "tok"); err != nil || !tok.LastUsedAt.Equal(base.Add(time.Duration(2*rounds+1)*time.Minute)) {
		t.Errorf("token last used %v, %v; want the latest touch", tok.LastUsedAt, err)
	}
	if b, ok, err := a.FindCtx(ctx, "web"); err != nil || !ok || !slices.ContainsFunc(webData, func(d []byte) bool { return bytes.Equal(d, b) }) {
		t.Errorf("web session %q, %v, %v", b, ok, err)
	}
	if p, err := a.TeamPolicy(ctx, team.ID); err != nil || p.ConsentVersion != 2*rounds {
		t.Errorf("consent version %d, %v; want %d (every change counted)", p.ConsentVersion, err, 2*rounds)
	}
	if int64(len(tailed)) != appended.Load() || !slices.IsSorted(tailed) || len(slices.Compact(slices.Clone(tailed))) != len(tailed) {
		t.Errorf("tailing the audit log saw %d entries of %d: %v", len(tailed), appended.Load(), tailed)
	}
}

// appendAll appends evs to the session in batches of perBatch.
func appendAll(ctx context.Context, db *store.DB, id string, evs []coach.Event, perBatch int) error {
	for lo := 0; lo < len(evs); lo += perBatch {
		if err := db.AppendEvents(ctx, id, int64(lo+1), evs[lo:lo+perBatch]); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	return nil
}

func setConsentText(ctx context.Context, db *store.DB, team, text string) error {
	_, err := db.SetTeamPolicy(ctx, store.TeamPolicy{TeamID: team, ConsentPolicy: store.PolicyAllParty, ConsentText: text})
	return err
}

func appendAudit(ctx context.Context, db *store.DB, n *atomic.Int64) error {
	_, err := db.AppendAudit(ctx, store.AuditEntry{Action: "test"})
	if err == nil {
		n.Add(1)
	}
	return err
}

// tailAudit pages through the audit log by sequence number, as a reader
// that follows it does, until done is closed and a last page is empty, and
// returns the sequence numbers it saw.
func tailAudit(ctx context.Context, db *store.DB, done <-chan struct{}) ([]int64, error) {
	var seen []int64
	after := int64(0)
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		es, err := db.ListAudit(ctx, store.AuditFilter{AfterSeq: after})
		if err != nil {
			return seen, err
		}
		for _, e := range es {
			seen = append(seen, e.Seq)
			after = e.Seq
		}
		if finished && len(es) == 0 {
			return seen, nil
		}
	}
}

// TestNodesMigrateTogether starts three stores at once on a new schema, as
// a cluster's servers do on their first start: one migrates, the others
// wait for it, and each version is applied once.
func TestNodesMigrateTogether(t *testing.T) {
	env := storetest.New(t, storetest.Postgres)
	var (
		wg   sync.WaitGroup
		errs = make([]error, 3)
		dbs  = make([]*store.DB, 3)
	)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = store.OpenPostgres(context.Background(), env.Dir, env.URL) })
	}
	wg.Wait()
	for i, db := range dbs {
		if db != nil {
			t.Cleanup(func() { db.Close() })
		}
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, env.Raw(t), `SELECT COUNT(*) FROM schema_migrations`); n != len(files) {
		t.Errorf("%d migrations recorded, want %d", n, len(files))
	}
}

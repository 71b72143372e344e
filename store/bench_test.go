package store_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/store/storetest"
)

// BenchmarkAppendEvents appends batches to one session, as the server does
// about once a second per live session; ns/op is per batch.
func BenchmarkAppendEvents(b *testing.B) { benchEngines(b, benchAppendEvents) }

func benchAppendEvents(b *testing.B, engine string) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, engine)
			s := newSession(b, db, store.NewSession{})
			evs := events(n)
			seq := int64(1)
			b.ReportAllocs()
			for b.Loop() {
				if err := db.AppendEvents(ctx, s.ID, seq, evs); err != nil {
					b.Fatal(err)
				}
				seq += int64(n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq-1), "ns/event")
		})
	}
}

// BenchmarkListSessions10k lists one page of the library with 10,000
// sessions stored (issue 6: under 100 ms).
func BenchmarkListSessions10k(b *testing.B) { benchEngines(b, benchListSessions10k) }

func benchListSessions10k(b *testing.B, engine string) {
	ctx := context.Background()
	db := storetest.Open(b, engine)
	start := time.Now()
	seeds := seedSessions(b, db, 10000)
	b.Logf("seeded %d sessions in %v", len(seeds), time.Since(start))
	mid := seeds[5000].created
	cursor := func(f store.ListFilter, pages int) string {
		for range pages {
			p, err := db.ListSessions(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			f.Cursor = p.NextCursor
		}
		return f.Cursor
	}
	cases := []struct {
		name string
		f    store.ListFilter
	}{
		{"newest", store.ListFilter{}},
		{"rep+range+minuptake/by_uptake", store.ListFilter{Rep: "bob", From: mid.AddDate(0, -2, 0), To: mid, MinUptake: 0.25, Sort: store.SortUptake}},
		{"stage_reached/by_rep_share", store.ListFilter{MinStage: "future", Sort: store.SortRepShare}},
		{"ended/by_duration_asc", store.ListFilter{Status: store.StatusEnded, Sort: store.SortDuration, Asc: true}},
		{"page100_keyset", store.ListFilter{Cursor: cursor(store.ListFilter{}, 100)}},
		{"page100_offset", store.ListFilter{Offset: 100 * store.DefaultLimit}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var total int
			for b.Loop() {
				p, err := db.ListSessions(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				total = p.Total
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// BenchmarkReadEvents10k reads a 60-minute session's ~10,000 events as
// JSONL, as GET /v1/sessions/{id}/events does (issue 6: under 200 ms).
func BenchmarkReadEvents10k(b *testing.B) { benchEngines(b, benchReadEvents10k) }

func benchReadEvents10k(b *testing.B, engine string) {
	ctx := context.Background()
	db := storetest.Open(b, engine)
	s := newSession(b, db, store.NewSession{})
	evs := events(10000)
	for i := 0; i < len(evs); i += 250 { // as a live session would, in batches
		if err := db.AppendEvents(ctx, s.ID, int64(i+1), evs[i:i+250]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var n, size int
	for b.Loop() {
		n, size = 0, 0
		err := db.ReadEvents(ctx, s.ID, 0, func(_ int64, data []byte) error {
			n++
			size += len(data) + 1
			_, err := io.Discard.Write(data)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != len(evs) {
		b.Fatalf("read %d events, want %d", n, len(evs))
	}
	b.ReportMetric(float64(size), "bytes/session")
}

// BenchmarkAppendEventsParallel appends 10-event batches from many
// goroutines, each its own session, (through the single writer connection on SQLite);
// ns/op is per batch across all of them.
func BenchmarkAppendEventsParallel(b *testing.B) { benchEngines(b, benchAppendEventsParallel) }

func benchAppendEventsParallel(b *testing.B, engine string) {
	ctx := context.Background()
	db := storetest.Open(b, engine)
	evs := events(10)
	b.SetParallelism(16) // 32 concurrent sessions on 2 CPUs
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s, err := db.CreateSession(ctx, store.NewSession{})
		if err != nil {
			b.Error(err)
			return
		}
		seq := int64(1)
		for pb.Next() {
			if err := db.AppendEvents(ctx, s.ID, seq, evs); err != nil {
				b.Error(err)
				return
			}
			seq += int64(len(evs))
		}
	})
}

// benchEngines runs fn as one sub-benchmark per engine.
func benchEngines(b *testing.B, fn func(b *testing.B, engine string)) {
	for _, engine := range storetest.Engines {
		b.Run(engine, func(b *testing.B) { fn(b, engine) })
	}
}

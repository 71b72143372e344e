package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestListQueriesUseIndexes checks the query plans of the library's list
// queries: every access to sessions goes through an index, and the default
// and date-sorted listings need no sort step, so a page costs the same with
// 10 or 10,000 sessions.
func TestListQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// ANALYZE-free plans are what a fresh database gets; that is the case
	// that must already be indexed.
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		f      ListFilter
		sorted bool // the page must come out of the index in order
	}{
		{"newest", ListFilter{}, true},
		{"oldest", ListFilter{Asc: true}, true},
		{"rep newest", ListFilter{Rep: "ann"}, true},
		{"date range", ListFilter{From: from, To: from.AddDate(0, 1, 0)}, true},
		{"rep and range", ListFilter{Rep: "ann", From: from, To: from.AddDate(0, 1, 0)}, true},
		{"by uptake", ListFilter{Sort: SortUptake}, true},
		{"by duration", ListFilter{Sort: SortDuration, Asc: true}, true},
		{"by rep share", ListFilter{Sort: SortRepShare}, true},
		{"stage reached", ListFilter{MinStage: "future"}, false},
		{"min uptake by date", ListFilter{MinUptake: 0.5}, true},
		{"rep by uptake", ListFilter{Rep: "ann", Sort: SortUptake}, false},
		{"team", ListFilter{Team: "emea"}, true},
		{"cursor", ListFilter{Sort: SortUptake, Cursor: "dXB0YWtlOmQ6MC41OmFiYw"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := buildList(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			for _, query := range []struct {
				sql  string
				args []any
			}{
				{`SELECT COUNT(*) FROM sessions` + q.where, q.args},
				{`SELECT ` + sessionCols + ` FROM sessions` + q.pageWhere + q.order, q.pageArgs},
			} {
				plan := explain(t, db, query.sql, query.args)
				t.Logf("%q", plan)
				for _, line := range plan {
					if strings.Contains(line, "sessions") && !strings.Contains(line, "INDEX") {
						t.Errorf("full table scan: %q\nquery: %s", line, query.sql)
					}
					if tt.sorted && strings.Contains(line, "TEMP B-TREE") {
						t.Errorf("sorts instead of reading the index in order: %q\nquery: %s", line, query.sql)
					}
				}
			}
		})
	}
}

func explain(tb testing.TB, db *DB, query string, args []any) []string {
	tb.Helper()
	rows, err := db.r.db.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return plan
}

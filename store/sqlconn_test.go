package store

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"numbered in order", `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{"string literal", `SELECT '?' || x FROM t WHERE y = ?`, `SELECT '?' || x FROM t WHERE y = $1`},
		{"escaped quote", `SELECT 'it''s ?' WHERE a = ? AND b = 'x?'`, `SELECT 'it''s ?' WHERE a = $1 AND b = 'x?'`},
		{"quoted identifier", `SELECT "a?b" FROM t WHERE c = ?`, `SELECT "a?b" FROM t WHERE c = $1`},
		{"comment", "SELECT a -- is b ?\nFROM t WHERE c = ?", "SELECT a -- is b ?\nFROM t WHERE c = $1"},
		{"dollar quoted", `SELECT $$ ? $$, ?`, `SELECT $$ ? $$, $1`},
		{"unterminated literal", `SELECT ? WHERE a = 'x?`, `SELECT $1 WHERE a = 'x?`},
		{"minus is not a comment", `SELECT ? - ?`, `SELECT $1 - $2`},
		{"ten and more", strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rebind(tt.in); got != tt.want {
				t.Errorf("rebind(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestForDialect(t *testing.T) {
	body := `-- +goose Up
CREATE TABLE a (x BIGINT);
-- +dialect sqlite
CREATE TABLE b (x BLOB) WITHOUT ROWID;
-- +dialect postgres
CREATE TABLE b (x BYTEA);
-- +dialect end
CREATE INDEX a_x ON a (x);
`
	for _, tt := range []struct{ dialect, want string }{
		{dialectSQLite, "-- +goose Up\nCREATE TABLE a (x BIGINT);\nCREATE TABLE b (x BLOB) WITHOUT ROWID;\nCREATE INDEX a_x ON a (x);\n"},
		{dialectPostgres, "-- +goose Up\nCREATE TABLE a (x BIGINT);\nCREATE TABLE b (x BYTEA);\nCREATE INDEX a_x ON a (x);\n"},
	} {
		t.Run(tt.dialect, func(t *testing.T) {
			got, err := forDialect(body, tt.dialect)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
	for name, bad := range map[string]string{
		"unended":         "-- +dialect sqlite\nSELECT 1;\n",
		"end outside":     "SELECT 1;\n-- +dialect end\n",
		"unknown dialect": "-- +dialect mysql\nSELECT 1;\n-- +dialect end\n",
	} {
		if _, err := forDialect(bad, dialectSQLite); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestMigrationsParseForBothEngines checks that every embedded migration
// splits into dialect blocks that are well formed for each engine, and
// that each engine sees every version.
func TestMigrationsParseForBothEngines(t *testing.T) {
	for _, d := range []string{dialectSQLite, dialectPostgres} {
		_, names, err := dialectMigrations(migrations, d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for v := int64(1); v <= int64(len(names)); v++ {
			if names[v] == "" {
				t.Errorf("%s: no migration %d", d, v)
			}
		}
	}
}

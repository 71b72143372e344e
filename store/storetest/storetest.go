// Package storetest opens real stores for tests, on SQLite and on
// PostgreSQL, so that a test suite can run on both engines.
//
// PostgreSQL is the server at CUECARD_TEST_POSTGRES, by default
// postgres://127.0.0.1:5432/test?sslmode=disable. Each Env gets a schema
// of its own (t_ and random hex), dropped when the test ends. When the
// server cannot be reached the test is skipped, unless the environment
// variable CI is set: then it fails.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cuecard/cuecard/store"
)

// The engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Engines lists every engine, SQLite first.
var Engines = []string{SQLite, Postgres}

// DefaultPostgresURL is the server tests use when CUECARD_TEST_POSTGRES is
// not set.
const DefaultPostgresURL = "postgres://127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the URL of the PostgreSQL server for tests.
func PostgresURL() string {
	if u := os.Getenv("CUECARD_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Env is where one test's store lives: a data directory and, on
// PostgreSQL, the URL of a schema of its own. Opening an Env twice opens
// the same data, as a restarted server or a second server would.
type Env struct {
	Engine string
	Dir    string
	URL    string // "" on SQLite
}

// New returns a fresh Env for engine: a temporary data directory and, on
// PostgreSQL, a new schema that is dropped when tb ends. It skips tb (or,
// with CI set, fails it) when PostgreSQL cannot be reached.
func New(tb testing.TB, engine string) Env {
	tb.Helper()
	e := Env{Engine: engine, Dir: tb.TempDir()}
	switch engine {
	case SQLite:
	case Postgres:
		e.URL = NewSchema(tb)
	default:
		tb.Fatalf("storetest: unknown engine %q", engine)
	}
	return e
}

// Open opens the store of e and closes it when tb ends.
func (e Env) Open(tb testing.TB) *store.DB {
	tb.Helper()
	ctx := context.Background()
	var (
		db  *store.DB
		err error
	)
	if e.Engine == Postgres {
		db, err = store.OpenPostgres(ctx, e.Dir, e.URL)
	} else {
		db, err = store.Open(ctx, e.Dir)
	}
	if err != nil {
		tb.Fatalf("storetest: open %s store: %v", e.Engine, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Raw opens the database of e directly, for checks the store's API does not
// offer, and closes it when tb ends. Its queries use the engine's own
// placeholders.
func (e Env) Raw(tb testing.TB) *sql.DB {
	tb.Helper()
	var (
		raw *sql.DB
		err error
	)
	if e.Engine == Postgres {
		raw, err = openPostgres(e.URL)
	} else {
		raw, err = sql.Open("sqlite", filepath.Join(e.Dir, "cuecard.db"))
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// Open returns a fresh store on engine, closed when tb ends.
func Open(tb testing.TB, engine string) *store.DB {
	tb.Helper()
	return New(tb, engine).Open(tb)
}

// Run runs fn as one subtest per engine, named after it.
func Run(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) { fn(t, engine) })
	}
}

// NewSchema creates a schema on the test server and returns a URL whose
// connections use it (search_path). The schema and everything in it are
// dropped when tb ends; close the stores on it first (a cleanup registered
// later runs earlier). It skips tb, or with CI set fails it, when the
// server cannot be reached.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL()
	admin, err := openPostgres(base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		msg := "storetest: PostgreSQL at " + base + " is unreachable (set CUECARD_TEST_POSTGRES): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	return u
}

// withSearchPath returns the URL base with its search_path set to schema.
func withSearchPath(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func openPostgres(u string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

// Package store persists sessions, their events, comments and recordings,
// and the accounts, in SQLite (modernc.org/sqlite, no cgo; the embedded
// default) or in PostgreSQL (pgx), with recordings as files under a data
// directory.
//
// One *DB type serves both engines: Open opens SQLite, OpenPostgres opens
// PostgreSQL, and every method behaves the same on either. Queries are
// written once with ? placeholders and rebound to $1, $2, … for
// PostgreSQL; the schema is one goose migration set (migrations/README.md
// says how the few dialect-specific statements are written).
//
// On SQLite all writes go through one connection, so concurrent sessions
// queue in Go instead of failing with SQLITE_BUSY; reads use a separate
// pool and, in WAL mode, never wait for the writer. On PostgreSQL one pool
// serves both, and several servers may share the database: what SQLite's
// single writer made safe (a read followed by a write) takes a row lock
// (SELECT … FOR UPDATE) there, and idempotent writes rely on unique keys
// and ON CONFLICT. The methods are context-first and return the domain
// types of this package.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the store rooted at a data directory, on SQLite or PostgreSQL. It
// is safe for concurrent use; Close it once when done.
type DB struct {
	dir string
	w   conn // SQLite: exactly one connection, the single writer
	r   conn // SQLite: a read-only pool; PostgreSQL: the same pool as w
	pg  bool
	now func() time.Time
}

// Open opens (creating if needed) the SQLite database dataDir/cuecard.db
// and dataDir/audio/, applies the embedded migrations that are not yet
// recorded in schema_migrations, and returns the store. It fails if the
// database cannot be opened or a migration fails; nothing is left open
// then.
func Open(ctx context.Context, dataDir string) (*DB, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	path := filepath.Join(dir, "cuecard.db")
	if err := makePrivate(dir, path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// synchronous(NORMAL) in WAL mode: a commit survives a process crash;
	// only a power loss can lose the last transactions since the last sync.
	// secure_delete(1): erased rows are overwritten on disk, not left in
	// free pages (EraseSession also truncates the write-ahead log).
	pragmas := []string{"busy_timeout(5000)", "foreign_keys(1)", "synchronous(NORMAL)", "secure_delete(1)"}
	w, err := sql.Open("sqlite", dsn(path, append(pragmas, "journal_mode(WAL)"), "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{dir: dir, w: conn{db: w}, now: time.Now}
	// The writer connects first so that WAL mode is set before any reader.
	if err := migrate(ctx, db.w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	// SQLite gives the -wal and -shm files it creates the database file's
	// mode; ones left by an older version may be looser.
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, FileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	r, err := sql.Open("sqlite", dsn(path, append(pragmas, "query_only(1)")))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	n := max(4, 2*runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = conn{db: r}
	return db, nil
}

// OpenPostgres opens the PostgreSQL database at url (a postgres:// URL or
// a key=value connection string; its search_path, if set, picks the
// schema), applies the embedded migrations that are not yet recorded in
// schema_migrations, and returns the store. Recordings stay files under
// dataDir/audio/, created if needed. Several servers may open the same
// database at once: one migrates while the others wait. It fails if the
// database cannot be reached or a migration fails; nothing is left open
// then.
func OpenPostgres(ctx context.Context, dataDir, url string) (*DB, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := makePrivateDirs(dir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool := stdlib.OpenDB(*cfg)
	n := max(8, 4*runtime.NumCPU())
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	c := conn{db: pool, pg: true}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := migrate(ctx, c); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &DB{dir: dir, w: c, r: c, pg: true, now: time.Now}, nil
}

// DirMode and FileMode are the modes of the data directory, of every
// directory and of every file in it: calls are private, so only the user
// that runs the server may read them.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// makePrivate creates the data directory dir, its audio directory and the
// database file at path if they are missing, and sets their modes to
// DirMode and FileMode, whatever the umask, tightening ones that exist.
// SQLite creates a missing database with the umask's mode; an empty file
// is an empty database, so creating it first decides its mode.
func makePrivate(dir, path string) error {
	if err := makePrivateDirs(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, FileMode)
}

// makePrivateDirs creates the data directory dir and its audio directory
// if they are missing and sets their modes to DirMode.
func makePrivateDirs(dir string) error {
	audio := filepath.Join(dir, "audio")
	if err := os.MkdirAll(audio, DirMode); err != nil {
		return err
	}
	for _, p := range []string{dir, audio} {
		if err := os.Chmod(p, DirMode); err != nil {
			return err
		}
	}
	return nil
}

func dsn(path string, pragmas []string, extra ...string) string {
	q := make([]string, 0, len(pragmas)+len(extra))
	for _, p := range pragmas {
		q = append(q, "_pragma="+url.QueryEscape(p))
	}
	q = append(q, extra...)
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + strings.Join(q, "&")
}

// Close closes the connection pools. It does not wait for callers that
// still use the store; stop them first.
func (db *DB) Close() error {
	if db.r.db == db.w.db {
		return db.w.db.Close()
	}
	return errors.Join(db.r.db.Close(), db.w.db.Close())
}

// Dir returns the absolute data directory.
func (db *DB) Dir() string { return db.dir }

// forUpdate is the clause that row-locks what a SELECT in a write
// transaction reads. SQLite has none and needs none: its write
// transactions (BEGIN IMMEDIATE on the single writer) already exclude
// every other writer.
func (db *DB) forUpdate() string {
	if db.pg {
		return " FOR UPDATE"
	}
	return ""
}

// newID returns a short random URL-safe id (72 bits, 12 characters).
func newID() string {
	var b [9]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID reports whether id is safe to use as a path element: 1 to 64 of
// [A-Za-z0-9_-]. Every id this package generates is valid.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'; !ok {
			return false
		}
	}
	return true
}

// PostgreSQL's SQLSTATE codes of the constraint failures below.
const (
	pgForeignKeyViolation = "23503"
	pgUniqueViolation     = "23505"
)

// isFKViolation reports whether err is a foreign-key constraint failure,
// which here always means that a parent row (a session, a user, a team)
// is missing.
func isFKViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgForeignKeyViolation
}

// isUniqueViolation reports whether err is the failure of a UNIQUE or
// PRIMARY KEY constraint.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func nullTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return msTime(n.Int64)
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// Package store persists sessions, their events, comments and recordings in
// SQLite (modernc.org/sqlite, no cgo) under a data directory.
//
// All writes go through one connection, so concurrent sessions queue in Go
// instead of failing with SQLITE_BUSY; reads use a separate pool and, in WAL
// mode, never wait for the writer. The methods of *DB are context-first and
// return the domain types of this package, so that another implementation
// (PostgreSQL) can satisfy the same interface that a caller declares.
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
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store rooted at a data directory. It is safe for
// concurrent use; Close it once when done.
type DB struct {
	dir string
	w   *sql.DB // exactly one connection: the single writer
	r   *sql.DB // read-only pool
	now func() time.Time
}

// Open opens (creating if needed) dataDir/cuecard.db and dataDir/audio/,
// applies the embedded migrations that are not yet recorded in
// schema_migrations, and returns the store. It fails if the database cannot
// be opened or a migration fails; nothing is left open then.
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
	db := &DB{dir: dir, w: w, now: time.Now}
	// The writer connects first so that WAL mode is set before any reader.
	if err := db.migrate(ctx); err != nil {
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
	db.r = r
	return db, nil
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
	audio := filepath.Join(dir, "audio")
	if err := os.MkdirAll(audio, DirMode); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for p, mode := range map[string]fs.FileMode{dir: DirMode, audio: DirMode, path: FileMode} {
		if err := os.Chmod(p, mode); err != nil {
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

// Close closes both connection pools. It does not wait for callers that
// still use the store; stop them first.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Dir returns the absolute data directory.
func (db *DB) Dir() string { return db.dir }

// migrate applies, in file-name order, each migrations/NNNN_name.sql whose
// version is not in schema_migrations, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migrate: %s: name must start with a version number", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := db.apply(ctx, version, base, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

func (db *DB) apply(ctx context.Context, version int, name, body string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
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

// isFKViolation reports whether err is SQLite's foreign-key constraint
// failure, which here always means that a parent row (a session, a user, a
// team) is missing.
func isFKViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// isUniqueViolation reports whether err is SQLite's failure of a UNIQUE or
// PRIMARY KEY constraint.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
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

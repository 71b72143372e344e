package store

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// The engines' names, as the migrations' dialect blocks spell them.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// migrationTable is the version table. Its shape (version, name,
// applied_at) predates goose: data directories made before goose keep it.
const migrationTable = "schema_migrations"

// migrate applies the embedded migrations that schema_migrations does not
// list, each in its own transaction, through goose. On PostgreSQL a
// session-level advisory lock, keyed by the schema, keeps nodes that
// start together from migrating at once.
func migrate(ctx context.Context, c conn) error {
	dialect := dialectSQLite
	if c.pg {
		dialect = dialectPostgres
	}
	fsys, names, err := dialectMigrations(migrations, dialect)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithStore(&versionStore{pg: c.pg, names: names}),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if c.pg {
		var schema string
		if err := c.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("cuecard migrations " + schema))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 600))
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectCustom, c.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// dialectMigrations returns the files of migrations/ as one engine sees
// them, and their names by version. A file is goose SQL for both engines,
// except between the lines "-- +dialect sqlite" or "-- +dialect postgres"
// and the next "-- +dialect" line: those lines are for that engine only;
// "-- +dialect end" ends the block.
func dialectMigrations(src fs.FS, dialect string) (fs.FS, map[int64]string, error) {
	files, err := fs.Glob(src, "migrations/*.sql")
	if err != nil {
		return nil, nil, err
	}
	out := fstest.MapFS{}
	names := map[int64]string{}
	for _, f := range files {
		body, err := fs.ReadFile(src, f)
		if err != nil {
			return nil, nil, err
		}
		text, err := forDialect(string(body), dialect)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		base := path.Base(f)
		v, err := goose.NumericComponent(base)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		out[base] = &fstest.MapFile{Data: []byte(text), Mode: 0o444}
		names[v] = base
	}
	return out, names, nil
}

// forDialect keeps the lines of body that are for every engine or for
// dialect (see dialectMigrations).
func forDialect(body, dialect string) (string, error) {
	var b strings.Builder
	keep := true
	block := ""
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "-- +dialect "); ok {
			switch d = strings.TrimSpace(d); d {
			case "end":
				if block == "" {
					return "", errors.New("-- +dialect end outside a block")
				}
				block, keep = "", true
			case dialectSQLite, dialectPostgres:
				block, keep = d, d == dialect
			default:
				return "", fmt.Errorf("unknown dialect %q", d)
			}
			continue
		}
		if keep {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if block != "" {
		return "", fmt.Errorf("-- +dialect %s is never ended", block)
	}
	return b.String(), sc.Err()
}

// versionStore is goose's record of applied migrations, kept in the
// schema_migrations table that the store used before goose (one row per
// version, with the file's name). Version 0, which goose expects to find,
// is implied rather than stored.
type versionStore struct {
	pg    bool
	names map[int64]string
}

var _ database.Store = (*versionStore)(nil)

func (s *versionStore) sql(q string) string {
	if s.pg {
		return rebind(q)
	}
	return q
}

// Tablename returns schema_migrations.
func (s *versionStore) Tablename() string { return migrationTable }

// CreateVersionTable creates schema_migrations unless it exists.
func (s *versionStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+migrationTable+` (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`)
	return err
}

// TableExists reports false: CreateVersionTable is idempotent, and the
// check would differ between the engines.
func (s *versionStore) TableExists(context.Context, database.DBTxConn) (bool, error) {
	return false, nil
}

// Insert records that a version was applied.
func (s *versionStore) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	if req.Version == 0 {
		return nil
	}
	_, err := db.ExecContext(ctx, s.sql(`INSERT INTO `+migrationTable+` (version, name, applied_at) VALUES (?, ?, ?)`),
		req.Version, s.names[req.Version], time.Now().UnixMilli())
	return err
}

// Delete forgets that a version was applied.
func (s *versionStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	_, err := db.ExecContext(ctx, s.sql(`DELETE FROM `+migrationTable+` WHERE version = ?`), version)
	return err
}

// GetMigration returns when a version was applied, or
// database.ErrVersionNotFound.
func (s *versionStore) GetMigration(ctx context.Context, db database.DBTxConn, version int64) (*database.GetMigrationResult, error) {
	if version == 0 {
		return &database.GetMigrationResult{IsApplied: true}, nil
	}
	var at int64
	err := db.QueryRowContext(ctx, s.sql(`SELECT applied_at FROM `+migrationTable+` WHERE version = ?`), version).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, database.ErrVersionNotFound
	}
	if err != nil {
		return nil, err
	}
	return &database.GetMigrationResult{Timestamp: time.UnixMilli(at).UTC(), IsApplied: true}, nil
}

// GetLatestVersion returns the highest applied version (0 for none).
func (s *versionStore) GetLatestVersion(ctx context.Context, db database.DBTxConn) (int64, error) {
	var v int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+migrationTable).Scan(&v)
	return v, err
}

// ListMigrations returns the applied versions, newest first, ending with 0.
func (s *versionStore) ListMigrations(ctx context.Context, db database.DBTxConn) ([]*database.ListMigrationsResult, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM `+migrationTable+` WHERE version > 0 ORDER BY version DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*database.ListMigrationsResult
	for rows.Next() {
		r := &database.ListMigrationsResult{IsApplied: true}
		if err := rows.Scan(&r.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return append(out, &database.ListMigrationsResult{Version: 0, IsApplied: true}), nil
}

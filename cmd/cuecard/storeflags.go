package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/cuecard/cuecard/store"
)

// storeFlags choose the store: SQLite in --data (the default), or the
// PostgreSQL database of --database, which several servers share in
// cluster mode. Recordings stay under --data unless a blob store is given.
type storeFlags struct {
	dataDir  string
	database string
}

func (f *storeFlags) register(fs *flag.FlagSet, dataUsage string) {
	fs.StringVar(&f.dataDir, "data", "./data", dataUsage)
	fs.StringVar(&f.database, "database", os.Getenv("CUECARD_DATABASE"),
		"keep the database in this PostgreSQL database (postgres://user@host:5432/name) instead of SQLite in --data (env CUECARD_DATABASE)")
}

// open opens the store the flags name.
func (f *storeFlags) open(ctx context.Context) (*store.DB, error) {
	if f.database == "" {
		db, err := store.Open(ctx, f.dataDir)
		if err != nil {
			return nil, fmt.Errorf("open data directory: %w", err)
		}
		return db, nil
	}
	if u, err := url.Parse(f.database); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, usagef("--database must be a postgres:// URL")
	}
	db, err := store.OpenPostgres(ctx, f.dataDir, f.database)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// where says where the store is, for messages (without the URL's password).
func (f *storeFlags) where() string {
	if f.database == "" {
		return "data in " + f.dataDir
	}
	u, err := url.Parse(f.database)
	if err != nil {
		return "database"
	}
	return "database " + u.Redacted()
}

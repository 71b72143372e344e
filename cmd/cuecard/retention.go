package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/server"
)

// runRetention is `cuecard retention`: it applies the teams' retention
// policies to a data directory once (the server also does, every hour),
// or with --dry-run reports what it would remove, as JSON.
func runRetention(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("retention", stderr)
	var sf storeFlags
	sf.register(fs, "the server's data directory")
	dry := fs.Bool("dry-run", false, "only report what would be removed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	srv := server.New(server.DefaultConfig(), db, nil, nil, nil)
	defer srv.Shutdown()
	rep, err := srv.RunRetention(ctx, *dry)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d removals failed", len(rep.Errors))
	}
	return nil
}

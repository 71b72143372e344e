package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/store"
)

// runSessions is `cuecard sessions delete`: it erases sessions (rows,
// events, comments, notes, recordings, upload files) from a data
// directory, by id or every session of a rep, and records each erasure in
// the audit log. Sessions on legal hold are kept and reported.
func runSessions(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: cuecard sessions delete --data DIR (ID... | --rep EMAIL)"
	if len(args) == 0 || args[0] != "delete" {
		return usagef(usage)
	}
	fs := newFlags("sessions delete", stderr)
	var sf storeFlags
	sf.register(fs, "the server's data directory")
	rep := fs.String("rep", "", "erase every session of the rep with this email")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	ids := fs.Args()
	if (*rep == "") == (len(ids) == 0) {
		return usagef(usage)
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if *rep != "" {
		u, _, err := db.UserByEmail(ctx, *rep)
		if err != nil {
			return fmt.Errorf("rep %s: %w", *rep, err)
		}
		if ids, err = db.SessionsOwnedBy(ctx, u.ID); err != nil {
			return err
		}
	}
	var failed error
	for _, id := range ids {
		err := db.EraseSession(ctx, id)
		switch {
		case errors.Is(err, store.ErrHeld):
			fmt.Fprintf(stderr, "kept %s: on legal hold\n", id)
			failed = errors.Join(failed, fmt.Errorf("%s: %w", id, err))
			continue
		case err != nil:
			failed = errors.Join(failed, err)
			continue
		}
		if _, err := db.AppendAudit(ctx, store.AuditEntry{Actor: "cli", Action: "session.erase", Target: id}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "erased %s\n", id)
	}
	return failed
}

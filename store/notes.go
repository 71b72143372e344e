package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// maxNotes bounds the post-call notes of a session, in bytes.
const maxNotes = 64 << 10

// SetNotes stores a session's post-call notes (a JSON object).
func (db *DB) SetNotes(ctx context.Context, id string, notes json.RawMessage) error {
	if len(notes) > maxNotes {
		return fmt.Errorf("set notes: %w: larger than %d bytes", ErrTextTooLong, maxNotes)
	}
	if !json.Valid(notes) {
		return fmt.Errorf("set notes: %w: not JSON", ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET notes = ? WHERE id = ?`, string(notes), id)
	if err != nil {
		return fmt.Errorf("set notes: %w", err)
	}
	return db.checkUpdated(ctx, res, "set notes", id)
}

// Notes returns a session's post-call notes, nil when it has none.
func (db *DB) Notes(ctx context.Context, id string) (json.RawMessage, error) {
	var n sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT notes FROM sessions WHERE id = ?`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notes of %q: %w", id, ErrNotFound)
	}
	if err != nil || !n.Valid {
		return nil, err
	}
	return json.RawMessage(n.String), nil
}

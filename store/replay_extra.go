package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload states.
const (
	// UploadAnalyzing is an upload whose recording is being analyzed.
	UploadAnalyzing = "analyzing"
	// UploadDone is an upload analyzed into an ended session.
	UploadDone = "done"
	// UploadFailed is an upload whose analysis failed; its session is gone.
	UploadFailed = "failed"
)

// Upload is the progress of one uploaded recording's analysis. ID is the
// id of the session it creates.
type Upload struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	DoneMS    int64     `json:"done_ms"`
	TotalMS   int64     `json:"total_ms"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetUpload stores u (inserting or replacing the row with u.ID). It returns
// an error wrapping ErrInvalid for an unknown state.
func (db *DB) SetUpload(ctx context.Context, u Upload) error {
	switch u.State {
	case UploadAnalyzing, UploadDone, UploadFailed:
	default:
		return fmt.Errorf("set upload: %w: state %q", ErrInvalid, u.State)
	}
	now := db.now().UnixMilli()
	_, err := db.w.ExecContext(ctx, `INSERT INTO uploads (id, state, done_ms, total_ms, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, done_ms = excluded.done_ms,
			total_ms = excluded.total_ms, error = excluded.error, updated_at = excluded.updated_at`,
		u.ID, u.State, u.DoneMS, u.TotalMS, u.Error, now, now)
	if err != nil {
		return fmt.Errorf("set upload: %w", err)
	}
	return nil
}

// Upload returns the progress of the upload id, or ErrNotFound.
func (db *DB) Upload(ctx context.Context, id string) (Upload, error) {
	u := Upload{ID: id}
	var created, updated int64
	err := db.r.QueryRowContext(ctx, `SELECT state, done_ms, total_ms, error, created_at, updated_at
		FROM uploads WHERE id = ?`, id).Scan(&u.State, &u.DoneMS, &u.TotalMS, &u.Error, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, fmt.Errorf("upload %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = msTime(created), msTime(updated)
	return u, nil
}

// maxReps caps Reps.
const maxReps = 1000

// Reps returns the distinct non-empty rep names of the sessions a may see
// (all when a is nil) in order, at most 1000, for the library's filter.
// Unrestricted, it reads the (rep, created_at) index, not the table.
func (db *DB) Reps(ctx context.Context, a *Access) ([]string, error) {
	where, args := "rep <> ''", []any{}
	if a != nil {
		c, aa := a.cond()
		where, args = where+" AND "+c, aa
	}
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT rep FROM sessions WHERE `+where+` ORDER BY rep LIMIT ?`, append(args, maxReps)...)
	if err != nil {
		return nil, fmt.Errorf("reps: %w", err)
	}
	defer rows.Close()
	reps := []string{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("reps: %w", err)
		}
		reps = append(reps, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reps: %w", err)
	}
	return reps, nil
}

// Uploads returns the uploads in state (UploadAnalyzing, UploadDone or
// UploadFailed), oldest first: at start the server resumes those a previous
// process left analyzing.
func (db *DB) Uploads(ctx context.Context, state string) ([]Upload, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, done_ms, total_ms, error, created_at, updated_at
		FROM uploads WHERE state = ? ORDER BY created_at, id`, state)
	if err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	defer rows.Close()
	var us []Upload
	for rows.Next() {
		u := Upload{State: state}
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.DoneMS, &u.TotalMS, &u.Error, &created, &updated); err != nil {
			return nil, fmt.Errorf("uploads: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = msTime(created), msTime(updated)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	return us, nil
}

// DeleteEvents removes every stored event of the session (an analysis
// that starts over). It returns ErrEnded for an ended session, whose
// events are its record, and ErrNotFound for an unknown one.
func (db *DB) DeleteEvents(ctx context.Context, id string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	defer tx.Rollback()
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM sessions WHERE id = ?`+db.forUpdate(), id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delete events of %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	if status == StatusEnded {
		return fmt.Errorf("delete events of %q: %w", id, ErrEnded)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE session_id = ?`, id); err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	return nil
}

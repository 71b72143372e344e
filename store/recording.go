package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cuecard/cuecard/coach"
)

// Recording is one side's audio file of a session.
type Recording struct {
	SessionID   string
	Speaker     coach.Speaker
	Path        string // absolute
	ContentType string // e.g. "audio/ogg", "audio/wav"
	CreatedAt   time.Time
}

// RecordingPath returns the path where the speaker's recording of the
// session belongs, dataDir/audio/<session>/<speaker>.<ext> (ext without the
// dot, e.g. "ogg" or "wav"), creating its directory (DirMode). It only
// computes and prepares the path: create the file with FileMode, and
// register the finished file with AddRecording. It returns an error
// wrapping ErrInvalid for a malformed id, speaker or ext.
func (db *DB) RecordingPath(sessionID string, sp coach.Speaker, ext string) (string, error) {
	if !validID(sessionID) {
		return "", fmt.Errorf("recording path: %w: session id %q", ErrInvalid, sessionID)
	}
	if sp.String() == "" {
		return "", fmt.Errorf("recording path: %w: no speaker", ErrInvalid)
	}
	if !validID(ext) {
		return "", fmt.Errorf("recording path: %w: extension %q", ErrInvalid, ext)
	}
	dir := filepath.Join(db.dir, "audio", sessionID)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return "", fmt.Errorf("recording path: %w", err)
	}
	return filepath.Join(dir, sp.String()+"."+ext), nil
}

// AddRecording registers (or replaces) the speaker's recording of the
// session; path must lie in the session's audio directory (as returned by
// RecordingPath) so that DeleteSession removes it. It returns ErrNotFound
// for an unknown session and an error wrapping ErrInvalid for a bad path or
// speaker.
func (db *DB) AddRecording(ctx context.Context, sessionID string, sp coach.Speaker, path, contentType string) error {
	if sp.String() == "" || !validID(sessionID) {
		return fmt.Errorf("add recording: %w: speaker or session id", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("add recording: %w", err)
	}
	rel, err := filepath.Rel(db.dir, abs)
	if err != nil || !strings.HasPrefix(rel, filepath.Join("audio", sessionID)+string(filepath.Separator)) {
		return fmt.Errorf("add recording: %w: %s is not in the session's audio directory", ErrInvalid, path)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO recordings (session_id, speaker, path, content_type, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (session_id, speaker) DO UPDATE SET path = excluded.path,
			content_type = excluded.content_type, created_at = excluded.created_at`,
		sessionID, sp.String(), filepath.ToSlash(rel), contentType, db.now().UnixMilli())
	if isFKViolation(err) {
		return fmt.Errorf("add recording: session %q: %w", sessionID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add recording: %w", err)
	}
	return nil
}

// Recording returns the speaker's registered recording of the session, or
// ErrNotFound. It does not check that the file still exists.
func (db *DB) Recording(ctx context.Context, sessionID string, sp coach.Speaker) (Recording, error) {
	var (
		r       = Recording{SessionID: sessionID, Speaker: sp}
		rel     string
		created int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT path, content_type, created_at FROM recordings
		WHERE session_id = ? AND speaker = ?`, sessionID, sp.String()).Scan(&rel, &r.ContentType, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Recording{}, fmt.Errorf("recording %s of session %q: %w", sp, sessionID, ErrNotFound)
	}
	if err != nil {
		return Recording{}, fmt.Errorf("recording: %w", err)
	}
	r.Path = filepath.Join(db.dir, filepath.FromSlash(rel))
	r.CreatedAt = msTime(created)
	return r, nil
}

// Recordings returns the session's registered recordings, rep first (none
// is not an error; an unknown session simply has none).
func (db *DB) Recordings(ctx context.Context, sessionID string) ([]Recording, error) {
	var rs []Recording
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		r, err := db.Recording(ctx, sessionID, sp)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

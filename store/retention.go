package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// What retention removes from a session.
const (
	PurgeRecordings  = "recordings"
	PurgeTranscripts = "transcripts"
)

// RetentionItem is one removal that a team's policy calls for.
type RetentionItem struct {
	SessionID string    `json:"session_id"`
	Team      string    `json:"team"`
	What      string    `json:"what"` // PurgeRecordings or PurgeTranscripts
	EndedAt   time.Time `json:"ended_at"`
	// KeepDays is the policy's period that has passed.
	KeepDays int `json:"keep_days"`
}

// maxRetentionItems bounds one retention pass; the next pass takes the
// rest.
const maxRetentionItems = 5000

// RetentionDue lists what the teams' policies say must go at now:
// recordings and transcripts of ended sessions older than their team's
// periods, not on legal hold, not removed already. Oldest first, at most
// 5000.
func (db *DB) RetentionDue(ctx context.Context, now time.Time) ([]RetentionItem, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT s.id, s.team, 'recordings', s.ended_at, p.recordings_days FROM sessions s
		JOIN team_policies p ON p.team_id = s.team
		WHERE s.status = 'ended' AND NOT s.legal_hold AND p.recordings_days > 0 AND s.recordings_purged_at IS NULL
		  AND s.ended_at < ? - p.recordings_days * CAST(86400000 AS BIGINT)
		UNION ALL
		SELECT s.id, s.team, 'transcripts', s.ended_at, p.transcripts_days FROM sessions s
		JOIN team_policies p ON p.team_id = s.team
		WHERE s.status = 'ended' AND NOT s.legal_hold AND p.transcripts_days > 0 AND s.transcripts_purged_at IS NULL
		  AND s.ended_at < ? - p.transcripts_days * CAST(86400000 AS BIGINT)
		ORDER BY 4, 1, 3 LIMIT ?`, now.UnixMilli(), now.UnixMilli(), maxRetentionItems)
	if err != nil {
		return nil, fmt.Errorf("retention due: %w", err)
	}
	defer rows.Close()
	var items []RetentionItem
	for rows.Next() {
		var it RetentionItem
		var ended int64
		if err := rows.Scan(&it.SessionID, &it.Team, &it.What, &ended, &it.KeepDays); err != nil {
			return nil, fmt.Errorf("retention due: %w", err)
		}
		it.EndedAt = msTime(ended)
		items = append(items, it)
	}
	return items, rows.Err()
}

// Purge removes what (PurgeRecordings or PurgeTranscripts) of session id
// and marks it removed. Recordings: the rows and files. Transcripts: the
// events, comments and notes; the summary and the metrics stay. A session
// on legal hold is refused (ErrHeld).
func (db *DB) Purge(ctx context.Context, id, what string) error {
	var stmts []string
	switch what {
	case PurgeRecordings:
		stmts = []string{`DELETE FROM recordings WHERE session_id = ?`,
			`UPDATE sessions SET recordings_purged_at = ` + fmt.Sprint(db.now().UnixMilli()) + ` WHERE id = ?`}
	case PurgeTranscripts:
		stmts = []string{`DELETE FROM events WHERE session_id = ?`, `DELETE FROM comments WHERE session_id = ?`,
			`UPDATE sessions SET notes = NULL, transcripts_purged_at = ` + fmt.Sprint(db.now().UnixMilli()) + ` WHERE id = ?`}
	default:
		return fmt.Errorf("purge: %w: %q is not recordings or transcripts", ErrInvalid, what)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	defer tx.Rollback()
	var hold bool
	if err := tx.QueryRowContext(ctx, `SELECT legal_hold FROM sessions WHERE id = ?`+db.forUpdate(), id).Scan(&hold); err != nil {
		return fmt.Errorf("purge %s: %w", id, notFound(err))
	}
	if hold {
		return fmt.Errorf("purge %s: %w", id, ErrHeld)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("purge %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	if what == PurgeRecordings && validID(id) {
		if err := os.RemoveAll(filepath.Join(db.dir, "audio", id)); err != nil {
			return fmt.Errorf("purge %s: audio: %w", id, err)
		}
	}
	return nil
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

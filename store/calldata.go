package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// ErrHeld is returned (wrapped) when a session on legal hold would be
// erased.
var ErrHeld = errors.New("session is on legal hold")

// TeamPolicy is a team's consent and retention policy. Zero days keep
// data until it is erased.
type TeamPolicy struct {
	TeamID         string `json:"team_id"`
	ConsentPolicy  string `json:"consent_policy"` // PolicyOneParty or PolicyAllParty
	ConsentText    string `json:"consent_text"`
	ConsentVersion int    `json:"consent_version"`
	// RecordingsDays keeps recordings this many days after the call;
	// TranscriptsDays keeps transcripts, events, comments and notes.
	// Summaries and metrics are kept.
	RecordingsDays  int `json:"recordings_days"`
	TranscriptsDays int `json:"transcripts_days"`
}

// DefaultTeamPolicy is the policy of a team that has set none: all-party
// consent, data kept until erased.
func DefaultTeamPolicy(teamID string) TeamPolicy {
	return TeamPolicy{TeamID: teamID, ConsentPolicy: PolicyAllParty}
}

// TeamPolicy returns the team's policy (DefaultTeamPolicy if it has
// none; also for "", the sessions of no team).
func (db *DB) TeamPolicy(ctx context.Context, teamID string) (TeamPolicy, error) {
	p := DefaultTeamPolicy(teamID)
	err := db.r.QueryRowContext(ctx, `SELECT consent_policy, consent_text, consent_version, recordings_days, transcripts_days
		FROM team_policies WHERE team_id = ?`, teamID).Scan(&p.ConsentPolicy, &p.ConsentText, &p.ConsentVersion,
		&p.RecordingsDays, &p.TranscriptsDays)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("team policy: %w", err)
	}
	return p, nil
}

// SetTeamPolicy stores p; a changed consent text gets the next version.
// It returns ErrNotFound for an unknown team and ErrInvalid for a bad
// policy.
func (db *DB) SetTeamPolicy(ctx context.Context, p TeamPolicy) (TeamPolicy, error) {
	if p.ConsentPolicy != PolicyOneParty && p.ConsentPolicy != PolicyAllParty {
		return p, fmt.Errorf("set team policy: %w: consent policy %q is not one-party or all-party", ErrInvalid, p.ConsentPolicy)
	}
	if p.RecordingsDays < 0 || p.TranscriptsDays < 0 || p.RecordingsDays > 36500 || p.TranscriptsDays > 36500 {
		return p, fmt.Errorf("set team policy: %w: days must be 0 to 36500", ErrInvalid)
	}
	if utf8.RuneCountInString(p.ConsentText) > maxConsentLen {
		return p, fmt.Errorf("set team policy: %w: consent text longer than %d characters", ErrTextTooLong, maxConsentLen)
	}
	// The version follows from the stored text: read and write under the
	// team's row lock, so that two servers changing it at once both count.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return p, fmt.Errorf("set team policy: %w", err)
	}
	defer tx.Rollback()
	var team string
	if err := tx.QueryRowContext(ctx, `SELECT id FROM teams WHERE id = ?`+db.forUpdate(), p.TeamID).Scan(&team); err != nil {
		return p, fmt.Errorf("set team policy: team %q: %w", p.TeamID, notFound(err))
	}
	var oldText string
	err = tx.QueryRowContext(ctx, `SELECT consent_text, consent_version FROM team_policies WHERE team_id = ?`,
		p.TeamID).Scan(&oldText, &p.ConsentVersion)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("set team policy: %w", err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		p.ConsentVersion = 0
	}
	if p.ConsentText != oldText {
		p.ConsentVersion++
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO team_policies
		(team_id, consent_policy, consent_text, consent_version, recordings_days, transcripts_days, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (team_id) DO UPDATE SET consent_policy = excluded.consent_policy, consent_text = excluded.consent_text,
		consent_version = excluded.consent_version, recordings_days = excluded.recordings_days,
		transcripts_days = excluded.transcripts_days, updated_at = excluded.updated_at`,
		p.TeamID, p.ConsentPolicy, p.ConsentText, p.ConsentVersion, p.RecordingsDays, p.TranscriptsDays, db.now().UnixMilli())
	if err != nil {
		return p, fmt.Errorf("set team policy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return p, fmt.Errorf("set team policy: %w", err)
	}
	return p, nil
}

// SetLegalHold puts a session on legal hold or takes it off.
func (db *DB) SetLegalHold(ctx context.Context, id string, hold bool) error {
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET legal_hold = ? WHERE id = ?`, hold, id)
	if err != nil {
		return fmt.Errorf("legal hold: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, fmt.Errorf("legal hold: session %q: %w", id, ErrNotFound))
	}
	return nil
}

// EraseSession removes a session and everything of it: its row (with the
// summary and notes), events, comments, recording rows and files, and its
// upload's progress row. A session on legal hold is refused (ErrHeld).
//
// On SQLite, erased pages are overwritten in the database file
// (secure_delete) and the write-ahead log is truncated, so the content
// does not linger on disk. On PostgreSQL the rows are deleted and no
// longer visible to any query, but their bytes stay in the table's pages
// until VACUUM reuses them and in the write-ahead log and backups until
// those are recycled: erasure from the disks there is the database
// operator's retention of WAL and backups.
func (db *DB) EraseSession(ctx context.Context, id string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("erase session: %w", err)
	}
	defer tx.Rollback()
	var hold bool
	err = tx.QueryRowContext(ctx, `SELECT legal_hold FROM sessions WHERE id = ?`+db.forUpdate(), id).Scan(&hold)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("erase session %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("erase session: %w", err)
	case hold:
		return fmt.Errorf("erase session %q: %w", id, ErrHeld)
	}
	for _, q := range []string{`DELETE FROM uploads WHERE id = ?`, `DELETE FROM sessions WHERE id = ?`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("erase session: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("erase session: %w", err)
	}
	if validID(id) {
		for _, d := range []string{"audio", "uploads"} {
			if err := os.RemoveAll(filepath.Join(db.dir, d, id)); err != nil {
				return fmt.Errorf("erase session %q: %s files: %w", id, d, err)
			}
		}
	}
	if db.pg {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("erase session: checkpoint: %w", err)
	}
	return nil
}

// SessionsOwnedBy returns the ids of every session owned by user.
func (db *DB) SessionsOwnedBy(ctx context.Context, userID string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM sessions WHERE owner = ? ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("sessions of %q: %w", userID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sessions of %q: %w", userID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

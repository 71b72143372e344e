package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	old, err := db.TeamPolicy(ctx, p.TeamID)
	if err != nil {
		return p, err
	}
	p.ConsentVersion = old.ConsentVersion
	if p.ConsentText != old.ConsentText {
		p.ConsentVersion++
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO team_policies
		(team_id, consent_policy, consent_text, consent_version, recordings_days, transcripts_days, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (team_id) DO UPDATE SET consent_policy = excluded.consent_policy, consent_text = excluded.consent_text,
		consent_version = excluded.consent_version, recordings_days = excluded.recordings_days,
		transcripts_days = excluded.transcripts_days, updated_at = excluded.updated_at`,
		p.TeamID, p.ConsentPolicy, p.ConsentText, p.ConsentVersion, p.RecordingsDays, p.TranscriptsDays, db.now().UnixMilli())
	if err != nil {
		if isForeignKey(err) {
			return p, fmt.Errorf("set team policy: team %q: %w", p.TeamID, ErrNotFound)
		}
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
// Erased pages are overwritten in the database file (secure_delete) and
// the write-ahead log is truncated, so the content does not linger on
// disk.
func (db *DB) EraseSession(ctx context.Context, id string) error {
	var hold bool
	err := db.w.QueryRowContext(ctx, `SELECT legal_hold FROM sessions WHERE id = ?`, id).Scan(&hold)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("erase session %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("erase session: %w", err)
	case hold:
		return fmt.Errorf("erase session %q: %w", id, ErrHeld)
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return fmt.Errorf("erase session: %w", err)
	}
	if err := db.DeleteSession(ctx, id); err != nil {
		return err
	}
	if validID(id) {
		if err := os.RemoveAll(filepath.Join(db.dir, "uploads", id)); err != nil {
			return fmt.Errorf("erase session %q: upload files: %w", id, err)
		}
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

// isForeignKey reports whether err is a foreign key constraint failure.
func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

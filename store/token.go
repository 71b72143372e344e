package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
)

// APIToken is a long-lived credential of a user for the API. The secret
// itself is never stored, only Hash (see auth.HashSecret).
type APIToken struct {
	ID        string       `json:"id"`
	UserID    string       `json:"user_id"`
	Name      string       `json:"name"`
	Scopes    []auth.Scope `json:"scopes"`
	CreatedAt time.Time    `json:"created_at"`
	// ExpiresAt, LastUsedAt and RevokedAt are zero for none.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Hash       string    `json:"-"`
}

// truncMS drops what a stored time loses (below a millisecond, the zone).
func truncMS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return msTime(t.UnixMilli())
}

// CreateToken stores t, whose ID and Hash come from auth.NewToken, and
// returns it as stored: scopes sorted, times in milliseconds, a zero
// CreatedAt set to now, LastUsedAt and RevokedAt cleared. It returns
// ErrNotFound for an unknown user, ErrConflict for a taken id and an error
// wrapping ErrInvalid for a bad id, hash, name or scope list (it must hold
// at least one scope).
func (db *DB) CreateToken(ctx context.Context, t APIToken) (APIToken, error) {
	t.Name = strings.TrimSpace(t.Name)
	if !validID(t.ID) {
		return APIToken{}, fmt.Errorf("create token: %w: bad token id", ErrInvalid)
	}
	if err := checkField("token hash", t.Hash, maxHashLen, true); err != nil {
		return APIToken{}, fmt.Errorf("create token: %w", err)
	}
	if err := checkField("token name", t.Name, maxLabelLen, false); err != nil {
		return APIToken{}, fmt.Errorf("create token: %w", err)
	}
	scopes, err := auth.ParseScopes(auth.FormatScopes(t.Scopes))
	if err != nil || len(scopes) == 0 {
		return APIToken{}, fmt.Errorf("create token: %w: scopes %q", ErrInvalid, t.Scopes)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	t.Scopes, t.CreatedAt, t.ExpiresAt = scopes, truncMS(t.CreatedAt), truncMS(t.ExpiresAt)
	t.LastUsedAt, t.RevokedAt = time.Time{}, time.Time{}
	_, err = db.w.ExecContext(ctx, `INSERT INTO api_tokens (id, user_id, name, hash, scopes, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, t.UserID, t.Name, t.Hash, auth.FormatScopes(t.Scopes),
		t.CreatedAt.UnixMilli(), nullMS(t.ExpiresAt))
	switch {
	case isFKViolation(err):
		return APIToken{}, fmt.Errorf("create token: user %q: %w", t.UserID, ErrNotFound)
	case isUniqueViolation(err):
		return APIToken{}, fmt.Errorf("create token %q: %w", t.ID, ErrConflict)
	case err != nil:
		return APIToken{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

const tokenCols = `id, user_id, name, hash, scopes, created_at, expires_at, last_used_at, revoked_at`

func scanToken(sc scanner) (APIToken, error) {
	var (
		t                      APIToken
		scopes                 string
		created                int64
		expires, used, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &scopes, &created, &expires, &used, &revoked); err != nil {
		return APIToken{}, err
	}
	var err error
	if t.Scopes, err = auth.ParseScopes(scopes); err != nil {
		return APIToken{}, fmt.Errorf("token %q: %w", t.ID, err)
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = msTime(created), nullTime(expires), nullTime(used), nullTime(revoked)
	return t, nil
}

// GetToken returns the token with that id, revoked and expired ones
// included (the caller checks), or ErrNotFound.
func (db *DB) GetToken(ctx context.Context, id string) (APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("get token: %w", err)
	}
	return t, nil
}

// ListTokens returns the user's tokens, or every user's for userID "",
// oldest first, revoked and expired ones included.
func (db *DB) ListTokens(ctx context.Context, userID string) ([]APIToken, error) {
	q, args := `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`, []any(nil)
	if userID != "" {
		q, args = `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at, id`, []any{userID}
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	ts := []APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken marks the token revoked at at (zero means now); revoking it
// again keeps the first time. It returns ErrNotFound for an unknown id.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		at.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("revoke token %q: %w", id, err)
	}
	return nil
}

// TouchToken records that the token was used at at (zero means now); an
// earlier time than the stored one is ignored. Each call is a write, so
// callers throttle it (about once a minute per token). It returns
// ErrNotFound for an unknown id.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	// One statement, so that concurrent touches (from several servers on
	// PostgreSQL) keep the latest time: the row is re-read under its lock.
	ms := at.UnixMilli()
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at =
		CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
		WHERE id = ?`, ms, ms, id)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("touch token %q: %w", id, err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Bounds of browser sessions: scs makes 43-character tokens and keeps a
// few values in the data.
const (
	maxWebTokenLen = 256
	maxWebDataLen  = 1 << 20
)

// FindCtx returns the data of the browser session token. found is false,
// with a nil error, when the token is unknown, expired or malformed; the
// error is for failures of the store only. With CommitCtx and DeleteCtx it
// has the shape of the alexedwards/scs/v2 CtxStore methods.
func (db *DB) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if token == "" || len(token) > maxWebTokenLen {
		return nil, false, nil
	}
	var b []byte
	err := db.r.QueryRowContext(ctx, `SELECT data FROM web_sessions WHERE token = ? AND expiry > ?`,
		token, db.now().UnixMilli()).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find web session: %w", err)
	}
	return b, true, nil
}

// CommitCtx stores the data of the browser session token until expiry,
// replacing what the token held. It returns an error wrapping ErrInvalid
// for an empty or over-long token or over-long data.
func (db *DB) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	switch {
	case token == "":
		return fmt.Errorf("commit web session: %w: empty token", ErrInvalid)
	case len(token) > maxWebTokenLen:
		return fmt.Errorf("commit web session: %w: token longer than %d bytes", ErrTextTooLong, maxWebTokenLen)
	case len(b) > maxWebDataLen:
		return fmt.Errorf("commit web session: %w: data longer than %d bytes", ErrTextTooLong, maxWebDataLen)
	}
	if b == nil {
		b = []byte{}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO web_sessions (token, data, expiry) VALUES (?, ?, ?)
		ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
		token, b, expiry.UnixMilli())
	if err != nil {
		return fmt.Errorf("commit web session: %w", err)
	}
	return nil
}

// DeleteCtx removes the browser session token; an unknown token is not an
// error.
func (db *DB) DeleteCtx(ctx context.Context, token string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM web_sessions WHERE token = ?`, token); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}

// DeleteExpiredWebSessions removes the browser sessions expired at now
// (the ones FindCtx no longer finds) and returns how many there were.
func (db *DB) DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM web_sessions WHERE expiry <= ?`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	return n, nil
}

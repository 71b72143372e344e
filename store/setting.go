package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Bounds of settings, in bytes.
const (
	maxSettingKeyLen   = 200
	maxSettingValueLen = 64 << 10
)

// Setting returns the value stored under key and whether there is one.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("setting %q: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores value under key, replacing any value there. It returns
// an error wrapping ErrInvalid for an empty or over-long key or an
// over-long value.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	if err := checkField("setting key", key, maxSettingKeyLen, true); err != nil {
		return fmt.Errorf("set setting: %w", err)
	}
	if len(value) > maxSettingValueLen {
		return fmt.Errorf("set setting %q: %w: value longer than %d bytes", key, ErrTextTooLong, maxSettingValueLen)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set setting %q: %w", key, err)
	}
	return nil
}

// DeleteSetting removes key; a key that is not set is not an error.
func (db *DB) DeleteSetting(ctx context.Context, key string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete setting %q: %w", key, err)
	}
	return nil
}

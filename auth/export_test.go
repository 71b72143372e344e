package auth

import "time"

// AllowAt is Allow at a given time, so tests need not sleep.
func (l *Limiter) AllowAt(key string, now time.Time) bool { return l.allowAt(key, now) }

// Len returns the number of keys l holds.
func (l *Limiter) Len() int { return l.len() }

// DecodeHash parses a PHC string as CheckPassword does and returns its
// parts.
func DecodeHash(s string) (p PasswordParams, salt, key []byte, err error) {
	h, err := decodeHash(s)
	return h.params, h.salt, h.key, err
}

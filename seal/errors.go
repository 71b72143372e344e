package seal

import (
	"errors"
	"fmt"
)

// Sentinel errors of sealed files; compare with errors.Is.
var (
	// ErrFormat means the input is not a sealed file (wrong magic, a bad
	// header or a length no sealed file can have).
	ErrFormat = errors.New("not a sealed recording")
	// ErrAuth means a chunk failed authentication: the file was changed,
	// its chunks reordered, or it was sealed with another key of the same
	// id.
	ErrAuth = errors.New("sealed recording failed authentication")
	// ErrTruncated means the file ends before its final chunk.
	ErrTruncated = errors.New("sealed recording is truncated")
	// ErrUnknownKey means no key of the keyring has the file's key id
	// (see KeyError).
	ErrUnknownKey = errors.New("recording key not configured")
	// ErrKey means key material is not 32 bytes (raw, hex or base64).
	ErrKey = errors.New("a recording key must be 32 bytes: raw, or hex or base64 encoded")
)

// KeyError is returned when the keyring lacks the key a file was sealed
// with; it unwraps to ErrUnknownKey.
type KeyError struct {
	// ID is the file's key id (hex).
	ID string
}

func (e *KeyError) Error() string { return fmt.Sprintf("recording key %s not configured", e.ID) }

// Unwrap returns ErrUnknownKey.
func (e *KeyError) Unwrap() error { return ErrUnknownKey }

package blob

import "errors"

var (
	// ErrNotFound means no object has the key.
	ErrNotFound = errors.New("blob: object not found")
	// ErrInvalidKey means a key is empty, absolute, or has an empty,
	// "." or ".." segment.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrConfig means a store cannot be built from its configuration.
	ErrConfig = errors.New("blob: invalid configuration")
)

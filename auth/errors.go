package auth

import "errors"

// ErrBadToken means a string is not an API token of the form NewToken
// makes.
var ErrBadToken = errors.New("auth: malformed token")

// ErrBadHash means a stored password hash is not an argon2id PHC string
// within the bounds CheckPassword accepts.
var ErrBadHash = errors.New("auth: malformed password hash")

// ErrWeakPassword means a password is shorter than 10 bytes or longer
// than 1024.
var ErrWeakPassword = errors.New("auth: password must be 10 to 1024 bytes")

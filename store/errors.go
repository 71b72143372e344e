package store

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when a session, comment or recording
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) when an argument fails validation; the
// more specific errors below wrap it, so errors.Is(err, ErrInvalid) holds
// for all of them.
var ErrInvalid = errors.New("invalid argument")

// ErrEnded is returned (wrapped) when a session that has already ended is
// marked live or ended again; a stored summary is never overwritten.
var ErrEnded = errors.New("session already ended")

// ErrEmptyText is returned when a comment's text is empty or only space.
var ErrEmptyText = fmt.Errorf("%w: comment text is empty", ErrInvalid)

// ErrNegativeTime is returned when a comment's at_ms is below zero.
var ErrNegativeTime = fmt.Errorf("%w: at_ms is negative", ErrInvalid)

// ErrTextTooLong is returned when a comment's text has more than
// MaxCommentLen characters, or its author more than MaxAuthorLen.
var ErrTextTooLong = fmt.Errorf("%w: text too long", ErrInvalid)

// ErrBadCursor is returned when ListFilter.Cursor is not a cursor that
// ListSessions produced for the same sort order.
var ErrBadCursor = fmt.Errorf("%w: bad paging cursor", ErrInvalid)

// ErrConflict is returned (wrapped) when a write would duplicate what must
// be unique: a user's email or single sign-on subject, a team name, a
// token id.
var ErrConflict = errors.New("already exists")

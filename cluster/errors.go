package cluster

import "errors"

var (
	// ErrOwned is returned by Claim when a live node other than this one
	// owns the session.
	ErrOwned = errors.New("cluster: session owned by another live node")
	// ErrNoOwner is returned by Owner when no node has claimed the session.
	ErrNoOwner = errors.New("cluster: session has no owner")
	// ErrBadID is returned for a session id that cannot name a subject or
	// a key (only letters, digits, '-' and '_' can).
	ErrBadID = errors.New("cluster: session id not usable as a subject")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("cluster: node closed")
)

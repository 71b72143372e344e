package remote

import "errors"

// Errors of remote backends.
var (
	// ErrRemoteDisabled means a remote backend was configured while
	// NoRemote forbids audio or text to leave the machine.
	ErrRemoteDisabled = errors.New("remote backends are disabled (--no-remote)")
	// ErrCircuitOpen means a backend failed repeatedly and is given a rest
	// before it is tried again.
	ErrCircuitOpen = errors.New("service unavailable (circuit open)")
	// ErrQueueFull means a backend already has as much work waiting as it
	// may; the new work was dropped (and counted).
	ErrQueueFull = errors.New("too many requests waiting")
	// ErrMalformed means a service answered something that is not the
	// expected JSON.
	ErrMalformed = errors.New("malformed answer")
	// ErrOverflow means audio for a segment could not be handed to a
	// stalled backend in time, so the segment was dropped.
	ErrOverflow = errors.New("audio backlog full")
	// ErrTimeout means no transcript arrived within the time allowed.
	ErrTimeout = errors.New("timed out")
)

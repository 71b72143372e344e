package siprec

import "errors"

// Sentinel errors. A Sink's Start returns ErrRejected (wrapped) to refuse a
// call with 403, e.g. when no user matches the rep.
var (
	ErrRejected    = errors.New("siprec: call rejected")
	ErrBadMetadata = errors.New("siprec: malformed recording metadata")
	ErrBadSDP      = errors.New("siprec: unusable SDP offer")
	ErrClosed      = errors.New("siprec: server closed")
)

package jobs

import "errors"

var (
	// ErrClosed is returned by Enqueue after Close.
	ErrClosed = errors.New("jobs: queue closed")
	// ErrNoHandler means a job's kind has no handler on this node.
	ErrNoHandler = errors.New("jobs: no handler for kind")
	// ErrStarted means Handle was called after Start.
	ErrStarted = errors.New("jobs: queue already started")
)

// permanent marks an error no retry can fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the queue gives the job up at once rather
// than retrying it (a malformed upload, an unsupported file).
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was wrapped by Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

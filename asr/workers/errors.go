package workers

import "errors"

// Sentinel errors of recognition through workers; the errors returned
// wrap them with detail, so compare with errors.Is.
var (
	// ErrNoWorkers means no worker listened on the segment subject within
	// the client's timeout.
	ErrNoWorkers = errors.New("no recognizer workers")
	// ErrBusy means workers answered, but none had a free decoder within
	// the client's timeout.
	ErrBusy = errors.New("every recognizer worker busy")
	// ErrTimeout means a worker took a segment but its transcript did not
	// come within the timeout, on every attempt.
	ErrTimeout = errors.New("recognizer worker timed out")
	// ErrWorkerLost means the workers that took a segment went away (or
	// lost its audio) on every attempt.
	ErrWorkerLost = errors.New("recognizer worker lost")
	// ErrTooLarge means a segment is longer than the size limit; it is
	// refused, not truncated.
	ErrTooLarge = errors.New("speech segment too large")
	// ErrDecoder means the worker's decoder failed on the segment; the
	// error carries the worker's message. It is not retried: another
	// decoder would fail the same way.
	ErrDecoder = errors.New("recognizer worker decoder failed")
	// ErrBacklog means too many of a side's segments were waiting for the
	// previous one's transcript, or its audio could not be queued.
	ErrBacklog = errors.New("recognition backlog full")
	// ErrProtocol means a message did not follow the protocol (bad
	// version, a gap in the audio, odd PCM length).
	ErrProtocol = errors.New("recognizer worker protocol error")
	// ErrClosed means the stream or client was closed.
	ErrClosed = errors.New("closed")
)

package stream

import "errors"

// Sentinel errors of the audio pipeline; wrapped errors name the file or
// step, so compare with errors.Is.
var (
	// ErrNotWAV means the input is not a RIFF/WAVE file.
	ErrNotWAV = errors.New("not a WAV file")
	// ErrUnsupportedFormat means a WAV encoding the reader cannot decode.
	ErrUnsupportedFormat = errors.New("unsupported WAV encoding (supported: PCM 8/16/24/32-bit integer or 32/64-bit float, 1 to 8 channels, plain or WAVE_FORMAT_EXTENSIBLE)")
	// ErrTruncated means the file ends inside a header or sample frame.
	ErrTruncated = errors.New("truncated WAV file")
	// ErrCorrupt means the WAV header is inconsistent.
	ErrCorrupt = errors.New("corrupt WAV header")
	// ErrBusy means no recognizer of a shared pool is free right now.
	ErrBusy = errors.New("all recognizers busy")
	// ErrClosed means the recognizer pool or pipeline was closed.
	ErrClosed = errors.New("closed")
	// ErrModel means the speech recognizer's model could not be loaded.
	ErrModel = errors.New("cannot load speech model")
)

// Errors of transcript input, wrapped in a *LineError.
var (
	// ErrBadJSON means a line is not a JSON object.
	ErrBadJSON = errors.New("unreadable JSON")
	// ErrBadField means a required field is missing or has a bad value.
	ErrBadField = errors.New("bad field")
	// ErrTimeOrder means times that go backwards or end before they start.
	ErrTimeOrder = errors.New("bad times")
	// ErrLineTooLong means a line over MaxTranscriptLine bytes.
	ErrLineTooLong = errors.New("line too long")
)

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

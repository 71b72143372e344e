package stream

import "errors"

// Sentinel errors of the audio pipeline; wrapped errors name the file or
// step, so compare with errors.Is.
var (
	// ErrBusy means no recognizer of a shared pool is free right now.
	ErrBusy = errors.New("all recognizers busy")
	// ErrClosed means the recognizer pool or pipeline was closed.
	ErrClosed = errors.New("closed")
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

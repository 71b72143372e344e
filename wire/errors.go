package wire

import "errors"

// Protocol errors of the live audio stream; a server closes the stream
// with a WebSocket close code and the error as its reason.
var (
	// ErrBadChannel is a binary frame whose first byte is not 0 or 1.
	ErrBadChannel = errors.New("unknown channel byte")
	// ErrOddFrame is a binary frame with half a sample.
	ErrOddFrame = errors.New("odd number of PCM bytes")
	// ErrEmptyFrame is a binary frame without samples.
	ErrEmptyFrame = errors.New("frame has no samples")
	// ErrFrameTooLong is a binary frame longer than MaxFrameMS of audio.
	ErrFrameTooLong = errors.New("frame too long")
	// ErrBadControl is a text frame that is not a known control message.
	ErrBadControl = errors.New("bad control message")
	// ErrBadRate is a sample rate the server does not take.
	ErrBadRate = errors.New("unsupported sample rate")
	// ErrBadEvent is a server text frame that is not an event.
	ErrBadEvent = errors.New("bad event from server")
)

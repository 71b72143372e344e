package server

import (
	"errors"
	"fmt"
)

// Protocol errors of the live audio stream; each closes the stream with a
// WebSocket close code and the error as its reason.
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
	// ErrLateStart is a start message after audio has begun.
	ErrLateStart = errors.New("start after audio")

	// ErrSessionEnded means the session is over and takes no more audio.
	ErrSessionEnded = errors.New("session ended")
	// ErrSessionBusy means another client is already streaming the session.
	ErrSessionBusy = errors.New("session already has an audio stream")
	// ErrShuttingDown means the server is stopping.
	ErrShuttingDown = errors.New("server shutting down")
)

// Errors of the WebRTC endpoint.
var (
	// ErrBadOffer is a request body that is not a usable SDP offer.
	ErrBadOffer = fmt.Errorf("%w: bad SDP offer", errBadRequest)
	// ErrNoAudio is an offer without an Opus audio track to receive.
	ErrNoAudio = fmt.Errorf("%w: offer has no Opus audio track", errBadRequest)
	// errNotSDP is a request whose Content-Type is not application/sdp.
	errNotSDP = errors.New("Content-Type must be application/sdp")
)

package server

import (
	"errors"
	"fmt"
)

// Protocol errors of the live audio stream (more are in package wire);
// each closes the stream with a WebSocket close code and the error as its
// reason.
var (
	// ErrLateStart is a start message after audio has begun.
	ErrLateStart = errors.New("start after audio")

	// ErrSessionEnded means the session is over and takes no more audio.
	ErrSessionEnded = errors.New("session ended")
	// ErrSessionBusy means another client is already streaming the session.
	ErrSessionBusy = errors.New("session already has an audio stream")
	// ErrShuttingDown means the server is stopping.
	ErrShuttingDown = errors.New("server shutting down")
	// ErrOwnedElsewhere means another live node of the cluster runs the
	// session (a client should come back through it, or again).
	ErrOwnedElsewhere = errors.New("session runs on another node")
	// ErrClusterUnavailable means the cluster's registry cannot be reached
	// to claim a session; try again.
	ErrClusterUnavailable = errors.New("cluster registry unavailable")
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

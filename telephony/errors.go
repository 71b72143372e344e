package telephony

import "errors"

// Errors of decoding and authentication.
var (
	// ErrBadMessage is a message that is not the provider's JSON.
	ErrBadMessage = errors.New("telephony: malformed message")
	// ErrNoStart is media before the stream's start message.
	ErrNoStart = errors.New("telephony: media before start")
	// ErrBadFormat is a media format we cannot decode (another codec,
	// rate or channel count).
	ErrBadFormat = errors.New("telephony: unsupported media format")
	// ErrBadPayload is a media payload that is not base64 or not whole
	// samples.
	ErrBadPayload = errors.New("telephony: bad media payload")
	// ErrBadSignature is a connection whose provider signature or token
	// does not verify.
	ErrBadSignature = errors.New("telephony: signature does not verify")
)

// Package telephony speaks the media-stream formats of telephone dialer
// platforms: the JSON messages that Twilio Media Streams, Telnyx media
// streaming and Plivo audio streams send over a WebSocket, and the
// signatures that authenticate the connection. A Decoder turns each
// provider's messages into one common form (a track, a sequence, a
// timestamp and 16-bit PCM at 8 or 16 kHz) and a Reorder puts a track's
// frames back in order, concealing gaps.
//
// It has no I/O of its own and imports no server code, so a SIP
// recording server or a test client can use it as well.
package telephony

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Provider is a dialer platform whose media-stream format we speak.
type Provider uint8

// The providers.
const (
	Twilio Provider = iota + 1
	Telnyx
	Plivo
)

// Providers lists every provider, in a stable order.
var Providers = []Provider{Twilio, Telnyx, Plivo}

// String returns the provider's lower-case name, as in its route.
func (p Provider) String() string {
	switch p {
	case Twilio:
		return "twilio"
	case Telnyx:
		return "telnyx"
	case Plivo:
		return "plivo"
	}
	return "unknown"
}

// Track is one direction of a call's audio, as the provider names it:
// inbound is what the party whose call leg carries the stream says (heard
// by the platform), outbound what the platform sends to that party.
type Track uint8

// The tracks.
const (
	NoTrack Track = iota
	Inbound
	Outbound
)

// String returns "inbound" or "outbound".
func (t Track) String() string {
	switch t {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case NoTrack:
	}
	return ""
}

// ParseTrack reads a track name: "inbound" or "outbound", with or without
// the "_track" suffix some messages carry; NoTrack for anything else.
func ParseTrack(s string) Track {
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "_track") {
	case "inbound":
		return Inbound
	case "outbound":
		return Outbound
	}
	return NoTrack
}

// Encoding is how a payload's samples are coded.
type Encoding uint8

// The encodings.
const (
	Mulaw Encoding = iota + 1 // G.711 mu-law (PCMU), one byte a sample
	Alaw                      // G.711 A-law (PCMA), one byte a sample
	L16                       // 16-bit signed linear PCM
)

// Format is the media format a stream announced in its start message.
type Format struct {
	Encoding Encoding
	Rate     int // samples per second: 8000 or 16000
	Channels int
	// BigEndian: L16 samples in network byte order (RTP's L16).
	BigEndian bool
}

// Kind is the type of a decoded message.
type Kind uint8

// The kinds of message. Marks, DTMF and the rest carry no audio: a
// caller ignores them.
const (
	KindOther Kind = iota
	KindConnected
	KindStart
	KindMedia
	KindStop
	KindDTMF
	KindMark
)

// Start is what a stream's start message says about the call.
type Start struct {
	StreamID  string
	CallID    string
	AccountID string
	Tracks    []Track
	// Params are the custom parameters the call's instructions set (Twilio
	// and Telnyx <Parameter>, Plivo extraHeaders).
	Params map[string]string
	Format Format
}

// Frame is one chunk of one track's audio in the common form.
type Frame struct {
	Track Track
	// Seq orders the track's frames: the provider's per-track chunk
	// number, counted from 1.
	Seq int64
	// TimestampMS is the frame's position in the stream in milliseconds,
	// from the stream's start.
	TimestampMS int64
	// PCM is mono 16-bit audio at the stream's Format.Rate.
	PCM []int16
	// Concealed marks silence a Reorder put in place of a lost frame.
	Concealed bool
}

// Message is one decoded message.
type Message struct {
	Kind Kind
	// Seq is the message's sequence number (0 if it has none).
	Seq   int64
	Start Start // KindStart
	Frame Frame // KindMedia
	Digit string
}

// num reads a JSON number or a string holding one: providers send the
// same counters as either.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return ErrBadMessage
		}
		v = int64(f)
	}
	*n = num(v)
	return nil
}

// params reads custom parameters: an object of strings (numbers and
// booleans are kept as their text).
type params map[string]string

func (p *params) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadMessage
	}
	out := make(params, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out[k] = s
	}
	*p = out
	return nil
}

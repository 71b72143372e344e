// Package wire is the live stream's protocol (docs/events.md, "Live
// streaming"): binary audio frames, the client's control messages and the
// server's events. The server, the Go client and the load generator share
// it; it imports nothing heavier than coach.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cuecard/cuecard/coach"
)

// Binary frames carry one channel byte (0 rep, 1 prospect) and
// little-endian signed 16-bit mono PCM at the announced sample rate; text
// frames carry control messages from the client and events from the
// server.

// DefaultSampleRate is the rate of audio sent without a start message.
const DefaultSampleRate = 16000

// MaxFrameMS bounds the audio in one binary frame (clients send 20 ms).
const MaxFrameMS = 200

// MaxControlSize bounds a text frame.
const MaxControlSize = 4096

// SampleRates are the rates a client may announce.
var SampleRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}

// MaxMessageSize is the largest legal WebSocket message: one frame of
// MaxFrameMS at the highest rate, plus the channel byte.
var MaxMessageSize = int64(1 + 2*slices.Max(SampleRates)*MaxFrameMS/1000)

// Control is a client's text message.
type Control struct {
	Type       string `json:"type"`
	SampleRate int    `json:"sample_rate,omitempty"`
}

// DecodeControl parses and checks a text frame.
func DecodeControl(b []byte) (Control, error) {
	if len(b) > MaxControlSize {
		return Control{}, fmt.Errorf("%w: longer than %d bytes", ErrBadControl, MaxControlSize)
	}
	var c Control
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Control{}, fmt.Errorf("%w: %w", ErrBadControl, err)
	}
	if dec.More() {
		return Control{}, fmt.Errorf("%w: trailing data", ErrBadControl)
	}
	switch c.Type {
	case TypeStart:
		if c.SampleRate == 0 {
			c.SampleRate = DefaultSampleRate
		}
		if !slices.Contains(SampleRates, c.SampleRate) {
			return Control{}, fmt.Errorf("%w: %d (use one of %v)", ErrBadRate, c.SampleRate, SampleRates)
		}
	case TypeStop:
		if c.SampleRate != 0 {
			return Control{}, fmt.Errorf("%w: stop takes no sample_rate", ErrBadControl)
		}
	default:
		return Control{}, fmt.Errorf("%w: unknown type %q (want start or stop)", ErrBadControl, c.Type)
	}
	return c, nil
}

// DecodeFrame checks a binary frame at sample rate rate and converts its
// samples to floats in [-1, 1), appending them to dst.
func DecodeFrame(b []byte, rate int, dst []float32) (coach.Speaker, []float32, error) {
	if len(b) < 1 {
		return coach.NoSpeaker, dst, ErrEmptyFrame
	}
	var sp coach.Speaker
	switch b[0] {
	case 0:
		sp = coach.Rep
	case 1:
		sp = coach.Prospect
	default:
		return coach.NoSpeaker, dst, fmt.Errorf("%w %d (want 0 for rep or 1 for prospect)", ErrBadChannel, b[0])
	}
	pcm := b[1:]
	switch {
	case len(pcm) == 0:
		return sp, dst, ErrEmptyFrame
	case len(pcm)%2 != 0:
		return sp, dst, fmt.Errorf("%w (%d bytes)", ErrOddFrame, len(pcm))
	case len(pcm)/2 > rate*MaxFrameMS/1000:
		return sp, dst, fmt.Errorf("%w: %d samples is more than %d ms at %d Hz", ErrFrameTooLong, len(pcm)/2, MaxFrameMS, rate)
	}
	for i := 0; i < len(pcm); i += 2 {
		dst = append(dst, float32(int16(binary.LittleEndian.Uint16(pcm[i:])))/32768)
	}
	return sp, dst, nil
}

// EncodeFrame builds a binary frame for side sp from 16-bit samples.
func EncodeFrame(dst []byte, sp coach.Speaker, pcm []int16) []byte {
	ch := byte(0)
	if sp == coach.Prospect {
		ch = 1
	}
	dst = append(dst[:0], ch)
	for _, s := range pcm {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(s))
	}
	return dst
}

// Control message types.
const (
	// TypeStart announces the sample rate before audio.
	TypeStart = "start"
	// TypeStop ends the session.
	TypeStop = "stop"
)

// EncodeControl returns c as a text frame.
func EncodeControl(c Control) []byte {
	b, _ := json.Marshal(c) // a struct of a string and an int cannot fail
	return b
}

// DecodeEvent parses one event text frame of the server.
func DecodeEvent(b []byte) (coach.Event, error) {
	var ev coach.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return coach.Event{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	return ev, nil
}

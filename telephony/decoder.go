package telephony

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/cuecard/cuecard/audio/g711"
)

// Decoder turns one stream's messages into the common form. It remembers
// the media format of the start message to decode the payloads that
// follow. Not safe for concurrent use: one per WebSocket.
type Decoder struct {
	p       Provider
	started bool
	format  Format
	// base is the first media timestamp of a provider whose timestamps
	// are wall-clock (Plivo), so that TimestampMS counts from 0.
	base    int64
	hasBase bool
}

// NewDecoder returns a decoder of provider p's messages.
func NewDecoder(p Provider) *Decoder { return &Decoder{p: p} }

// Format returns the media format of the start message (zero before it).
func (d *Decoder) Format() Format { return d.format }

// Decode decodes one text message. Events it does not know are KindOther,
// not errors: providers add events. It fails with ErrBadMessage,
// ErrNoStart (media before start), ErrBadFormat or ErrBadPayload.
func (d *Decoder) Decode(data []byte) (Message, error) {
	var (
		m   Message
		raw rawMedia
		err error
	)
	switch d.p {
	case Twilio:
		m, raw, err = decodeTwilio(data)
	case Telnyx:
		m, raw, err = decodeTelnyx(data)
	case Plivo:
		m, raw, err = decodePlivo(data)
	default:
		return Message{}, fmt.Errorf("%w: unknown provider", ErrBadMessage)
	}
	if err != nil {
		return Message{}, err
	}
	switch m.Kind {
	case KindStart:
		if err := checkFormat(m.Start.Format); err != nil {
			return Message{}, err
		}
		d.started, d.format = true, m.Start.Format
	case KindMedia:
		if !d.started {
			return Message{}, ErrNoStart
		}
		if m.Frame, err = d.frame(raw); err != nil {
			return Message{}, err
		}
	default:
	}
	return m, nil
}

// mediaBody is the "media" object of a media message: the three
// providers give it the same fields.
type mediaBody struct {
	Track     string `json:"track"`
	Chunk     num    `json:"chunk"`
	Timestamp num    `json:"timestamp"`
	Payload   string `json:"payload"`
}

func (b *mediaBody) raw() rawMedia {
	return rawMedia{track: b.Track, chunk: int64(b.Chunk), timestamp: int64(b.Timestamp), payload: b.Payload}
}

// rawMedia is a media message before its payload is decoded.
type rawMedia struct {
	track     string
	chunk     int64
	timestamp int64
	payload   string
	// wallClock: the timestamp is Unix milliseconds, not stream time.
	wallClock bool
}

func checkFormat(f Format) error {
	switch {
	case f.Encoding == 0:
		return fmt.Errorf("%w: unknown encoding", ErrBadFormat)
	case f.Channels != 1:
		return fmt.Errorf("%w: %d channels, want 1", ErrBadFormat, f.Channels)
	case f.Rate != 8000 && (f.Rate != 16000 || f.Encoding != L16):
		return fmt.Errorf("%w: %d Hz", ErrBadFormat, f.Rate)
	}
	return nil
}

func (d *Decoder) frame(r rawMedia) (Frame, error) {
	f := Frame{Track: ParseTrack(r.track), Seq: r.chunk, TimestampMS: r.timestamp}
	if f.Track == NoTrack {
		f.Track = Inbound // a single-track stream may leave it out
	}
	if r.wallClock {
		if !d.hasBase {
			d.base, d.hasBase = r.timestamp, true
		}
		f.TimestampMS = r.timestamp - d.base
	}
	b, err := base64.StdEncoding.DecodeString(r.payload)
	if err != nil {
		return Frame{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	f.PCM, err = d.format.decode(b)
	if f.Seq <= 0 {
		// No chunk number: derive one from the timestamp (20 ms frames).
		f.Seq = f.TimestampMS/20 + 1
	}
	return f, err
}

// decode converts a payload to 16-bit PCM.
func (f Format) decode(b []byte) ([]int16, error) {
	switch f.Encoding {
	case Mulaw:
		return g711.Ulaw.DecodeInt16(make([]int16, 0, len(b)), b), nil
	case Alaw:
		return g711.Alaw.DecodeInt16(make([]int16, 0, len(b)), b), nil
	case L16:
		if len(b)%2 != 0 {
			return nil, fmt.Errorf("%w: odd L16 payload of %d bytes", ErrBadPayload, len(b))
		}
		out := make([]int16, len(b)/2)
		for i := range out {
			if f.BigEndian {
				out[i] = int16(binary.BigEndian.Uint16(b[2*i:]))
			} else {
				out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
		}
		return out, nil
	}
	return nil, ErrBadFormat
}

// unmarshal decodes a message, mapping JSON errors to ErrBadMessage.
func unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return nil
}

// kindOf maps the event names the providers share.
func kindOf(event string) Kind {
	switch event {
	case "connected":
		return KindConnected
	case "start":
		return KindStart
	case "media":
		return KindMedia
	case "stop":
		return KindStop
	case "dtmf":
		return KindDTMF
	case "mark", "playedStream":
		return KindMark
	}
	return KindOther
}

func tracks(names []string) []Track {
	out := make([]Track, 0, len(names))
	for _, n := range names {
		if t := ParseTrack(n); t != NoTrack {
			out = append(out, t)
		}
	}
	return out
}

package telephony

import "fmt"

// Telnyx media streaming, as documented at
// https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
// and https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming:
// snake_case fields (sequence_number, stream_id, media_format with
// encoding PCMU, PCMA or L16, sample_rate, channels), base64 RTP payloads,
// events connected, start, media, dtmf, mark, error and stop. Frame order
// is not guaranteed: media.chunk orders a track.

type telnyxMsg struct {
	Event          string       `json:"event"`
	SequenceNumber num          `json:"sequence_number"`
	StreamID       string       `json:"stream_id"`
	Start          *telnyxStart `json:"start"`
	Media          *mediaBody   `json:"media"`
	DTMF           *struct {
		Digit string `json:"digit"`
	} `json:"dtmf"`
}

type telnyxStart struct {
	UserID           string   `json:"user_id"`
	CallControlID    string   `json:"call_control_id"`
	CallSessionID    string   `json:"call_session_id"`
	From             string   `json:"from"`
	To               string   `json:"to"`
	Tags             []string `json:"tags"`
	ClientState      string   `json:"client_state"`
	CustomParameters params   `json:"custom_parameters"`
	MediaFormat      struct {
		Encoding   string `json:"encoding"`
		SampleRate int    `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"media_format"`
}

func decodeTelnyx(data []byte) (Message, rawMedia, error) {
	var w telnyxMsg
	if err := unmarshal(data, &w); err != nil {
		return Message{}, rawMedia{}, err
	}
	m := Message{Kind: kindOf(w.Event), Seq: int64(w.SequenceNumber)}
	var raw rawMedia
	switch m.Kind {
	case KindStart:
		if w.Start == nil {
			return m, raw, fmt.Errorf("%w: start without start", ErrBadMessage)
		}
		s := w.Start
		f := Format{Rate: s.MediaFormat.SampleRate, Channels: s.MediaFormat.Channels}
		switch s.MediaFormat.Encoding {
		case "PCMU":
			f.Encoding = Mulaw
		case "PCMA":
			f.Encoding = Alaw
		case "L16":
			// RTP's L16 (RFC 3551) is in network byte order.
			f.Encoding, f.BigEndian = L16, true
		}
		if f.Channels == 0 {
			f.Channels = 1
		}
		m.Start = Start{StreamID: w.StreamID, CallID: s.CallControlID, AccountID: s.UserID,
			Params: s.CustomParameters, Format: f}
	case KindMedia:
		if w.Media == nil {
			return m, raw, fmt.Errorf("%w: media without media", ErrBadMessage)
		}
		raw = w.Media.raw()
	case KindDTMF:
		if w.DTMF != nil {
			m.Digit = w.DTMF.Digit
		}
	default:
	}
	return m, raw, nil
}

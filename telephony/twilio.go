package telephony

import "fmt"

// Twilio Media Streams, as documented at
// https://www.twilio.com/docs/voice/media-streams/websocket-messages:
// camelCase fields, counters as strings, audio/x-mulaw at 8000 Hz mono,
// events connected, start, media, dtmf, mark and stop.

type twilioMsg struct {
	Event          string       `json:"event"`
	SequenceNumber num          `json:"sequenceNumber"`
	StreamSid      string       `json:"streamSid"`
	Start          *twilioStart `json:"start"`
	Media          *mediaBody   `json:"media"`
	DTMF           *struct {
		Track string `json:"track"`
		Digit string `json:"digit"`
	} `json:"dtmf"`
}

type twilioStart struct {
	StreamSid        string   `json:"streamSid"`
	AccountSid       string   `json:"accountSid"`
	CallSid          string   `json:"callSid"`
	Tracks           []string `json:"tracks"`
	CustomParameters params   `json:"customParameters"`
	MediaFormat      struct {
		Encoding   string `json:"encoding"`
		SampleRate int    `json:"sampleRate"`
		Channels   int    `json:"channels"`
	} `json:"mediaFormat"`
}

func decodeTwilio(data []byte) (Message, rawMedia, error) {
	var w twilioMsg
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
		m.Start = Start{StreamID: s.StreamSid, CallID: s.CallSid, AccountID: s.AccountSid,
			Tracks: tracks(s.Tracks), Params: s.CustomParameters,
			Format: Format{Encoding: mimeEncoding(s.MediaFormat.Encoding), Rate: s.MediaFormat.SampleRate, Channels: s.MediaFormat.Channels}}
		if m.Start.StreamID == "" {
			m.Start.StreamID = w.StreamSid
		}
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

// mimeEncoding maps Twilio's and Plivo's media types.
func mimeEncoding(s string) Encoding {
	switch s {
	case "audio/x-mulaw":
		return Mulaw
	case "audio/x-alaw":
		return Alaw
	case "audio/x-l16":
		return L16
	}
	return 0
}

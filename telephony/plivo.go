package telephony

import (
	"fmt"
	"strings"
)

// Plivo audio streams, as documented at
// https://www.plivo.com/docs/voice/audio-streaming/audio-streaming and
// https://www.plivo.com/docs/voice/xml/audiostream: camelCase fields,
// sequenceNumber and chunk as numbers, media.timestamp as a string of
// Unix milliseconds, mediaFormat audio/x-mulaw (8000 Hz) or audio/x-l16
// (8000 or 16000 Hz), tracks inbound and outbound (audioTrack="both"),
// extra_headers for the Stream element's extraHeaders; events start,
// media, dtmf, playedStream and clearedAudio (a stop is read if sent).

type plivoMsg struct {
	Event          string      `json:"event"`
	SequenceNumber num         `json:"sequenceNumber"`
	StreamID       string      `json:"streamId"`
	Start          *plivoStart `json:"start"`
	Media          *mediaBody  `json:"media"`
	ExtraHeaders   string      `json:"extra_headers"`
	DTMF           *struct {
		Digit string `json:"digit"`
	} `json:"dtmf"`
}

type plivoStart struct {
	CallID      string   `json:"callId"`
	StreamID    string   `json:"streamId"`
	AccountID   string   `json:"accountId"`
	Tracks      []string `json:"tracks"`
	MediaFormat struct {
		Encoding   string `json:"encoding"`
		SampleRate int    `json:"sampleRate"`
	} `json:"mediaFormat"`
}

func decodePlivo(data []byte) (Message, rawMedia, error) {
	var w plivoMsg
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
		// Plivo's L16 is little-endian 16-bit PCM, as its examples feed
		// it to recognizers' linear16 input unchanged.
		m.Start = Start{StreamID: s.StreamID, CallID: s.CallID, AccountID: s.AccountID, Tracks: tracks(s.Tracks),
			Params: ParseExtraHeaders(w.ExtraHeaders),
			Format: Format{Encoding: mimeEncoding(s.MediaFormat.Encoding), Rate: s.MediaFormat.SampleRate, Channels: 1}}
		if m.Start.StreamID == "" {
			m.Start.StreamID = w.StreamID
		}
	case KindMedia:
		if w.Media == nil {
			return m, raw, fmt.Errorf("%w: media without media", ErrBadMessage)
		}
		raw = w.Media.raw()
		raw.wallClock = true
	case KindDTMF:
		if w.DTMF != nil {
			m.Digit = w.DTMF.Digit
		}
	default:
	}
	return m, raw, nil
}

// ParseExtraHeaders reads Plivo's extra_headers ("a=1;b=2", or commas as
// in the Stream element's extraHeaders attribute) into parameters.
func ParseExtraHeaders(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, ok := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); ok && k != "" {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

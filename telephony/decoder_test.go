package telephony_test

import (
	"bufio"
	"errors"
	"os"
	"testing"

	"github.com/cuecard/cuecard/telephony"
)

// readFixture returns the messages of testdata/name.jsonl, one a line,
// written message by message from the provider's documentation.
func readFixture(tb testing.TB, name string) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/" + name + ".jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestDecodeFixtures(t *testing.T) {
	type want struct {
		kinds   []telephony.Kind
		format  telephony.Format
		tracks  []telephony.Track // of the media messages, in order
		samples int               // per media message
		params  map[string]string
		callID  string
	}
	K := func(k ...telephony.Kind) []telephony.Kind { return k }
	in, out := telephony.Inbound, telephony.Outbound
	cases := map[telephony.Provider]want{
		telephony.Twilio: {
			kinds:  K(telephony.KindConnected, telephony.KindStart, telephony.KindMedia, telephony.KindMedia, telephony.KindMedia, telephony.KindMark, telephony.KindDTMF, telephony.KindStop),
			format: telephony.Format{Encoding: telephony.Mulaw, Rate: 8000, Channels: 1}, tracks: []telephony.Track{in, out, in}, samples: 160,
			params: map[string]string{"token": "cc_example", "rep_track": "inbound", "consent_text": "This call is recorded for coaching."},
			callID: "CAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		},
		telephony.Telnyx: {
			kinds:  K(telephony.KindConnected, telephony.KindStart, telephony.KindMedia, telephony.KindMedia, telephony.KindMedia, telephony.KindDTMF, telephony.KindMark, telephony.KindOther, telephony.KindStop),
			format: telephony.Format{Encoding: telephony.Alaw, Rate: 8000, Channels: 1}, tracks: []telephony.Track{in, out, in}, samples: 160,
			params: map[string]string{"token": "cc_example", "rep_track": "outbound"},
			callID: "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
		},
		telephony.Plivo: {
			kinds:  K(telephony.KindStart, telephony.KindMedia, telephony.KindMedia, telephony.KindMedia, telephony.KindDTMF, telephony.KindMark, telephony.KindOther, telephony.KindStop),
			format: telephony.Format{Encoding: telephony.L16, Rate: 16000, Channels: 1}, tracks: []telephony.Track{in, out, in}, samples: 320,
			params: map[string]string{"rep_track": "outbound", "consent": "true"},
			callID: "12345678-1234-1234-1234-123456789abc",
		},
	}
	for p, w := range cases {
		t.Run(p.String(), func(t *testing.T) {
			media := decodeAll(t, p, w.kinds, w.format, w.callID, w.params)
			for i, f := range media {
				if f.Track != w.tracks[i] || len(f.PCM) != w.samples {
					t.Errorf("media %d: track %v, %d samples", i, f.Track, len(f.PCM))
				}
				if peak(f.PCM) < 6000 || peak(f.PCM) > 9000 {
					t.Errorf("media %d: peak %d, want the 8000 tone", i, peak(f.PCM))
				}
			}
			if media[0].Seq != 1 || media[2].Seq != 2 || media[2].TimestampMS-media[0].TimestampMS != 20 {
				t.Errorf("media order: %+v / %+v", media[0].Seq, media[2])
			}
		})
	}
}

// decodeAll decodes provider p's fixture, checks each message's kind and
// the start message, and returns the media frames.
func decodeAll(t *testing.T, p telephony.Provider, kinds []telephony.Kind, format telephony.Format, callID string, params map[string]string) []telephony.Frame {
	t.Helper()
	d := telephony.NewDecoder(p)
	msgs := readFixture(t, p.String())
	if len(msgs) != len(kinds) {
		t.Fatalf("%d messages, want %d", len(msgs), len(kinds))
	}
	var media []telephony.Frame
	for i, b := range msgs {
		m, err := d.Decode(b)
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if m.Kind != kinds[i] {
			t.Fatalf("message %d: kind %d, want %d", i+1, m.Kind, kinds[i])
		}
		switch m.Kind {
		case telephony.KindStart:
			if m.Start.Format != format || m.Start.CallID != callID {
				t.Errorf("start %+v", m.Start)
			}
			for k, v := range params {
				if m.Start.Params[k] != v {
					t.Errorf("param %s = %q, want %q", k, m.Start.Params[k], v)
				}
			}
		case telephony.KindMedia:
			media = append(media, m.Frame)
		case telephony.KindDTMF:
			if m.Digit == "" {
				t.Error("dtmf without its digit")
			}
		default:
		}
	}
	return media
}

func peak(x []int16) int {
	m := 0
	for _, v := range x {
		m = max(m, int(v), -int(v))
	}
	return m
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		p    telephony.Provider
		msgs []string
		want error
	}{
		{"not json", telephony.Twilio, []string{`{"event":`}, telephony.ErrBadMessage},
		{"media before start", telephony.Twilio, []string{`{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"AAAA"}}`}, telephony.ErrNoStart},
		{"opus", telephony.Telnyx, []string{`{"event":"start","start":{"media_format":{"encoding":"OPUS","sample_rate":48000,"channels":1}}}`}, telephony.ErrBadFormat},
		{"mulaw at 16 kHz", telephony.Plivo, []string{`{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":16000}}}`}, telephony.ErrBadFormat},
		{"stereo", telephony.Twilio, []string{`{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":2}}}`}, telephony.ErrBadFormat},
		{"bad base64", telephony.Twilio, []string{
			`{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}`,
			`{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"***"}}`}, telephony.ErrBadPayload},
		{"odd L16", telephony.Plivo, []string{
			`{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-l16","sampleRate":8000}}}`,
			`{"event":"media","media":{"track":"inbound","chunk":1,"timestamp":"1","payload":"AAAA"}}`}, telephony.ErrBadPayload},
		{"bad counter", telephony.Twilio, []string{`{"event":"media","sequenceNumber":"x1"}`}, telephony.ErrBadMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := telephony.NewDecoder(c.p)
			var err error
			for _, m := range c.msgs {
				if _, err = d.Decode([]byte(m)); err != nil {
					break
				}
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseExtraHeaders(t *testing.T) {
	got := telephony.ParseExtraHeaders("userId=12345;sessionId=abc-xyz, test1=12 ;bare; =x")
	want := map[string]string{"userId": "12345", "sessionId": "abc-xyz", "test1": "12"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// FuzzDecode feeds arbitrary messages to every provider's decoder after a
// valid start: it must return a message or an error, never panic.
func FuzzDecode(f *testing.F) {
	for _, p := range telephony.Providers {
		for _, m := range readFixture(f, p.String()) {
			f.Add(uint8(p), m)
		}
	}
	f.Fuzz(func(t *testing.T, p uint8, data []byte) {
		prov := telephony.Providers[int(p)%len(telephony.Providers)]
		d := telephony.NewDecoder(prov)
		d.Decode(data)
		start := readFixture(t, prov.String())
		for _, m := range start {
			if msg, err := d.Decode(m); err == nil && msg.Kind == telephony.KindStart {
				break
			}
		}
		m, err := d.Decode(data)
		if err == nil && m.Kind == telephony.KindMedia && m.Frame.Track == telephony.NoTrack {
			t.Fatal("media without a track")
		}
	})
}

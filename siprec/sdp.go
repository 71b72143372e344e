package siprec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// codec is an audio format the server decodes.
type codec struct {
	name  string // "PCMU", "PCMA" or "opus"
	pt    uint8
	clock int
}

// media is one offered m=audio section.
type media struct {
	key   string // the label, or "m<index>" without one
	label string
	codec codec
	ok    bool   // a usable codec and port
	dir   string // the answer's direction
	pts   string // the offer's formats, for a rejected section
}

// parseOffer reads an SDP offer's audio sections; it fails with ErrBadSDP
// when the SDP is malformed or no section can be received.
func parseOffer(b []byte) ([]media, error) {
	var d sdp.SessionDescription
	if !bytes.HasSuffix(b, []byte("\n")) {
		// A multipart body's part loses the line break before the
		// boundary (RFC 2046, 5.1.1).
		b = append(b[:len(b):len(b)], "\r\n"...)
	}
	if err := d.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	var out []media
	usable := 0
	for i, m := range d.MediaDescriptions {
		md := media{key: "m" + strconv.Itoa(i), dir: "recvonly", pts: strings.Join(m.MediaName.Formats, " ")}
		if l, ok := m.Attribute("label"); ok {
			md.key, md.label = l, l
		}
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			md.codec, md.ok = pickCodec(m)
		}
		for _, a := range m.Attributes {
			if a.Key == "inactive" || a.Key == "recvonly" {
				md.dir = "inactive" // on hold: nothing to receive
			}
		}
		if md.ok {
			usable++
		}
		out = append(out, md)
	}
	if usable == 0 {
		return nil, fmt.Errorf("%w: no audio stream in PCMU, PCMA or Opus", ErrBadSDP)
	}
	return out, nil
}

// pickCodec returns the first offered format the server decodes.
func pickCodec(m *sdp.MediaDescription) (codec, bool) {
	maps := map[string]string{}
	for _, a := range m.Attributes {
		if a.Key == "rtpmap" {
			pt, enc, _ := strings.Cut(a.Value, " ")
			maps[pt] = strings.ToLower(enc)
		}
	}
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		enc := maps[f]
		switch {
		case pt == 0 && (enc == "" || strings.HasPrefix(enc, "pcmu/")):
			return codec{"PCMU", 0, 8000}, true
		case pt == 8 && (enc == "" || strings.HasPrefix(enc, "pcma/")):
			return codec{"PCMA", 8, 8000}, true
		case strings.HasPrefix(enc, "opus/48000"):
			return codec{"opus", uint8(pt), 48000}, true
		}
	}
	return codec{}, false
}

// answerSDP builds the recvonly answer: one section per offered one, in
// order, the accepted ones on their local RTP port.
func answerSDP(ip string, version uint64, meds []media, ports map[string]int) []byte {
	var b strings.Builder
	id := strconv.FormatInt(time.Now().UnixNano()/1e6, 10)
	fmt.Fprintf(&b, "v=0\r\no=cuecard %s %d IN IP4 %s\r\ns=cuecard recording\r\nc=IN IP4 %s\r\nt=0 0\r\n", id, version, ip, ip)
	for _, m := range meds {
		if !m.ok {
			fmt.Fprintf(&b, "m=audio 0 RTP/AVP %s\r\n", firstField(m.pts))
			continue
		}
		fmt.Fprintf(&b, "m=audio %d RTP/AVP %d\r\n", ports[m.key], m.codec.pt)
		if m.codec.name == "opus" {
			fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\n", m.codec.pt)
		} else {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", m.codec.pt, m.codec.name)
		}
		if m.label != "" {
			fmt.Fprintf(&b, "a=label:%s\r\n", m.label)
		}
		fmt.Fprintf(&b, "a=%s\r\n", m.dir)
	}
	return []byte(b.String())
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "0"
}

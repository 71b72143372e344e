package server

import "testing"

// FuzzSDPFrag feeds PATCH bodies to the trickle ICE fragment parser and
// the offer rewrite of an ICE restart. None may panic.
func FuzzSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n")
	f.Add("m=audio 9 RTP/AVP 0\r\na=candidate:x\r\n")
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:old\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-pwd:oldpassword\r\na=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n"
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := parseSDPFrag(body)
		if err != nil {
			return
		}
		r := newWHIPResource(offer)
		_ = r.isRestart(frag)
		_, _ = answerFrag(offer)
	})
}

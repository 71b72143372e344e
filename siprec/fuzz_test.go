package siprec

import "testing"

// FuzzBody feeds INVITE bodies to the decoders of outside input: the
// multipart split, the SDP offer and the metadata. None may panic.
func FuzzBody(f *testing.F) {
	f.Add("multipart/mixed;boundary=b", "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\na=label:1\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording><participant participant_id=\"a\"><nameID aor=\"sip:a@b\"/></participant></recording>\r\n--b--\r\n")
	f.Add("application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Fuzz(func(t *testing.T, ctype, b string) {
		bd, err := splitBody(ctype, []byte(b))
		if err != nil {
			return
		}
		if meds, err := parseOffer(bd.sdp); err == nil {
			answerSDP("127.0.0.1", 1, meds, map[string]int{})
		}
		if bd.metadata != nil {
			_, _ = ParseMetadata(bd.metadata)
		}
	})
}

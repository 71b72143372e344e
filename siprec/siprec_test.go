package siprec_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/siprec"
)

// sink records what the server hands it.
type sink struct {
	mu      sync.Mutex
	calls   []siprec.Call
	samples map[coach.Speaker]int
	energy  map[coach.Speaker]float64
	ended   chan struct{}
	reject  error
}

func newSink() *sink {
	return &sink{samples: map[coach.Speaker]int{}, energy: map[coach.Speaker]float64{}, ended: make(chan struct{}, 8)}
}

func (k *sink) Start(_ context.Context, c siprec.Call) (siprec.CallSink, error) {
	if k.reject != nil {
		return nil, k.reject
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, c)
	return k, nil
}

func (k *sink) Audio(sp coach.Speaker, pcm []float32, rate int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.samples[sp] += len(pcm)
	for _, v := range pcm {
		k.energy[sp] += float64(v * v)
	}
}

func (k *sink) End() { k.ended <- struct{}{} }

func (k *sink) count(sp coach.Speaker) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.samples[sp]
}

func startServer(t *testing.T, k *sink, edit func(*siprec.Config)) *siprec.Server {
	t.Helper()
	cfg := siprec.DefaultConfig()
	cfg.Addr, cfg.RepDomains = "127.0.0.1:0", []string{"sales.example.com"}
	if edit != nil {
		edit(&cfg)
	}
	s, err := siprec.New(cfg, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// Metadata in RFC 7865's form: the rep (in the configured domain) sends
// the stream labelled 1, the customer the one labelled 2.
const metadata = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f1a784dc48ff824d0d3715d86</sipSessionID></session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:ana@sales.example.com"><name xml:lang="en">Ana</name></nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:+15551234567@pstn.example.net"><name>Customer</name></nameID>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>2</label></stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send><recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
</recording>
`

// offer is an SRC's SDP: the customer's stream (PCMA) first, so that the
// labels, not the order, decide the sides.
func offer(dir string) string {
	return "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40002 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=label:2\r\na=" + dir + "\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:1\r\na=" + dir + "\r\n"
}

func multipartBody(sdpBody, meta string) string {
	return "--boundary1\r\nContent-Type: application/sdp\r\n\r\n" + sdpBody +
		"--boundary1\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n" + meta +
		"\r\n--boundary1--\r\n"
}

// sipClient sends requests to the server over UDP.
type sipClient struct {
	cl     *sipgo.Client
	ua     *sipgo.UserAgent
	target sip.Uri
}

func newSIPClient(t *testing.T, addr net.Addr) *sipClient {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-src"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); ua.Close() })
	// An INVITE with SDP and metadata is over the MTU: TCP (RFC 3261,
	// 18.1.1).
	a := addr.(*net.UDPAddr)
	params := sip.NewParams()
	params.Add("transport", "tcp")
	return &sipClient{cl: cl, ua: ua, target: sip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: a.Port, UriParams: params}}
}

func (c *sipClient) invite(t *testing.T, callID string, require, contentType, body string, to *sip.ToHeader, cseq uint32) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, c.target)
	if require != "" {
		req.AppendHeader(sip.NewHeader("Require", require))
	}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	if to != nil {
		req.AppendHeader(to)
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INVITE})
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return c.do(t, req)
}

func (c *sipClient) do(t *testing.T, req *sip.Request) *sip.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.cl.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

func (c *sipClient) bye(t *testing.T, callID string, to *sip.ToHeader, cseq uint32) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.BYE, c.target)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(to)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.BYE})
	return c.do(t, req)
}

var mLine = regexp.MustCompile(`(?m)^m=audio (\d+) RTP/AVP (\d+)\r?$`)

// answerPorts returns the answer's RTP port per payload type.
func answerPorts(t *testing.T, sdpBody []byte) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, m := range mLine.FindAllStringSubmatch(string(sdpBody), -1) {
		port, _ := strconv.Atoi(m[1])
		pt, _ := strconv.Atoi(m[2])
		out[pt] = port
	}
	return out
}

// tone returns n 20 ms G.711 frames of a 440 Hz tone.
func tone(n int, alaw bool) [][]byte {
	var out [][]byte
	for f := range n {
		lin := make([]byte, 320)
		for i := range 160 {
			v := int16(8000 * math.Sin(2*math.Pi*440*float64(f*160+i)/8000))
			lin[2*i], lin[2*i+1] = byte(v), byte(uint16(v)>>8)
		}
		if alaw {
			out = append(out, g711.EncodeAlaw(lin))
		} else {
			out = append(out, g711.EncodeUlaw(lin))
		}
	}
	return out
}

// sendRTP sends frames to port with payload type pt, in the order given
// by order (indexes into frames; a missing index is a lost packet).
func sendRTP(t *testing.T, port int, pt uint8, frames [][]byte, order []int) {
	t.Helper()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, i := range order {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 5000 + uint16(i), Timestamp: 1000 + uint32(i*160), SSRC: 42}, Payload: frames[i]}
		b, _ := p.Marshal()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCall records a call: INVITE with SDP and metadata, RTP on both
// streams (one reordered, one with a lost packet), a re-INVITE that puts
// the call on hold, BYE.
func TestCall(t *testing.T) {
	k := newSink()
	s := startServer(t, k, nil)
	c := newSIPClient(t, s.Addr())
	res := c.invite(t, "call-1@src", "siprec", "multipart/mixed;boundary=boundary1", multipartBody(offer("sendonly"), metadata), nil, 1)
	if res.StatusCode != 200 {
		t.Fatalf("INVITE: %d %s %v", res.StatusCode, res.Reason, res.GetHeader("Warning"))
	}
	if ct := res.ContentType(); ct == nil || ct.Value() != "application/sdp" || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("answer %v:\n%s", ct, res.Body())
	}
	if h := res.GetHeader("Contact"); h == nil || !strings.Contains(h.Value(), "+sip.srs") {
		t.Fatalf("Contact %v", h)
	}
	ports := answerPorts(t, res.Body())
	if len(k.calls) != 1 || k.calls[0].Rep.AOR != "sip:ana@sales.example.com" || k.calls[0].Rate != 8000 || len(k.calls[0].Others) != 1 {
		t.Fatalf("calls %+v", k.calls)
	}
	// Rep (PCMU): packets 0..49 with 3 and 4 swapped. Prospect (PCMA):
	// packet 10 lost.
	repOrder, proOrder := []int{}, []int{}
	for i := range 50 {
		repOrder = append(repOrder, i)
		if i != 10 {
			proOrder = append(proOrder, i)
		}
	}
	repOrder[3], repOrder[4] = 4, 3
	sendRTP(t, ports[0], 0, tone(50, false), repOrder)
	sendRTP(t, ports[8], 8, silentFrames(50), proOrder)
	waitFor(t, func() bool { return k.count(coach.Rep) >= 50*160 && k.count(coach.Prospect) >= 50*160 }, "audio of both sides")
	st := s.CallStats("call-1@src")
	if st["1"].Received != 50 || st["1"].Lost != 0 || st["2"].Received != 49 || st["2"].Lost != 1 {
		t.Fatalf("stats %+v", st)
	}
	k.mu.Lock()
	repE, proE := k.energy[coach.Rep], k.energy[coach.Prospect]
	k.mu.Unlock()
	if repE < 100 || proE > 1 {
		t.Fatalf("the tone went to the wrong side: rep energy %f, prospect %f", repE, proE)
	}
	to := res.To()
	res = c.invite(t, "call-1@src", "siprec", "application/sdp", offer("inactive"), to, 2)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=inactive") {
		t.Fatalf("re-INVITE (hold): %d\n%s", res.StatusCode, res.Body())
	}
	if p := answerPorts(t, res.Body()); p[0] != ports[0] || p[8] != ports[8] {
		t.Fatalf("hold moved the streams: %v, then %v", ports, p)
	}
	if res := c.bye(t, "call-1@src", to, 3); res.StatusCode != 200 {
		t.Fatalf("BYE: %d", res.StatusCode)
	}
	select {
	case <-k.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the sink's End was not called after BYE")
	}
	if s.Calls() != 0 {
		t.Fatalf("%d calls after BYE", s.Calls())
	}
}

func silentFrames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = g711.EncodeAlaw(make([]byte, 320))
	}
	return out
}

// TestRefusals checks the answers to INVITEs the server does not take.
func TestRefusals(t *testing.T) {
	k := newSink()
	s := startServer(t, k, func(c *siprec.Config) { c.MaxBody = 4000 })
	c := newSIPClient(t, s.Addr())
	mp := "multipart/mixed;boundary=boundary1"
	noRep := strings.ReplaceAll(metadata, "sales.example.com", "elsewhere.example.com")
	tests := []struct {
		name, require, ctype, body string
		code                       int
	}{
		{"no siprec option tag", "", mp, multipartBody(offer("sendonly"), metadata), 488},
		{"unknown option tag", "siprec, 100rel-nonsense", mp, multipartBody(offer("sendonly"), metadata), 420},
		{"malformed metadata", "siprec", mp, multipartBody(offer("sendonly"), "<recording><participant"), 400},
		{"metadata without AOR", "siprec", mp, multipartBody(offer("sendonly"), `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><participant participant_id="a"/></recording>`), 400},
		{"no metadata", "siprec", "application/sdp", offer("sendonly"), 400},
		{"no usable codec", "siprec", mp, multipartBody(strings.NewReplacer("PCMA", "G729", "PCMU", "G722", " 8 ", " 18 ", " 0\r", " 9\r").Replace(offer("sendonly")), metadata), 488},
		{"no rep", "siprec", mp, multipartBody(offer("sendonly"), noRep), 403},
		{"too large", "siprec", mp, multipartBody(offer("sendonly"), metadata+strings.Repeat("<!-- padding -->", 300)), 413},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.invite(t, fmt.Sprintf("refused-%d@src", i), tt.require, tt.ctype, tt.body, nil, 1)
			if res.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", res.StatusCode, res.Reason, tt.code)
			}
		})
	}
	if s.Calls() != 0 || len(k.calls) != 0 {
		t.Fatalf("%d calls, %d started", s.Calls(), len(k.calls))
	}
}

// TestMaxCalls refuses a call past MaxCalls with 503.
func TestMaxCalls(t *testing.T) {
	k := newSink()
	s := startServer(t, k, func(c *siprec.Config) { c.MaxCalls = 1 })
	c := newSIPClient(t, s.Addr())
	body := multipartBody(offer("sendonly"), metadata)
	if res := c.invite(t, "a@src", "siprec", "multipart/mixed;boundary=boundary1", body, nil, 1); res.StatusCode != 200 {
		t.Fatalf("first call: %d", res.StatusCode)
	}
	if res := c.invite(t, "b@src", "siprec", "multipart/mixed;boundary=boundary1", body, nil, 1); res.StatusCode != 503 {
		t.Fatalf("second call: %d", res.StatusCode)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

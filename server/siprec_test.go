package server_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/siprec"
	"github.com/cuecard/cuecard/store"
)

// siprecMetadata names the rep (ana, in the sales domain) as the sender
// of the stream labelled 1 and the customer of the one labelled 2.
const siprecMetadata = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="s1"/>
  <participant participant_id="p1"><nameID aor="sip:ana@sales.example.com"><name>Ana</name></nameID></participant>
  <participant participant_id="p2"><nameID aor="sip:+15551234567@pstn.example.net"><name>Customer</name></nameID></participant>
  <stream stream_id="st1" session_id="s1"><label>1</label></stream>
  <stream stream_id="st2" session_id="s1"><label>2</label></stream>
  <participantstreamassoc participant_id="p1"><send>st1</send></participantstreamassoc>
  <participantstreamassoc participant_id="p2"><send>st2</send></participantstreamassoc>
</recording>
`

var siprecPorts = regexp.MustCompile(`(?m)^m=audio (\d+) RTP/AVP \d+\r?$`)

// TestSIPRECCallBecomesRepSession records a call through the SIPREC
// server: the rep's AOR maps to a user, whose session it becomes, and the
// session hears both sides (Opus streams, the customer's first in the
// SDP) and coaches.
func TestSIPRECCallBecomesRepSession(t *testing.T) {
	needCall(t)
	ts := newTestServer(t, t.TempDir(), nil, recognizer)
	rep, _ := ts.st.NewUser(t, "ana.rep@example.com", auth.RoleRep, "A")
	sink := ts.srv.SIPRECSink(server.SIPRECConfig{Reps: map[string]string{"sip:ana@sales.example.com": rep.Email},
		ConsentText: "this call is recorded for coaching"})
	cfg := siprec.DefaultConfig()
	cfg.Addr, cfg.RepDomains = "127.0.0.1:0", []string{"sales.example.com"}
	srs, err := siprec.New(cfg, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srs.Serve() }()
	defer func() {
		srs.Close()
		<-served
	}()

	ua, _ := sipgo.NewUA()
	cl, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	defer func() { cl.Close(); ua.Close() }()
	params := sip.NewParams()
	params.Add("transport", "tcp")
	target := sip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: srs.Addr().(*net.UDPAddr).Port, UriParams: params}
	sdpOffer := "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40002 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=label:2\r\na=sendonly\r\n" +
		"m=audio 40000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=label:1\r\na=sendonly\r\n"
	body := "--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdpOffer +
		"--b1\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n" + siprecMetadata + "\r\n--b1--\r\n"
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Require", "siprec"))
	req.AppendHeader(sip.NewHeader("Content-Type", "multipart/mixed;boundary=b1"))
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := cl.Do(ctx, req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v %v", res, err)
	}
	m := siprecPorts.FindAllStringSubmatch(string(res.Body()), -1)
	if len(m) != 2 {
		t.Fatalf("answer:\n%s", res.Body())
	}
	ports := map[coach.Speaker]int{}
	ports[coach.Prospect], _ = strconv.Atoi(m[0][1])
	ports[coach.Rep], _ = strconv.Atoi(m[1][1])

	list, err := ts.db.ListSessions(ctx, store.ListFilter{Owner: rep.ID})
	if err != nil || len(list.Sessions) != 1 {
		t.Fatalf("the rep's sessions: %+v, %v", list, err)
	}
	id := list.Sessions[0].ID
	sendOpusRTP(t, ports, opusCall(t))

	bye := sip.NewRequest(sip.BYE, target)
	bye.AppendHeader(res.To())
	bye.AppendHeader(res.CallID())
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.BYE})
	bye.AppendHeader(res.From())
	if res, err := cl.Do(ctx, bye); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	// The session works through the audio queued so far, then ends.
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	var ses store.Session
	for ses.Status != store.StatusEnded {
		select {
		case <-poll.C:
		case <-ctx.Done():
			t.Fatalf("the session did not end after BYE: %+v", ses)
		}
		if ses, err = ts.db.GetSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if ses.Owner != rep.ID || ses.Summary == nil {
		t.Fatalf("session %+v", ses)
	}
	evs := storedEvents(t, ts, id)
	heard := map[coach.Speaker]int{}
	for _, ev := range filter(evs, "transcript") {
		if ev.Final && ev.Text != "" {
			heard[ev.Speaker]++
		}
	}
	if heard[coach.Rep] == 0 || heard[coach.Prospect] == 0 || len(filter(evs, "cue")) == 0 {
		t.Fatalf("final transcripts by speaker %v, %d cues", heard, len(filter(evs, "cue")))
	}
}

// sendOpusRTP sends both sides' packets to their ports, four times faster
// than real time.
func sendOpusRTP(t *testing.T, ports map[coach.Speaker]int, call map[coach.Speaker][][]byte) {
	t.Helper()
	conns := map[coach.Speaker]net.Conn{}
	for sp, port := range ports {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[sp] = c
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range len(call[coach.Rep]) {
		for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: uint32(sp) + 1}, Payload: call[sp][i]}
			b, _ := p.Marshal()
			if _, err := conns[sp].Write(b); err != nil {
				t.Fatal(err)
			}
		}
		<-tick.C
	}
}

package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/telephony"
)

// telServer starts a server for the telephony tests with tel's settings
// and the embedded recognizer (nil without the synthesized call).
func telServer(tb testing.TB, tel server.Telephony, edit func(*server.Config)) *servertest.Server {
	tb.Helper()
	opt := servertest.Options{Edit: func(c *server.Config) {
		c.Telephony = tel
		if edit != nil {
			edit(c)
		}
	}}
	if callErr == nil {
		opt.Transcriber = recognizer
	}
	return servertest.Start(tb, opt)
}

func wsURL(httpURL, path string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + path }

// rep makes a rep in a team whose consent text is teamText ("" for
// none) and returns their user and a token with scopes.
func newRep(tb testing.TB, srv *servertest.Server, name, teamText string, scopes ...auth.Scope) (store.User, string) {
	tb.Helper()
	u, _ := srv.NewUser(tb, name+"@example.com", auth.RoleRep, "team-"+name)
	if teamText != "" {
		_, err := srv.DB.SetTeamPolicy(context.Background(), store.TeamPolicy{TeamID: u.Teams[0].TeamID,
			ConsentPolicy: store.PolicyAllParty, ConsentText: teamText})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return u, srv.NewToken(tb, u.ID, scopes...)
}

// TestTelephonySignature: each provider's credential is checked before the
// upgrade, over the URL as the provider dialed it; 401 otherwise.
func TestTelephonySignature(t *testing.T) {
	srv := telServer(t, server.Telephony{TwilioAuthToken: "tw-token", TelnyxStreamToken: "tx-token", PlivoAuthToken: "pl-token"},
		func(c *server.Config) { c.BehindProxy = true })
	host := strings.TrimPrefix(srv.URL, "http://")
	const path = "/v1/telephony/twilio?team=north"
	twilio := func(url string) http.Header {
		return http.Header{"X-Twilio-Signature": {telephony.TwilioSignature("tw-token", url)}}
	}
	plivo := func(url string) http.Header {
		return http.Header{"X-Plivo-Signature-V3": {telephony.PlivoSignatureV3("pl-token", url, "n0nce")}, "X-Plivo-Signature-V3-Nonce": {"n0nce"}}
	}
	withProto := func(h http.Header, proto string) http.Header { h.Set("X-Forwarded-Proto", proto); return h }
	cases := []struct {
		name   string
		path   string
		header http.Header
		want   int
	}{
		{"twilio signed", path, twilio("ws://" + host + path), 101},
		{"twilio unsigned", path, nil, 401},
		{"twilio other token", path, http.Header{"X-Twilio-Signature": {telephony.TwilioSignature("other", "ws://"+host+path)}}, 401},
		{"twilio signed for wss, served ws", path, twilio("wss://" + host + path), 401},
		{"twilio wss behind a proxy", path, withProto(twilio("wss://"+host+path), "https"), 101},
		{"twilio other query", "/v1/telephony/twilio?team=south", twilio("ws://" + host + path), 401},
		{"twilio without the query", path, twilio("ws://" + host + "/v1/telephony/twilio"), 401},
		{"telnyx bearer", "/v1/telephony/telnyx", http.Header{"Authorization": {"Bearer tx-token"}}, 101},
		{"telnyx no bearer", "/v1/telephony/telnyx", nil, 401},
		{"telnyx wrong bearer", "/v1/telephony/telnyx", http.Header{"Authorization": {"Bearer tx-toke"}}, 401},
		{"plivo signed", "/v1/telephony/plivo?token=x", plivo("ws://" + host + "/v1/telephony/plivo?token=x"), 101},
		{"plivo other nonce", "/v1/telephony/plivo", http.Header{"X-Plivo-Signature-V3": {telephony.PlivoSignatureV3("pl-token", "ws://"+host+"/v1/telephony/plivo", "a")}, "X-Plivo-Signature-V3-Nonce": {"b"}}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &dialer{url: wsURL(srv.URL, c.path), header: c.header}
			conn, code, _ := d.dial(context.Background())
			if code != c.want {
				t.Fatalf("status %d, want %d", code, c.want)
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
}

// TestTelephonyRefused: a start message without a valid token with the
// stream scope, or without consent, ends the socket with a clear reason
// before any audio is kept: no session is made.
func TestTelephonyRefused(t *testing.T) {
	needCall(t)
	srv := telServer(t, server.Telephony{}, nil)
	repUser, streamTok := newRep(t, srv, "ref", "", auth.ScopeStream)
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"no token", map[string]string{"consent_text": "recorded"}, "unauthorized: no token parameter"},
		{"bad token", map[string]string{"token": "cc_nope", "consent_text": "recorded"}, "unauthorized"},
		{"unknown token", map[string]string{"token": streamTok[:len(streamTok)-4] + "AAAA", "consent_text": "recorded"}, "unknown token"},
		{"read-only token", map[string]string{"consent_text": "recorded"}, "lacks the stream scope"},
		{"no consent", map[string]string{"token": streamTok}, "no consent recorded"},
		{"team has no consent text", map[string]string{"token": streamTok, "consent": "true"}, "consent_text"},
		{"bad rep_track", map[string]string{"token": streamTok, "consent_text": "recorded", "rep_track": "both"}, "rep_track"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &dialer{p: telephony.Twilio, url: wsURL(srv.URL, "/v1/telephony/twilio"), params: c.params}
			if c.name == "read-only token" {
				// The reader's own token, read scope only.
				u, _ := srv.DB.CreateUser(context.Background(), store.User{Email: "ro@example.com", Role: auth.RoleRep}, "")
				d.params["token"] = srv.NewToken(t, u.ID, auth.ScopeRead)
			}
			ce, err := d.play(context.Background(), rep(), prospect(), "inbound", 200)
			if err != nil {
				t.Fatal(err)
			}
			if ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, c.want) {
				t.Fatalf("closed %d %q, want 1008 with %q", ce.Code, ce.Text, c.want)
			}
		})
	}
	ids, err := srv.DB.SessionsOwnedBy(context.Background(), repUser.ID)
	if err != nil || len(ids) != 0 {
		t.Fatalf("sessions %v, %v: want none", ids, err)
	}
}

// TestTelephonyConsent: consent_text is the session's consent record;
// consent=true takes the team's text, as POST /v1/sessions does.
func TestTelephonyConsent(t *testing.T) {
	needCall(t)
	srv := telServer(t, server.Telephony{}, nil)
	cases := []struct {
		name     string
		params   map[string]string
		wantText string
	}{
		{"own text", map[string]string{"consent_text": "  Told both callers at the start.  "}, "Told both callers at the start."},
		{"team text", map[string]string{"consent": "true"}, "This call is recorded for coaching (team)."},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, tok := newRep(t, srv, "consent"+string(rune('a'+i)), "This call is recorded for coaching (team).", auth.ScopeStream, auth.ScopeRead)
			c.params["token"] = tok
			d := &dialer{p: telephony.Twilio, url: wsURL(srv.URL, "/v1/telephony/twilio"), params: c.params}
			ce, err := d.play(context.Background(), rep(), prospect(), "inbound", 400)
			if err != nil {
				t.Fatal(err)
			}
			if ce.Code != websocket.CloseNormalClosure {
				t.Fatalf("closed %d %q", ce.Code, ce.Text)
			}
			ses := onlySession(t, srv, u.ID)
			if !ses.Consent || ses.ConsentText != c.wantText || ses.ConsentBy != u.ID || ses.Owner != u.ID {
				t.Fatalf("session consent %v %q by %q", ses.Consent, ses.ConsentText, ses.ConsentBy)
			}
		})
	}
}

// onlySession waits for the one session of user to end and returns it.
func onlySession(tb testing.TB, srv *servertest.Server, user string) store.Session {
	tb.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids, err := srv.DB.SessionsOwnedBy(ctx, user)
		if err != nil {
			tb.Fatal(err)
		}
		if len(ids) > 1 {
			tb.Fatalf("%d sessions", len(ids))
		}
		if len(ids) == 1 {
			ses, err := srv.DB.GetSession(ctx, ids[0])
			if err != nil {
				tb.Fatal(err)
			}
			if ses.Status == store.StatusEnded {
				return ses
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("no ended session")
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// watchFeed opens the rep's live feed and returns the first session it
// announces (on the channel) and a function that closes the feed.
func watchFeed(tb testing.TB, srv *servertest.Server, token string) (<-chan string, func()) {
	tb.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/v1/me/live"), http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	ids := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var n struct {
				Type, SessionID, Source string
			}
			if json.Unmarshal(b, &struct {
				Type      *string `json:"type"`
				SessionID *string `json:"session_id"`
				Source    *string `json:"source"`
			}{&n.Type, &n.SessionID, &n.Source}) == nil && n.Type == "live" {
				select {
				case ids <- n.SessionID:
				default:
				}
			}
		}
	}()
	return ids, func() { conn.Close(); <-done }
}

// timedEvent is an event and when it arrived.
type timedEvent struct {
	ev coach.Event
	at time.Time
}

// watchSession collects the events of session id as its rep sees them,
// until the session ends; the channel gets them all at the end.
func watchSession(tb testing.TB, srv *servertest.Server, token, id string) <-chan []timedEvent {
	tb.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/v1/sessions/"+id+"/events"), http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	out := make(chan []timedEvent, 1)
	go func() {
		defer conn.Close()
		var evs []timedEvent
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				out <- evs
				return
			}
			var ev coach.Event
			if json.Unmarshal(b, &ev) == nil {
				evs = append(evs, timedEvent{ev, time.Now()})
			}
		}
	}()
	return out
}

// mangleSome swaps two frames of every batch, sends the first one again
// late, and loses one frame in every tenth batch.
func mangleSome() func([]int64) []int64 {
	n := 0
	return func(c []int64) []int64 {
		n++
		if len(c) < 5 {
			return c
		}
		out := []int64{c[0], c[2], c[1], c[0], c[3], c[4]}
		if n%10 == 0 {
			out = slices.Delete(out, 4, 5) // c[3] is lost
		}
		return out
	}
}

// TestTelephonyCall plays the synthesized call as each provider, in real
// time, with frames out of order, duplicated and lost, DTMF and marks in
// between, and checks that the rep's feed announces the session and that
// transcripts of both sides and cues arrive.
func TestTelephonyCall(t *testing.T) {
	needCall(t)
	// A loaded test machine must not lose frames to a session behind
	// (the real-time drop is tested with the WebSocket source).
	srv := telServer(t, server.Telephony{}, func(c *server.Config) { c.InputBuffer = 100000 })
	cases := []struct {
		p        telephony.Provider
		repTrack string
		param    string // rep_track parameter ("" for the default)
		maxMS    int64
	}{
		{telephony.Twilio, "inbound", "", 0},
		{telephony.Telnyx, "outbound", "outbound", 0},
		{telephony.Plivo, "inbound", "", 19000},
	}
	for _, c := range cases {
		t.Run(c.p.String(), func(t *testing.T) {
			t.Parallel()
			_, tok := newRep(t, srv, "call-"+c.p.String(), "", auth.ScopeStream, auth.ScopeRead)
			ids, closeFeed := watchFeed(t, srv, tok)
			defer closeFeed()
			params := map[string]string{"token": tok, "consent_text": "recorded for coaching"}
			if c.param != "" {
				params["rep_track"] = c.param
			}
			d := &dialer{p: c.p, url: wsURL(srv.URL, "/v1/telephony/"+c.p.String()), params: params, mangle: mangleSome(), extras: true}
			var events <-chan []timedEvent
			started := make(chan struct{})
			go func() {
				defer close(started)
				select {
				case id := <-ids:
					events = watchSession(t, srv, tok, id)
				case <-time.After(5 * time.Second):
				}
			}()
			ce, err := d.play(context.Background(), rep(), prospect(), c.repTrack, c.maxMS)
			if err != nil {
				t.Fatal(err)
			}
			<-started
			if ce.Code != websocket.CloseNormalClosure {
				t.Fatalf("closed %d %q", ce.Code, ce.Text)
			}
			if events == nil {
				t.Fatal("the rep's live feed announced no session")
			}
			checkCallEvents(t, <-events, c.maxMS == 0)
		})
	}
}

// checkCallEvents checks a telephony call's events as its rep saw them:
// final transcripts of both sides, a summary last, and (for the whole
// call) the future_forward cue first.
func checkCallEvents(t *testing.T, got []timedEvent, whole bool) {
	t.Helper()
	var evs []coach.Event
	for _, e := range got {
		evs = append(evs, e.ev)
	}
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	var said [3]int
	for _, ev := range filter(evs, "transcript") {
		if ev.Final {
			said[ev.Speaker]++
		}
	}
	if said[coach.Rep] == 0 || said[coach.Prospect] == 0 {
		t.Fatalf("final transcripts: rep %d, prospect %d", said[coach.Rep], said[coach.Prospect])
	}
	if testing.Verbose() {
		for _, ev := range filter(evs, "transcript", "stage", "cue") {
			if ev.Type != "transcript" || ev.Final {
				t.Logf("%s %d %s %q %s%s", ev.Type, ev.AtMS, ev.Speaker, ev.Text, ev.Cue, ev.Stage)
			}
		}
	}
	// The whole call brings the prospect's problem, then the cue.
	if cues := filter(evs, "cue"); whole && (len(cues) == 0 || cues[0].Cue != "future_forward") {
		t.Fatalf("cues %v", keys(cues, func(ev coach.Event) string { return ev.Cue }))
	}
	if last := evs[len(evs)-1]; last.Type != coach.EventSummary {
		t.Fatalf("last event %s", last.Type)
	}
}

// BenchmarkTwilioCueLatency plays 4 calls at once through Twilio's format
// in real time and reports the 95th percentile of end-of-speech-to-cue
// latency: from when the dialer sent the audio at a cue's utterance end
// to when the rep's viewer socket got the cue. Run with -benchtime 1x.
func BenchmarkTwilioCueLatency(b *testing.B) {
	needCall(b)
	// Every frame is queued, so that media time stays the dialer's and the
	// latency counts any time the session spends behind.
	srv := telServer(b, server.Telephony{}, func(c *server.Config) { c.InputBuffer = 100000 })
	var lat, algo []float64
	for n := 0; n < b.N; n++ {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 4 {
			_, tok := newRep(b, srv, "lat"+string(rune('a'+n))+string(rune('a'+i)), "", auth.ScopeStream, auth.ScopeRead)
			ids, closeFeed := watchFeed(b, srv, tok)
			wg.Go(func() {
				defer closeFeed()
				var sentMu sync.Mutex
				var sent []struct {
					ms int64
					at time.Time
				}
				d := &dialer{p: telephony.Twilio, url: wsURL(srv.URL, "/v1/telephony/twilio"),
					params: map[string]string{"token": tok, "consent_text": "recorded"},
					sent: func(ms int64, at time.Time) {
						sentMu.Lock()
						sent = append(sent, struct {
							ms int64
							at time.Time
						}{ms, at})
						sentMu.Unlock()
					}}
				evCh := make(chan (<-chan []timedEvent), 1)
				go func() {
					select {
					case id := <-ids:
						evCh <- watchSession(b, srv, tok, id)
					case <-time.After(5 * time.Second):
						evCh <- nil
					}
				}()
				if _, err := d.play(context.Background(), rep(), prospect(), "inbound", 0); err != nil {
					b.Error(err)
					return
				}
				events := <-evCh
				if events == nil {
					b.Error("no session announced")
					return
				}
				got := <-events
				kinds := map[string]int{}
				for _, e := range got {
					kinds[e.ev.Type]++
				}
				b.Logf("call %d: events %v", i, kinds)
				for _, e := range got {
					if e.ev.Type != coach.EventCue || e.ev.Speaker == coach.NoSpeaker {
						continue
					}
					mu.Lock()
					algo = append(algo, float64(e.ev.AtMS-e.ev.EndMS))
					mu.Unlock()
					sentMu.Lock()
					for _, s := range sent {
						if s.ms >= e.ev.EndMS {
							mu.Lock()
							lat = append(lat, float64(e.at.Sub(s.at).Milliseconds()))
							mu.Unlock()
							break
						}
					}
					sentMu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	if len(lat) == 0 {
		b.Fatal("no cue latency measured")
	}
	sort.Float64s(lat)
	b.ReportMetric(lat[(len(lat)*95+99)/100-1], "p95-ms")
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(float64(len(lat)), "cues")
	sort.Float64s(algo)
	b.ReportMetric(algo[(len(algo)*95+99)/100-1], "p95-media-ms")
}

// TestTelephonyBadStream: media before the start message, or a message
// that is not the provider's JSON, closes the stream with the reason.
func TestTelephonyBadStream(t *testing.T) {
	srv := telServer(t, server.Telephony{}, nil)
	for name, c := range map[string]struct {
		msg  string
		want string
	}{
		"media before start": {`{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"//8="},"streamSid":"MZ1"}`, "media before start"},
		"not json":           {`{"event":`, "malformed message"},
		"opus":               {`{"event":"start","sequenceNumber":"1","start":{"mediaFormat":{"encoding":"audio/opus","sampleRate":48000,"channels":1},"customParameters":{}}}`, "unsupported media format"},
	} {
		t.Run(name, func(t *testing.T) {
			d := &dialer{p: telephony.Twilio, url: wsURL(srv.URL, "/v1/telephony/twilio")}
			conn, _, err := d.dial(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.WriteMessage(websocket.TextMessage, []byte(c.msg))
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			ce := closeOf(conn)
			if ce.Code != websocket.CloseUnsupportedData || !strings.Contains(ce.Text, c.want) {
				t.Fatalf("closed %d %q, want 1003 with %q", ce.Code, ce.Text, c.want)
			}
		})
	}
}

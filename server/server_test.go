package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/wire"
)

type testServer struct {
	srv *server.Server
	ts  *httptest.Server
	db  *store.DB
	dir string
	cl  *client.Client
	st  *servertest.Server
}

// tinySocketBuffers makes the next test server's sockets buffer little in
// the kernel, so that a client that stops reading soon blocks its writer.
var tinySocketBuffers bool

type tinyListener struct{ net.Listener }

func (l tinyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(4096)
	}
	return c, err
}

func newTestServer(tb testing.TB, dir string, edit func(*server.Config), tr stream.Transcriber) *testServer {
	tb.Helper()
	opt := servertest.Options{Dir: dir, Transcriber: tr, Edit: func(cfg *server.Config) {
		// Tests send audio faster than real time: queue all of it.
		cfg.InputBuffer = 100000
		if edit != nil {
			edit(cfg)
		}
	}}
	if tinySocketBuffers {
		opt.Listener = func(l net.Listener) net.Listener { return tinyListener{l} }
	}
	s := servertest.Start(tb, opt)
	return &testServer{srv: s.Srv, ts: s.TS, db: s.DB, dir: s.Dir, cl: s.Client, st: s}
}

// close shuts the server down: sessions end, sockets close, the store last.
func (t *testServer) close() { t.st.Close() }

func (t *testServer) create(tb testing.TB) string {
	tb.Helper()
	s, err := t.cl.CreateSession(context.Background(), client.CreateRequest{Rep: "Ana", Title: "test call", Consent: true, ConsentText: "this call is recorded for coaching"})
	if err != nil {
		tb.Fatal(err)
	}
	return s.ID
}

func rep() string      { return filepath.Join(callDir, "rep.wav") }
func prospect() string { return filepath.Join(callDir, "prospect.wav") }

// collector gathers events safely.
type collector struct {
	mu  sync.Mutex
	evs []coach.Event
}

func (c *collector) add(ev coach.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
}

func (c *collector) all() []coach.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]coach.Event(nil), c.evs...)
}

func filter(evs []coach.Event, types ...string) []coach.Event {
	var out []coach.Event
	for _, ev := range evs {
		for _, t := range types {
			if ev.Type == t {
				out = append(out, ev)
			}
		}
	}
	return out
}

// analyzeOffline runs cuecard analyze's pipeline on the same audio.
func analyzeOffline(tb testing.TB) []coach.Event {
	tb.Helper()
	return analyzePaths(tb, rep(), prospect())
}

// analyzePaths is analyzeOffline for other files.
func analyzePaths(tb testing.TB, repPath, prospectPath string) []coach.Event {
	tb.Helper()
	pb, _ := coach.DefaultPlaybook()
	var evs []coach.Event
	c := stream.NewCall(calltest.Config(), recognizer, pb, func(ev coach.Event) error { evs = append(evs, ev); return nil }, stream.CallOptions{})
	defer c.Close()
	err := c.PlayFiles(context.Background(), repPath, prospectPath)
	if err == nil {
		_, err = c.Finish(context.Background())
	}
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

// TestStreamMatchesAnalyze streams a synthesized call over the WebSocket
// and checks that the live events agree with the offline analysis of the
// same audio: every event type arrives, and the same cues and stages in
// the same order within 300 ms.
func TestStreamMatchesAnalyze(t *testing.T) {
	needCall(t)
	ts := newTestServer(t, t.TempDir(), nil, recognizer)
	idle := goleak.IgnoreCurrent()
	id := ts.create(t)
	var live collector
	if err := ts.cl.Stream(context.Background(), id, rep(), prospect(), client.StreamOptions{}, live.add); err != nil {
		t.Fatal(err)
	}
	// The session is over: none of its goroutines may be left, while the
	// server itself runs on.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	goleak.VerifyNone(t, idle)
	got := live.all()
	for _, typ := range []string{"speech", "transcript", "talk", "stage", "cue", "summary"} {
		if len(filter(got, typ)) == 0 {
			t.Errorf("no %s event received", typ)
		}
	}
	if last := got[len(got)-1]; last.Type != coach.EventSummary {
		t.Fatalf("last event %s, want summary", last.Type)
	}
	// Talk snapshots at least every 500 ms of media time.
	talks := filter(got, "talk")
	for i := 1; i < len(talks); i++ {
		if d := talks[i].AtMS - talks[i-1].AtMS; d > 500 {
			t.Fatalf("talk events at %d and %d ms", talks[i-1].AtMS, talks[i].AtMS)
		}
	}
	if n := metric(t, ts, "cuecard_recognizers"); int(n) != recognizer.Size() {
		t.Errorf("metrics: %v recognizers, the pool has %d", n, recognizer.Size())
	}
	if n := metric(t, ts, "cuecard_recognizers_busy"); n != 0 {
		t.Errorf("metrics: %v recognizers busy after the call", n)
	}
	want := analyzeOffline(t)
	compareKeyEvents(t, filter(got, "cue", "stage"), filter(want, "cue", "stage"))

	// The stored session has the same events and its summary.
	ses, err := ts.db.GetSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ses.Status != store.StatusEnded || ses.Summary == nil || ses.CuesFired != len(filter(got, "cue")) {
		t.Fatalf("stored session %+v", ses)
	}
	stored := storedEvents(t, ts, id)
	if len(stored) != len(got) {
		t.Fatalf("%d events stored, %d received", len(stored), len(got))
	}
	for _, sp := range []string{"rep", "prospect"} {
		resp, err := authGet(ts.ts.URL + "/v1/sessions/" + id + "/audio?speaker=" + sp)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("RIFF")) {
			t.Fatalf("%s audio: %d, %d bytes", sp, resp.StatusCode, len(b))
		}
	}
}

func compareKeyEvents(t *testing.T, got, want []coach.Event) {
	t.Helper()
	key := func(ev coach.Event) string { return ev.Type + ":" + ev.Cue + ev.Stage }
	if len(got) != len(want) {
		t.Fatalf("live %d cues+stages, offline %d:\nlive    %v\noffline %v", len(got), len(want), keys(got, key), keys(want, key))
	}
	for i := range got {
		if key(got[i]) != key(want[i]) {
			t.Fatalf("event %d: live %s, offline %s", i, key(got[i]), key(want[i]))
		}
		if d := got[i].AtMS - want[i].AtMS; d > 300 || d < -300 {
			t.Errorf("%s at %d live, %d offline", key(got[i]), got[i].AtMS, want[i].AtMS)
		}
	}
	if len(filter(got, "cue")) == 0 {
		t.Fatal("no cue fired: the comparison proves nothing")
	}
}

func keys(evs []coach.Event, key func(coach.Event) string) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, key(ev))
	}
	return out
}

func storedEvents(t *testing.T, ts *testServer, id string) []coach.Event {
	t.Helper()
	resp, err := authGet(ts.ts.URL + "/v1/sessions/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	var evs []coach.Event
	dec := json.NewDecoder(resp.Body)
	for {
		var ev coach.Event
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestBadFramesCloseTheStream sends bad input on one session and checks
// the close code and reason, while the server and another session carry
// on.
func TestBadFramesCloseTheStream(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), nil, nil)
	tests := []struct {
		name   string
		send   func(c *websocket.Conn) error
		code   int
		reason string
	}{
		{"unknown channel byte", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, []byte{9, 0, 0})
		}, websocket.CloseUnsupportedData, "unknown channel byte 9"},
		{"odd byte count", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2, 3})
		}, websocket.CloseInvalidFramePayloadData, "odd number of PCM bytes"},
		{"frame too long for the rate", func(c *websocket.Conn) error {
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","sample_rate":8000}`))
			return c.WriteMessage(websocket.BinaryMessage, append([]byte{0}, make([]byte, 2*8000)...))
		}, websocket.CloseMessageTooBig, "frame too long"},
		{"oversize message", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, make([]byte, wire.MaxMessageSize+10))
		}, websocket.CloseMessageTooBig, ""},
		{"text garbage", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte("hello"))
		}, websocket.CloseUnsupportedData, "bad control message"},
		{"bad rate", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","sample_rate":12345}`))
		}, websocket.CloseUnsupportedData, "unsupported sample rate"},
		{"start after audio", func(c *websocket.Conn) error {
			c.WriteMessage(websocket.BinaryMessage, []byte{0, 0, 0})
			return c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","sample_rate":48000}`))
		}, websocket.CloseUnsupportedData, "start after audio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ts.create(t)
			c, err := ts.cl.Dial(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tt.send(c)
			err = client.ReadEvents(c, nil)
			var ce *client.CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code || !strings.Contains(ce.Reason, tt.reason) {
				t.Fatalf("got %v, want close %d %q", err, tt.code, tt.reason)
			}
		})
	}
	// The server still serves, and a fresh session streams fine.
	resp, err := authGet(ts.ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after bad frames: %v", err)
	}
	resp.Body.Close()
	id := ts.create(t)
	c, err := ts.cl.Dial(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.BinaryMessage, wire.EncodeFrame(nil, coach.Rep, make([]int16, 320)))
	c.WriteMessage(websocket.BinaryMessage, wire.EncodeFrame(nil, coach.Prospect, make([]int16, 320)))
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"stop"}`))
	var got collector
	if err := client.ReadEvents(c, got.add); err != nil {
		t.Fatalf("good session after bad ones: %v", err)
	}
	c.Close()
	if evs := got.all(); len(evs) == 0 || evs[len(evs)-1].Type != coach.EventSummary {
		t.Fatalf("good session: %v", evs)
	}
}

func TestOriginChecked(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example"} }, nil)
	id := ts.create(t)
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"https://evil.example", false},
		{"https://app.example", true},
		{ts.ts.URL, true},
		{"", true},
	} {
		cl := &client.Client{BaseURL: ts.ts.URL, Origin: tt.origin, Token: ts.st.Token}
		c, err := cl.DialEvents(context.Background(), id)
		if (err == nil) != tt.ok {
			t.Errorf("origin %q: err %v, want ok=%v", tt.origin, err, tt.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

// TestViewers checks that a viewer gets the same events as the audio
// client, and that a viewer who stops reading is dropped without delaying
// the other viewer.
func TestViewers(t *testing.T) {
	needCall(t)
	tinySocketBuffers = true
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.SubscriberBuffer = 16 }, recognizer)
	tinySocketBuffers = false
	id := ts.create(t)
	ctx := context.Background()
	// The session starts when audio attaches; viewers join right after.
	audio, err := ts.cl.Dial(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer audio.Close()
	audio.WriteMessage(websocket.BinaryMessage, wire.EncodeFrame(nil, coach.Rep, make([]int16, 320)))
	audio.WriteMessage(websocket.BinaryMessage, wire.EncodeFrame(nil, coach.Prospect, make([]int16, 320)))

	viewer, err := ts.cl.DialEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	slow := dialTinyBuffer(t, ts.ts.URL, id)
	defer slow.Close() // never read until the end
	var seen collector
	recv := map[string]time.Time{}
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- client.ReadEvents(viewer, func(ev coach.Event) {
			seen.add(ev)
			if ev.Type == coach.EventCue {
				mu.Lock()
				recv[ev.ID] = time.Now()
				mu.Unlock()
			}
		})
	}()
	var fromAudio collector
	audioSent := map[string]time.Time{}
	audioDone := make(chan error, 1)
	go func() {
		audioDone <- client.ReadEvents(audio, func(ev coach.Event) {
			fromAudio.add(ev)
			if ev.Type == coach.EventCue {
				mu.Lock()
				audioSent[ev.ID] = time.Now()
				mu.Unlock()
			}
		})
	}()
	streamFiles(t, audio, rep(), prospect())
	if err := <-audioDone; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The viewer saw every event the audio client saw after it joined.
	a, v := filter(fromAudio.all(), "cue", "stage", "summary"), filter(seen.all(), "cue", "stage", "summary")
	if len(v) == 0 || len(v) != len(a) {
		t.Fatalf("viewer got %d key events, audio client %d", len(v), len(a))
	}
	mu.Lock()
	for id, at := range recv {
		if d := at.Sub(audioSent[id]); d > 10*time.Millisecond {
			t.Errorf("cue %s reached the good viewer %v after the audio client", id, d)
		}
	}
	mu.Unlock()
	// The slow viewer was dropped: the server counted it, and the viewer
	// got fewer events and then the end of the stream. The close frame
	// says why when there was room for it in the viewer's full socket.
	if n := metric(t, ts, "cuecard_slow_subscribers_dropped_total"); n < 1 {
		t.Fatalf("slow viewers dropped: %v", n)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	var slowGot collector
	err = client.ReadEvents(slow, slowGot.add)
	var ce *client.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.ClosePolicyViolation && !strings.Contains(ce.Reason, "too slow") {
		t.Fatalf("slow viewer closed with %v", err)
	}
	if err == nil || len(slowGot.all()) >= len(seen.all()) {
		t.Fatalf("slow viewer: %v after %d events (the good one got %d)", err, len(slowGot.all()), len(seen.all()))
	}
}

// metric reads one counter or gauge from the server's /metrics.
func metric(t *testing.T, ts *testServer, name string) float64 {
	t.Helper()
	resp, err := authGet(ts.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// dialTinyBuffer opens a viewer socket whose TCP receive buffer is tiny,
// so that a viewer who stops reading soon holds up the server's writes.
func dialTinyBuffer(t *testing.T, base, id string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(1024)
		}
		return c, err
	}}
	hdr := http.Header{"Authorization": {"Bearer " + servertest.TokenFor(base)}}
	c, resp, err := d.Dial(strings.Replace(base, "http", "ws", 1)+"/v1/sessions/"+id+"/events", hdr)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// streamFiles sends two WAV files over an open stream socket and stops.
func streamFiles(t *testing.T, c *websocket.Conn, repPath, prospectPath string) {
	t.Helper()
	r, err := readWAV(repPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := readWAV(prospectPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := 0; i < max(len(r), len(p)); i += 320 {
		for _, side := range []struct {
			sp  coach.Speaker
			pcm []int16
		}{{coach.Rep, chunk(r, i)}, {coach.Prospect, chunk(p, i)}} {
			buf = wire.EncodeFrame(buf, side.sp, side.pcm)
			if err := c.WriteMessage(websocket.BinaryMessage, buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"stop"}`)); err != nil {
		t.Fatal(err)
	}
}

func chunk(x []int16, i int) []int16 {
	out := make([]int16, 320)
	if i < len(x) {
		copy(out, x[i:])
	}
	return out
}

func readWAV(path string) ([]int16, error) {
	pcm, _, err := audio.ReadWAV16(path)
	return pcm, err
}

// authGet, authPost and authDo send a request as the administrator of the
// test server the URL names.
func authGet(url string) (*http.Response, error) { return servertest.HTTPFor(url).Get(url) }

func authPost(url, contentType string, body io.Reader) (*http.Response, error) {
	return servertest.HTTPFor(url).Post(url, contentType, body)
}

func authDo(r *http.Request) (*http.Response, error) { return servertest.HTTPFor(r.URL.String()).Do(r) }

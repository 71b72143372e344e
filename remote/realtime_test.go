package remote_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/remote"
	"github.com/cuecard/cuecard/stream"
)

// realtimeServer speaks the Realtime transcription WebSocket: after
// session.update it acknowledges each commit with
// input_audio_buffer.committed, two deltas and a completed transcript
// naming the samples committed. dropAfter > 0 closes the first
// connection after that many appends.
type realtimeServer struct {
	*httptest.Server
	mu        sync.Mutex
	updates   []map[string]any
	query     string
	auth      string
	commits   []int // 24 kHz samples per commit
	conns     int
	dropAfter int
}

func newRealtimeServer(tb testing.TB, dropAfter int) *realtimeServer {
	s := &realtimeServer{dropAfter: dropAfter}
	up := websocket.Upgrader{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		s.mu.Lock()
		s.conns++
		conn := s.conns
		s.query, s.auth = r.URL.Path+"?"+r.URL.RawQuery, r.Header.Get("Authorization")
		s.mu.Unlock()
		c.WriteJSON(map[string]any{"type": "session.created", "event_id": "ev_0", "session": map[string]any{"type": "transcription"}})
		buffered, appends, item := 0, 0, 0
		for {
			var ev struct {
				Type    string         `json:"type"`
				Audio   string         `json:"audio"`
				Session map[string]any `json:"session"`
			}
			if err := c.ReadJSON(&ev); err != nil {
				return
			}
			switch ev.Type {
			case "session.update":
				s.mu.Lock()
				s.updates = append(s.updates, ev.Session)
				s.mu.Unlock()
				c.WriteJSON(map[string]any{"type": "session.updated", "session": ev.Session})
			case "input_audio_buffer.append":
				b, _ := base64.StdEncoding.DecodeString(ev.Audio)
				buffered += len(b) / 2
				appends++
				if conn == 1 && s.dropAfter > 0 && appends == s.dropAfter {
					return // the socket drops mid-utterance
				}
			case "input_audio_buffer.clear":
				buffered = 0
			case "input_audio_buffer.commit":
				item++
				id := fmt.Sprintf("item_%d_%d", conn, item)
				s.mu.Lock()
				s.commits = append(s.commits, buffered)
				s.mu.Unlock()
				text := fmt.Sprintf("heard %d", buffered)
				buffered = 0
				c.WriteJSON(map[string]any{"type": "input_audio_buffer.committed", "item_id": id, "previous_item_id": nil})
				c.WriteJSON(map[string]any{"type": "conversation.item.input_audio_transcription.delta", "item_id": id, "content_index": 0, "delta": "heard"})
				c.WriteJSON(map[string]any{"type": "conversation.item.input_audio_transcription.delta", "item_id": id, "content_index": 0, "delta": text[5:]})
				c.WriteJSON(map[string]any{"type": "conversation.item.input_audio_transcription.completed", "item_id": id, "content_index": 0, "transcript": text})
			}
		}
	}))
	tb.Cleanup(s.Close)
	return s
}

func newRealtime(tb testing.TB, url string, chunkMS int) *remote.Realtime {
	tb.Helper()
	cfg := remote.DefaultRealtimeConfig()
	cfg.Remote.BaseURL, cfg.Remote.APIKey, cfg.Remote.Language = url+"/v1", "sk-test", "en"
	cfg.Remote.Resilience = fastResilience()
	cfg.Remote.Resilience.Timeout = 2 * time.Second
	cfg.ChunkMS = chunkMS
	cfg.Resample = soxr.New
	r, err := remote.NewRealtime(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestRealtimeEventSequence(t *testing.T) {
	srv := newRealtimeServer(t, 0)
	rt := newRealtime(t, srv.URL, 1000)
	rep, pro := calltest.ToneCall(2, 2500)
	got, _ := runPipeline(t, rt, rep, pro, false)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.query != "/v1/realtime?intent=transcription" || srv.auth != "Bearer sk-test" || srv.conns != 1 {
		t.Errorf("dialled %q auth %q, %d connections", srv.query, srv.auth, srv.conns)
	}
	if len(srv.updates) != 1 {
		t.Fatalf("%d session updates", len(srv.updates))
	}
	u, _ := json.Marshal(srv.updates[0])
	want := `{"audio":{"input":{"format":{"rate":24000,"type":"audio/pcm"},"transcription":{"language":"en","model":"gpt-4o-transcribe"},"turn_detection":null}},"type":"transcription"}`
	if string(u) != want {
		t.Errorf("session.update\n got %s\nwant %s", u, want)
	}
	ends, finals := calltest.Kinds(got, coach.SpeechEnd), calltest.Kinds(got, coach.Final)
	if len(ends) != 2 || len(finals) != 2 {
		t.Fatalf("%d ends, %d finals", len(ends), len(finals))
	}
	// Audio went out at 24 kHz in chunks of about a second; the final
	// joins the chunks' transcripts, and the total matches the segment.
	total := 0
	for _, n := range srv.commits {
		total += n
	}
	var sum int
	for _, f := range finals {
		for _, w := range strings.Fields(f.Text) {
			var n int
			if _, err := fmt.Sscanf(w, "%d", &n); err == nil {
				sum += n
			}
		}
		if !strings.HasPrefix(f.Text, "heard ") {
			t.Errorf("final %q", f.Text)
		}
	}
	if sum != total {
		t.Errorf("finals name %d samples, %d were committed", sum, total)
	}
	for i, e := range ends {
		seg := int(e.EndMS-e.StartMS+int64(stream.DefaultConfig().PreRollMS)) * 24
		if i == 0 && total < seg {
			t.Errorf("%d samples committed, segments hold at least %d", total, seg)
		}
	}
	if len(srv.commits) < 5 {
		t.Errorf("%d commits for 2 segments of 2.5 s with 1 s chunks", len(srv.commits))
	}
	// Partials came from the deltas, each before its segment's final
	// (the feed here is faster than real time, so not necessarily before
	// the segment's end).
	first := map[int64]int{}
	for i, in := range got {
		if in.Kind == coach.Partial {
			if _, ok := first[in.StartMS]; !ok {
				first[in.StartMS] = i
			}
		}
	}
	for i, in := range got {
		if in.Kind != coach.Final {
			continue
		}
		if j, ok := first[in.StartMS]; !ok || j > i {
			t.Errorf("no partial before the final %+v", in)
		}
	}
}

func TestRealtimeSocketDropsMidUtterance(t *testing.T) {
	srv := newRealtimeServer(t, 30) // drops 0.6 s into the first segment
	rt := newRealtime(t, srv.URL, 0)
	rep, pro := calltest.ToneCall(3, 1500)
	got, p := runPipeline(t, rt, rep, pro, true)
	st := p.Stats()
	if st.Failed != 1 || st.Transcribed != 2 {
		t.Errorf("stats %+v: want the first segment failed, the others transcribed", st)
	}
	s := calltest.Kinds(got, coach.Status)
	if len(s) != 2 || s[0].ASR != "degraded" || s[1].ASR != "ok" {
		t.Errorf("status %+v", s)
	}
	if n := len(calltest.Kinds(got, coach.Final)); n != 2 {
		t.Errorf("%d finals", n)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.conns != 2 {
		t.Errorf("%d connections, want a reconnect", srv.conns)
	}
}

func TestRealtimeMalformedEvent(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			var ev map[string]any
			if err := c.ReadJSON(&ev); err != nil {
				return
			}
			if ev["type"] == "input_audio_buffer.commit" {
				c.WriteMessage(websocket.TextMessage, []byte(`{"type":"conversation.item.input_audio_transcription.completed","transcript":`))
			}
		}
	}))
	defer srv.Close()
	rt := newRealtime(t, srv.URL, 0)
	rep, pro := calltest.ToneCall(1, 1000)
	got, p := runPipeline(t, rt, rep, pro, true)
	if st := p.Stats(); st.Failed != 1 {
		t.Errorf("stats %+v", st)
	}
	if s := calltest.Kinds(got, coach.Status); len(s) != 1 || !strings.Contains(s[0].Text, "malformed") {
		t.Errorf("status %+v", s)
	}
}

// runPipeline feeds rep and pro through a default pipeline on tr (waiting
// for every final if awaitFinals) and returns its inputs and the pipeline.
func runPipeline(t *testing.T, tr stream.Transcriber, rep, pro []float32, awaitFinals bool) ([]coach.Input, *stream.Pipeline) {
	t.Helper()
	cfg := stream.DefaultConfig()
	cfg.AwaitFinals = awaitFinals
	var p *stream.Pipeline
	got := calltest.Collect(t, func(emit func(coach.Input) error) error {
		p = stream.NewPipeline(cfg, tr, emit)
		defer p.Close()
		calltest.Feed(t, p, rep, pro, nil)
		return p.Flush(context.Background())
	})
	return got, p
}

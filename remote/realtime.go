package remote

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// RealtimeRate is the sample rate the Realtime API takes (pcm16).
const RealtimeRate = 24000

// RealtimeConfig tunes the Realtime transcription backend.
type RealtimeConfig struct {
	// Remote's Model is the transcription model (gpt-4o-transcribe,
	// gpt-4o-mini-transcribe, whisper-1); Resilience.Timeout bounds the
	// wait for each committed chunk's transcript and each dial.
	Remote Config
	// ChunkMS of a side's speech are committed at a time while it speaks,
	// so that the transcript of a long turn arrives, as partials, before
	// the turn ends; 0 commits once, at the end of the segment.
	ChunkMS int
	// BacklogMS of audio may wait for the socket; beyond, the segment is
	// dropped (and counted).
	BacklogMS int
	// Resample makes the 16 to 24 kHz resampler of each segment
	// (soxr.New in cuecard); NewRealtime fails without it.
	Resample audio.NewResampler
}

// DefaultRealtimeConfig returns the Realtime defaults.
func DefaultRealtimeConfig() RealtimeConfig {
	r := DefaultResilience()
	r.MaxAttempts = 2
	return RealtimeConfig{
		Remote:    Config{Model: "gpt-4o-transcribe", Resilience: r},
		ChunkMS:   3000,
		BacklogMS: 10000,
	}
}

// Realtime streams each side's speech over one Realtime transcription
// WebSocket per side (/realtime?intent=transcription) while it is spoken:
// audio is appended as it arrives, committed in chunks and at the end of
// each segment; transcription deltas become partials and completed
// transcripts finals. It implements stream.Async and stream.Transcriber
// and is safe for concurrent use; the Guard (breaker, dial retries) is shared by all
// sessions.
type Realtime struct {
	cfg   RealtimeConfig
	url   string
	guard *Guard
	dial  websocket.Dialer
}

var (
	_ stream.Transcriber = (*Realtime)(nil)
	_ stream.Async       = (*Realtime)(nil)
)

// NewRealtime returns the backend for cfg; it fails without network I/O on
// a bad configuration or when NoRemote forbids the host.
func NewRealtime(cfg RealtimeConfig) (*Realtime, error) {
	d := DefaultRealtimeConfig()
	if cfg.ChunkMS < 0 {
		cfg.ChunkMS = 0
	}
	if cfg.BacklogMS <= 0 {
		cfg.BacklogMS = d.BacklogMS
	}
	if err := cfg.Remote.Check(); err != nil {
		return nil, fmt.Errorf("openai realtime: %w", err)
	}
	if cfg.Resample == nil {
		return nil, fmt.Errorf("openai realtime: %w", audio.ErrNoResampler)
	}
	u, _ := url.Parse(strings.TrimRight(cfg.Remote.BaseURL, "/") + "/realtime")
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.RawQuery = url.Values{"intent": {"transcription"}}.Encode()
	g := NewGuard(cfg.Remote.Resilience)
	return &Realtime{cfg: cfg, url: u.String(), guard: g, dial: websocket.Dialer{
		HandshakeTimeout: g.Config().Timeout, Proxy: http.ProxyFromEnvironment,
	}}, nil
}

// Backend implements stream.Describer.
func (r *Realtime) Backend() stream.Backend {
	return stream.Backend{Role: "asr", Name: "openai-realtime", Remote: !r.cfg.Remote.Local(), Host: r.cfg.Remote.Host(), Model: r.cfg.Remote.Model}
}

// Reason implements stream.Reasoner.
func (r *Realtime) Reason(err error) string { return Reason(err) }

// Guard returns the backend's shared guard (for metrics).
func (r *Realtime) Guard() *Guard { return r.guard }

// Start implements stream.Transcriber with one socket per utterance; Finish
// blocks. Pipelines use Open instead.
func (r *Realtime) Start(context.Context) (stream.Utterance, error) {
	return stream.Blocking(r, coach.NoSpeaker), nil
}

// Open implements stream.Async: the side's socket is dialled at its first
// segment and kept for the next ones.
func (r *Realtime) Open(sp coach.Speaker, out chan<- stream.Result) stream.Stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rtStream{r: r, out: out, ctx: ctx, cancel: cancel,
		in: make(chan rtMsg, r.cfg.BacklogMS/20+4)}
	s.wg.Go(s.run)
	return s
}

type rtKind uint8

const (
	rtBegin rtKind = iota
	rtAudio
	rtEnd
)

type rtMsg struct {
	kind rtKind
	id   uint64
	pcm  []int16
}

// rtStream is one side's stream. The pipeline's goroutine only queues
// messages; run owns the socket's writes and all state, and one reader
// goroutine per connection forwards the server's events to run. Its
// context is the lifetime of those goroutines (cancelled by Close), not a
// request's, which is why it is kept in the struct.
type rtStream struct {
	r      *Realtime
	out    chan<- stream.Result
	in     chan rtMsg
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// pipeline goroutine only
	lost bool
	open bool
}

func (s *rtStream) Begin(id uint64) {
	s.lost, s.open = !s.send(rtMsg{kind: rtBegin, id: id}), true
}

func (s *rtStream) Write(pcm []int16) {
	if !s.open || s.lost {
		return
	}
	s.lost = !s.send(rtMsg{kind: rtAudio, pcm: append([]int16(nil), pcm...)})
}

func (s *rtStream) End() error {
	if !s.open {
		return nil
	}
	s.open = false
	if s.lost || !s.send(rtMsg{kind: rtEnd}) {
		return ErrOverflow
	}
	return nil
}

// send queues m without blocking; false if the backlog is full.
func (s *rtStream) send(m rtMsg) bool {
	select {
	case s.in <- m:
		return true
	default:
		return false
	}
}

func (s *rtStream) Close() {
	s.cancel()
	s.wg.Wait()
}

// rtSeg is a segment being streamed: its committed chunks' transcripts.
type rtSeg struct {
	id       uint64
	chunks   []string // per committed chunk: its transcript, or its deltas so far
	done     []bool
	ended    bool
	failed   error
	res      audio.Resampler
	uncommit int // 24 kHz samples appended since the last commit
}

// rtChunk is a committed chunk waiting for its transcript.
type rtChunk struct {
	seg      *rtSeg
	idx      int
	deadline time.Time
}

// rtEvent is a server event, or the reader's end.
type rtEvent struct {
	Type       string `json:"type"`
	ItemID     string `json:"item_id"`
	Delta      string `json:"delta"`
	Transcript string `json:"transcript"`
	Error      *struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	conn *websocket.Conn
	err  error
}

type rtConn struct {
	ws      *websocket.Conn
	commits []*rtChunk          // committed, not yet acknowledged
	items   map[string]*rtChunk // acknowledged, waiting for a transcript
}

// run is the stream's owner goroutine.
func (s *rtStream) run() {
	var (
		conn *rtConn
		cur  *rtSeg
		evs  = make(chan rtEvent, 64)
		tick = time.NewTicker(250 * time.Millisecond)
		buf  []float32
		out  []float32
	)
	defer tick.Stop()
	defer func() {
		if conn != nil {
			conn.ws.Close()
		}
		if cur != nil && cur.res != nil {
			cur.res.Close()
		}
	}()
	timeout := s.r.guard.Config().Timeout
	minChunk := RealtimeRate / 10 // the service refuses commits under 100 ms
	drop := func(err error) {
		// The connection is gone: every segment with a chunk in flight
		// fails, and the next segment dials again.
		if conn == nil {
			return
		}
		conn.ws.Close()
		failed := map[*rtSeg]bool{}
		for _, c := range conn.commits {
			failed[c.seg] = true
		}
		for _, c := range conn.items {
			failed[c.seg] = true
		}
		conn = nil
		if cur != nil {
			failed[cur] = true
		}
		for seg := range failed {
			if seg.failed == nil {
				seg.failed = err
				if seg.ended {
					s.result(stream.Result{Seg: seg.id, Final: true, Err: err})
				}
			}
		}
	}
	finish := func(seg *rtSeg) {
		if !seg.ended || seg.failed != nil {
			return
		}
		for _, d := range seg.done {
			if !d {
				return
			}
		}
		s.result(stream.Result{Seg: seg.id, Text: joinText(seg.chunks), Final: true})
	}
	commit := func(seg *rtSeg) {
		if seg.failed != nil {
			return
		}
		if conn == nil {
			seg.failed = errors.New("connection lost")
			return
		}
		if err := s.write(conn.ws, map[string]string{"type": "input_audio_buffer.commit"}); err != nil {
			seg.failed = err
			drop(err)
			return
		}
		seg.chunks = append(seg.chunks, "")
		seg.done = append(seg.done, false)
		conn.commits = append(conn.commits, &rtChunk{seg: seg, idx: len(seg.chunks) - 1, deadline: time.Now().Add(timeout)})
		seg.uncommit = 0
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case m := <-s.in:
			switch m.kind {
			case rtBegin:
				if cur != nil && !cur.ended {
					// The previous segment's end was lost in a full
					// backlog: it is already counted; clear its audio.
					if conn != nil && cur.uncommit > 0 {
						s.write(conn.ws, map[string]string{"type": "input_audio_buffer.clear"})
					}
					cur.res.Close()
				}
				cur = &rtSeg{id: m.id}
				res, err := audio.Resample(s.r.cfg.Resample, stream.Rate, RealtimeRate)
				if err != nil {
					cur.failed = err
					continue
				}
				cur.res = res
				if conn == nil {
					ws, err := s.connect(evs)
					if err != nil {
						cur.failed = err
						continue
					}
					conn = &rtConn{ws: ws, items: map[string]*rtChunk{}}
				}
			case rtAudio:
				if cur == nil || cur.failed != nil || conn == nil {
					continue
				}
				buf = buf[:0]
				for _, v := range m.pcm {
					buf = append(buf, float32(v)/32768)
				}
				out = cur.res.Process(out[:0], buf)
				if err := s.append(conn.ws, out); err != nil {
					cur.failed = err
					drop(err)
					continue
				}
				cur.uncommit += len(out)
				if c := s.r.cfg.ChunkMS; c > 0 && cur.uncommit >= c*RealtimeRate/1000 {
					commit(cur)
				}
			case rtEnd:
				if cur == nil {
					continue
				}
				seg := cur
				cur = nil
				seg.ended = true
				if seg.res != nil {
					if seg.failed == nil && conn != nil {
						out = seg.res.Flush(out[:0])
						if err := s.append(conn.ws, out); err != nil {
							seg.failed = err
							drop(err)
						}
						seg.uncommit += len(out)
					}
					seg.res.Close()
					seg.res = nil
				}
				switch {
				case seg.failed != nil:
				case seg.uncommit >= minChunk || len(seg.chunks) == 0:
					commit(seg)
				case conn != nil && seg.uncommit > 0:
					// A tail too short to commit: drop it so it does
					// not open the next segment.
					s.write(conn.ws, map[string]string{"type": "input_audio_buffer.clear"})
				}
				if seg.failed != nil {
					s.result(stream.Result{Seg: seg.id, Final: true, Err: seg.failed})
					continue
				}
				finish(seg)
			}
		case ev := <-evs:
			if conn == nil || ev.conn != conn.ws {
				continue // from a connection already dropped
			}
			if ev.err != nil {
				drop(ev.err)
				continue
			}
			switch ev.Type {
			case "input_audio_buffer.committed":
				if len(conn.commits) > 0 {
					conn.items[ev.ItemID] = conn.commits[0]
					conn.commits = conn.commits[1:]
				}
			case "conversation.item.input_audio_transcription.delta":
				if c := conn.items[ev.ItemID]; c != nil && c.seg.failed == nil && !c.seg.done[c.idx] {
					c.seg.chunks[c.idx] += ev.Delta
					s.partial(c.seg)
				}
			case "conversation.item.input_audio_transcription.completed":
				if c := conn.items[ev.ItemID]; c != nil {
					delete(conn.items, ev.ItemID)
					c.seg.chunks[c.idx] = strings.TrimSpace(ev.Transcript)
					c.seg.done[c.idx] = true
					if !c.seg.ended && c.seg.failed == nil {
						s.partial(c.seg)
					}
					finish(c.seg)
				}
			case "conversation.item.input_audio_transcription.failed":
				if c := conn.items[ev.ItemID]; c != nil {
					delete(conn.items, ev.ItemID)
					if c.seg.failed == nil {
						c.seg.failed = fmt.Errorf("%w: transcription failed: %s", ErrMalformed, ev.message())
						if c.seg.ended {
							s.result(stream.Result{Seg: c.seg.id, Final: true, Err: c.seg.failed})
						}
					}
				}
			case "error":
				if ev.Error != nil && ev.Error.Code == "input_audio_buffer_commit_empty" && len(conn.commits) > 0 {
					c := conn.commits[0]
					conn.commits = conn.commits[1:]
					c.seg.done[c.idx] = true
					finish(c.seg)
					continue
				}
				drop(fmt.Errorf("realtime error: %s", ev.message()))
			}
		case <-tick.C:
			if conn == nil {
				continue
			}
			now := time.Now()
			late := false
			for _, c := range conn.commits {
				late = late || now.After(c.deadline)
			}
			for _, c := range conn.items {
				late = late || now.After(c.deadline)
			}
			if late {
				drop(fmt.Errorf("%w: no transcript within %s", ErrTimeout, timeout))
			}
		}
	}
}

func (ev rtEvent) message() string {
	if ev.Error == nil {
		return "unknown"
	}
	if ev.Error.Code != "" {
		return ev.Error.Code + ": " + ev.Error.Message
	}
	return ev.Error.Message
}

func joinText(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// partial sends the segment's text so far: completed chunks and the
// deltas of the one being transcribed.
func (s *rtStream) partial(seg *rtSeg) {
	parts := make([]string, 0, len(seg.chunks))
	for _, t := range seg.chunks {
		parts = append(parts, strings.TrimSpace(t))
	}
	if t := joinText(parts); t != "" {
		s.result(stream.Result{Seg: seg.id, Text: t})
	}
}

// result hands r to the pipeline, giving up when the stream is closed.
func (s *rtStream) result(r stream.Result) {
	select {
	case s.out <- r:
	case <-s.ctx.Done():
	}
}

// connect dials the service through the guard (retries, breaker),
// configures the transcription session and starts the connection's reader.
func (s *rtStream) connect(evs chan<- rtEvent) (*websocket.Conn, error) {
	cfg := s.r.cfg.Remote
	h := http.Header{}
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	var ws *websocket.Conn
	err := s.r.guard.Do(s.ctx, func(ctx context.Context) error {
		c, resp, err := s.r.dial.DialContext(ctx, s.r.url, h)
		if err != nil {
			if resp != nil && resp.StatusCode >= 400 {
				return &StatusError{Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header, time.Now()), Err: err}
			}
			return err
		}
		tr := map[string]any{"model": cfg.Model}
		if cfg.Language != "" {
			tr["language"] = cfg.Language
		}
		update := map[string]any{"type": "session.update", "session": map[string]any{
			"type": "transcription",
			"audio": map[string]any{"input": map[string]any{
				"format":         map[string]any{"type": "audio/pcm", "rate": RealtimeRate},
				"transcription":  tr,
				"turn_detection": nil,
			}},
		}}
		if err := s.write(c, update); err != nil {
			c.Close()
			return err
		}
		ws = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	s.wg.Go(func() {
		for {
			_, data, err := ws.ReadMessage()
			var ev rtEvent
			if err == nil {
				if jerr := json.Unmarshal(data, &ev); jerr != nil {
					err = fmt.Errorf("%w: %w", ErrMalformed, jerr)
				}
			}
			if err != nil {
				ev = rtEvent{err: err}
				if errors.Is(err, ErrMalformed) {
					ws.Close()
				}
			}
			ev.conn = ws
			select {
			case evs <- ev:
			case <-s.ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return ws, nil
}

func (s *rtStream) write(ws *websocket.Conn, v any) error {
	ws.SetWriteDeadline(time.Now().Add(s.r.guard.Config().Timeout))
	return ws.WriteJSON(v)
}

// append sends 24 kHz samples as one input_audio_buffer.append event.
func (s *rtStream) append(ws *websocket.Conn, pcm []float32) error {
	if len(pcm) == 0 {
		return nil
	}
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(audio.FloatToInt16(v)))
	}
	return s.write(ws, map[string]string{"type": "input_audio_buffer.append", "audio": base64.StdEncoding.EncodeToString(raw)})
}

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

// withDefaults returns c with its zero fields set to the defaults.
func (c RealtimeConfig) withDefaults() RealtimeConfig {
	d := DefaultRealtimeConfig()
	if c.ChunkMS < 0 {
		c.ChunkMS = 0
	}
	if c.BacklogMS <= 0 {
		c.BacklogMS = d.BacklogMS
	}
	return c
}

// NewRealtime returns the backend for cfg; it fails without network I/O on
// a bad configuration or when NoRemote forbids the host.
func NewRealtime(cfg RealtimeConfig) (*Realtime, error) {
	cfg = cfg.withDefaults()
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
	conn rtSocket
	err  error
}

// rtSocket is what the state machine needs of a connection: the
// WebSocket, or a fake in tests.
type rtSocket interface {
	send(v any) error
	close()
}

type rtConn struct {
	ws      rtSocket
	commits []*rtChunk          // committed, not yet acknowledged
	items   map[string]*rtChunk // acknowledged, waiting for a transcript
}

// rtMachine is the state of one side's stream: the connection, the
// segment being streamed and the chunks waiting for transcripts. Each
// handleXxx method is one transition; run's select loop calls them, and
// tests call them directly with a fake socket.
type rtMachine struct {
	chunkMS  int
	timeout  time.Duration
	resample audio.NewResampler
	dial     func() (rtSocket, error)
	emit     func(stream.Result)

	conn     *rtConn
	cur      *rtSeg
	buf, out []float32
}

// minChunk is the shortest commit the service takes (100 ms at 24 kHz).
const minChunk = RealtimeRate / 10

// run is the stream's owner goroutine.
func (s *rtStream) run() {
	evs := make(chan rtEvent, 64)
	m := &rtMachine{
		chunkMS:  s.r.cfg.ChunkMS,
		timeout:  s.r.guard.Config().Timeout,
		resample: s.r.cfg.Resample,
		dial:     func() (rtSocket, error) { return s.connect(evs) },
		emit:     s.result,
	}
	defer m.close()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case msg := <-s.in:
			m.handleMsg(msg)
		case ev := <-evs:
			m.handleEvent(ev)
		case now := <-tick.C:
			m.handleTick(now)
		}
	}
}

// close ends the connection and frees the current segment's resampler.
func (m *rtMachine) close() {
	if m.conn != nil {
		m.conn.ws.close()
	}
	if m.cur != nil && m.cur.res != nil {
		m.cur.res.Close()
	}
}

func (m *rtMachine) handleMsg(msg rtMsg) {
	switch msg.kind {
	case rtBegin:
		m.handleBegin(msg.id)
	case rtAudio:
		m.handleAudio(msg.pcm)
	case rtEnd:
		m.handleEnd()
	}
}

// handleBegin starts segment id, dialling if there is no connection.
func (m *rtMachine) handleBegin(id uint64) {
	if m.cur != nil && !m.cur.ended {
		// The previous segment's end was lost in a full backlog: it is
		// already counted; clear its audio.
		if m.conn != nil && m.cur.uncommit > 0 {
			m.conn.ws.send(map[string]string{"type": "input_audio_buffer.clear"})
		}
		if m.cur.res != nil {
			m.cur.res.Close()
		}
	}
	m.cur = &rtSeg{id: id}
	res, err := audio.Resample(m.resample, stream.Rate, RealtimeRate)
	if err != nil {
		m.cur.failed = err
		return
	}
	m.cur.res = res
	if m.conn == nil {
		ws, err := m.dial()
		if err != nil {
			m.cur.failed = err
			return
		}
		m.conn = &rtConn{ws: ws, items: map[string]*rtChunk{}}
	}
}

// handleAudio appends 16 kHz samples of the current segment, committing a
// chunk once ChunkMS have been sent.
func (m *rtMachine) handleAudio(pcm []int16) {
	if m.cur == nil || m.cur.failed != nil || m.conn == nil {
		return
	}
	m.buf = m.buf[:0]
	for _, v := range pcm {
		m.buf = append(m.buf, float32(v)/32768)
	}
	m.out = m.cur.res.Process(m.out[:0], m.buf)
	if err := m.append(m.out); err != nil {
		m.cur.failed = err
		m.drop(err)
		return
	}
	m.cur.uncommit += len(m.out)
	if m.chunkMS > 0 && m.cur.uncommit >= m.chunkMS*RealtimeRate/1000 {
		m.commit(m.cur)
	}
}

// handleEnd ends the current segment: the resampler's tail is sent and
// the rest committed (or, too short to commit, cleared).
func (m *rtMachine) handleEnd() {
	seg := m.cur
	if seg == nil {
		return
	}
	m.cur = nil
	seg.ended = true
	if seg.res != nil {
		if seg.failed == nil && m.conn != nil {
			m.out = seg.res.Flush(m.out[:0])
			if err := m.append(m.out); err != nil {
				seg.failed = err
				m.drop(err)
			}
			seg.uncommit += len(m.out)
		}
		seg.res.Close()
		seg.res = nil
	}
	switch {
	case seg.failed != nil:
	case seg.uncommit >= minChunk || len(seg.chunks) == 0:
		m.commit(seg)
	case m.conn != nil && seg.uncommit > 0:
		// A tail too short to commit: drop it so it does not open the
		// next segment.
		m.conn.ws.send(map[string]string{"type": "input_audio_buffer.clear"})
	}
	if seg.failed != nil {
		m.emit(stream.Result{Seg: seg.id, Final: true, Err: seg.failed})
		return
	}
	m.finish(seg)
}

// handleEvent applies one server event of the current connection.
func (m *rtMachine) handleEvent(ev rtEvent) {
	if m.conn == nil || ev.conn != m.conn.ws {
		return // from a connection already dropped
	}
	if ev.err != nil {
		m.drop(ev.err)
		return
	}
	switch ev.Type {
	case "input_audio_buffer.committed":
		m.handleCommitted(ev)
	case "conversation.item.input_audio_transcription.delta":
		m.handleDelta(ev)
	case "conversation.item.input_audio_transcription.completed":
		m.handleCompleted(ev)
	case "conversation.item.input_audio_transcription.failed":
		m.handleFailed(ev)
	case "error":
		m.handleError(ev)
	}
}

// handleCommitted pairs the oldest commit with the item the service made.
func (m *rtMachine) handleCommitted(ev rtEvent) {
	if len(m.conn.commits) > 0 {
		m.conn.items[ev.ItemID] = m.conn.commits[0]
		m.conn.commits = m.conn.commits[1:]
	}
}

// handleDelta adds to a chunk's transcript and sends the partial.
func (m *rtMachine) handleDelta(ev rtEvent) {
	if c := m.conn.items[ev.ItemID]; c != nil && c.seg.failed == nil && !c.seg.done[c.idx] {
		c.seg.chunks[c.idx] += ev.Delta
		m.partial(c.seg)
	}
}

// handleCompleted sets a chunk's transcript; the segment's final goes out
// once every chunk of an ended segment is done.
func (m *rtMachine) handleCompleted(ev rtEvent) {
	c := m.conn.items[ev.ItemID]
	if c == nil {
		return
	}
	delete(m.conn.items, ev.ItemID)
	c.seg.chunks[c.idx] = strings.TrimSpace(ev.Transcript)
	c.seg.done[c.idx] = true
	if !c.seg.ended && c.seg.failed == nil {
		m.partial(c.seg)
	}
	m.finish(c.seg)
}

// handleFailed fails the chunk's segment (reported once it has ended).
func (m *rtMachine) handleFailed(ev rtEvent) {
	c := m.conn.items[ev.ItemID]
	if c == nil {
		return
	}
	delete(m.conn.items, ev.ItemID)
	if c.seg.failed != nil {
		return
	}
	c.seg.failed = fmt.Errorf("%w: transcription failed: %s", ErrMalformed, ev.message())
	if c.seg.ended {
		m.emit(stream.Result{Seg: c.seg.id, Final: true, Err: c.seg.failed})
	}
}

// handleError: an empty commit (audio the service took for nothing)
// counts as a chunk without text; any other error drops the connection.
func (m *rtMachine) handleError(ev rtEvent) {
	if ev.Error != nil && ev.Error.Code == "input_audio_buffer_commit_empty" && len(m.conn.commits) > 0 {
		c := m.conn.commits[0]
		m.conn.commits = m.conn.commits[1:]
		c.seg.done[c.idx] = true
		m.finish(c.seg)
		return
	}
	m.drop(fmt.Errorf("realtime error: %s", ev.message()))
}

// handleTick drops the connection when a chunk's transcript is overdue.
func (m *rtMachine) handleTick(now time.Time) {
	if m.conn == nil {
		return
	}
	late := false
	for _, c := range m.conn.commits {
		late = late || now.After(c.deadline)
	}
	for _, c := range m.conn.items {
		late = late || now.After(c.deadline)
	}
	if late {
		m.drop(fmt.Errorf("%w: no transcript within %s", ErrTimeout, m.timeout))
	}
}

// drop closes a lost connection: every segment with a chunk in flight
// fails, and the next segment dials again.
func (m *rtMachine) drop(err error) {
	if m.conn == nil {
		return
	}
	m.conn.ws.close()
	failed := map[*rtSeg]bool{}
	for _, c := range m.conn.commits {
		failed[c.seg] = true
	}
	for _, c := range m.conn.items {
		failed[c.seg] = true
	}
	m.conn = nil
	if m.cur != nil {
		failed[m.cur] = true
	}
	for seg := range failed {
		if seg.failed == nil {
			seg.failed = err
			if seg.ended {
				m.emit(stream.Result{Seg: seg.id, Final: true, Err: err})
			}
		}
	}
}

// finish sends an ended segment's final once all its chunks are done.
func (m *rtMachine) finish(seg *rtSeg) {
	if !seg.ended || seg.failed != nil {
		return
	}
	for _, d := range seg.done {
		if !d {
			return
		}
	}
	m.emit(stream.Result{Seg: seg.id, Text: joinText(seg.chunks), Final: true})
}

// commit asks the service to transcribe the audio sent since the last
// commit.
func (m *rtMachine) commit(seg *rtSeg) {
	if seg.failed != nil {
		return
	}
	if m.conn == nil {
		seg.failed = errors.New("connection lost")
		return
	}
	if err := m.conn.ws.send(map[string]string{"type": "input_audio_buffer.commit"}); err != nil {
		seg.failed = err
		m.drop(err)
		return
	}
	seg.chunks = append(seg.chunks, "")
	seg.done = append(seg.done, false)
	m.conn.commits = append(m.conn.commits, &rtChunk{seg: seg, idx: len(seg.chunks) - 1, deadline: time.Now().Add(m.timeout)})
	seg.uncommit = 0
}

// partial sends the segment's text so far: completed chunks and the
// deltas of the one being transcribed.
func (m *rtMachine) partial(seg *rtSeg) {
	parts := make([]string, 0, len(seg.chunks))
	for _, t := range seg.chunks {
		parts = append(parts, strings.TrimSpace(t))
	}
	if t := joinText(parts); t != "" {
		m.emit(stream.Result{Seg: seg.id, Text: t})
	}
}

// append sends 24 kHz samples as one input_audio_buffer.append event.
func (m *rtMachine) append(pcm []float32) error {
	if len(pcm) == 0 {
		return nil
	}
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(audio.FloatToInt16(v)))
	}
	return m.conn.ws.send(map[string]string{"type": "input_audio_buffer.append", "audio": base64.StdEncoding.EncodeToString(raw)})
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

// result hands r to the pipeline, giving up when the stream is closed.
func (s *rtStream) result(r stream.Result) {
	select {
	case s.out <- r:
	case <-s.ctx.Done():
	}
}

// connect dials the service through the guard (retries, breaker),
// configures the transcription session and starts the connection's reader.
func (s *rtStream) connect(evs chan<- rtEvent) (rtSocket, error) {
	cfg := s.r.cfg.Remote
	h := http.Header{}
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	var ws *websocket.Conn
	err := s.r.guard.Do(s.ctx, func(ctx context.Context) error {
		c, resp, err := s.r.dial.DialContext(ctx, s.r.url, h)
		if resp != nil && err != nil {
			resp.Body.Close()
		}
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
		if err := (&wsSocket{c, s.r.guard.Config().Timeout}).send(update); err != nil {
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
	sock := &wsSocket{ws, s.r.guard.Config().Timeout}
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
			ev.conn = sock
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
	return sock, nil
}

// wsSocket is a connection to the service; writes have a deadline.
type wsSocket struct {
	ws      *websocket.Conn
	timeout time.Duration
}

func (w *wsSocket) send(v any) error {
	w.ws.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ws.WriteJSON(v)
}

func (w *wsSocket) close() { w.ws.Close() }

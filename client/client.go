// Package client is a Go client of the cuecard server: it creates
// sessions and streams a call's two sides over the live WebSocket while
// receiving the session's events. cuecard stream and cuecard bench use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/wire"
)

// Client talks to one cuecard server.
type Client struct {
	// BaseURL is the server's root, such as http://127.0.0.1:8080.
	BaseURL string
	// HTTP is the client for plain requests; nil means a default with a
	// 30-second timeout.
	HTTP *http.Client
	// Origin, if set, is sent on WebSocket handshakes.
	Origin string
	// Token is the API token (or a session's ingest token) sent as
	// "Authorization: Bearer" on every request.
	Token string
}

// Session is what the server answers for a created session.
type Session struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// IngestToken streams this session and nothing else.
	IngestToken string `json:"ingest_token"`
}

// CreateRequest describes a new session; every field is optional.
type CreateRequest struct {
	Rep         string `json:"rep,omitempty"`
	Title       string `json:"title,omitempty"`
	Consent     bool   `json:"consent,omitempty"`
	ConsentText string `json:"consent_text,omitempty"`
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("server: %d: %s", e.Status, e.Message) }

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// authorize adds the client's token to h.
func (c *Client) authorize(h http.Header) {
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
}

// CreateSession creates a session for a live call.
func (c *Client) CreateSession(ctx context.Context, req CreateRequest) (Session, error) {
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return Session{}, err
	}
	r.Header.Set("Content-Type", "application/json")
	c.authorize(r.Header)
	resp, err := c.http().Do(r)
	if err != nil {
		return Session{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Session{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return Session{}, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return s, nil
}

// StreamOptions tune Stream.
type StreamOptions struct {
	// SampleRate is the rate the audio is sent at (it is resampled from
	// the files' rate); 0 means 16000.
	SampleRate int
	// FrameMS is the audio per frame; 0 means 20.
	FrameMS int
	// Speed paces the stream: 1 is real time, 2 twice as fast; 0 sends
	// as fast as the connection takes it.
	Speed float64
	// OnSent is called after each pair of frames with the media time
	// sent so far and when.
	OnSent func(mediaMS int64, at time.Time)
	// NoStop leaves without sending "stop" after the audio (the session
	// then waits for the client to reconnect).
	NoStop bool
	// StartMS skips this much audio at the start of both files (to resume
	// a session).
	StartMS int64
	// StopAtMS, if positive, ends the audio at this media time.
	StopAtMS int64
	// Resample makes the resamplers for files not at SampleRate (soxr.New
	// in cuecard); without it such files fail with audio.ErrNoResampler.
	Resample audio.NewResampler
	// Reconnect, if positive, is how long Stream keeps redialing after the
	// connection drops without a close from the server (the server's
	// reconnect window: it keeps the session that long); the audio goes on
	// from where it was. Zero gives up at once.
	Reconnect time.Duration
	// OnReconnect, if set, is told of each lost connection (err) and of
	// each redial that worked (nil).
	OnReconnect func(err error)
}

// reconnect backoff: the first redial waits minBackoff, each next one
// twice as long, up to maxBackoff (as the browser overlay does).
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 4 * time.Second
)

// CloseError is how the server closed the stream.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("stream closed: %d %s", e.Code, e.Reason) }

// Stream plays rep and prospect (WAV files, time-aligned from 0) into
// session id over the WebSocket and calls onEvent for each event the
// server sends, on one goroutine at a time, in order. It returns once the
// server closes the stream: nil after a normal close (the summary was the
// last event), a *CloseError otherwise. A connection that drops is
// redialed for opt.Reconnect (see StreamOptions).
func (c *Client) Stream(ctx context.Context, id, repPath, prospectPath string, opt StreamOptions, onEvent func(coach.Event)) error {
	if opt.SampleRate == 0 {
		opt.SampleRate = 16000
	}
	if opt.FrameMS == 0 {
		opt.FrameMS = 20
	}
	rep, err := openSide(repPath, opt.SampleRate, opt.Resample)
	if err != nil {
		return err
	}
	defer rep.close()
	pro, err := openSide(prospectPath, opt.SampleRate, opt.Resample)
	if err != nil {
		return err
	}
	defer pro.close()
	snd := newSender(rep, pro, opt)
	conn, err := c.Dial(ctx, id)
	for err == nil {
		err = c.streamOnce(ctx, conn, snd, onEvent)
		if err == nil || !dropped(err) || opt.Reconnect <= 0 || ctx.Err() != nil {
			break
		}
		if opt.OnReconnect != nil {
			opt.OnReconnect(err)
		}
		if conn, err = c.redial(ctx, id, snd.atMS(), opt.Reconnect, err); err == nil && opt.OnReconnect != nil {
			opt.OnReconnect(nil)
		}
	}
	return err
}

// streamOnce sends audio on conn and reads its events until it closes.
func (c *Client) streamOnce(ctx context.Context, conn *websocket.Conn, snd *sender, onEvent func(coach.Event)) error {
	defer conn.Close()
	var wg sync.WaitGroup
	readErr := make(chan error, 1)
	wg.Go(func() { readErr <- readEvents(conn, onEvent) })
	werr := snd.send(ctx, conn)
	if werr != nil {
		conn.Close()
	}
	wg.Wait()
	rerr := <-readErr
	if werr != nil && (rerr == nil || !dropped(rerr)) {
		return werr
	}
	return rerr
}

// dropped reports whether err is a lost connection rather than a close
// from the server (or a local failure).
func dropped(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code == websocket.CloseAbnormalClosure
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// redial dials session id again with backoff until it works, the server
// refuses (the session ended meanwhile: that answer is returned) or
// window has passed since the loss (lost is returned). atMS, the media
// time of the audio sent next, lets a node that takes the session over
// from a dead one resume it there.
func (c *Client) redial(ctx context.Context, id string, atMS int64, window time.Duration, lost error) (*websocket.Conn, error) {
	deadline := time.Now().Add(window)
	wait := minBackoff
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		dctx, cancel := context.WithDeadline(ctx, deadline)
		conn, err := c.dialStream(dctx, id, atMS)
		cancel()
		if err == nil {
			return conn, nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			return nil, fmt.Errorf("%w; reconnecting: %w", lost, err)
		}
		wait = min(2*wait, maxBackoff)
		if time.Until(deadline) <= 0 {
			return nil, fmt.Errorf("%w; no reconnect within %v: %w", lost, window, err)
		}
		t.Reset(min(wait, time.Until(deadline)))
	}
}

// Dial opens the live audio WebSocket of session id.
func (c *Client) Dial(ctx context.Context, id string) (*websocket.Conn, error) {
	return c.dialStream(ctx, id, -1)
}

// dialStream opens the live audio WebSocket of session id, saying that the
// audio goes on at media time atMS when it is not negative.
func (c *Client) dialStream(ctx context.Context, id string, atMS int64) (*websocket.Conn, error) {
	u, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + "/v1/sessions/" + url.PathEscape(id) + "/stream")
	if err != nil {
		return nil, err
	}
	if atMS >= 0 {
		u.RawQuery = url.Values{"at_ms": {strconv.FormatInt(atMS, 10)}}.Encode()
	}
	return c.dial(ctx, u)
}

// DialEvents opens the viewer WebSocket of session id.
func (c *Client) DialEvents(ctx context.Context, id string) (*websocket.Conn, error) {
	u, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + "/v1/sessions/" + url.PathEscape(id) + "/events")
	if err != nil {
		return nil, err
	}
	return c.dial(ctx, u)
}

func (c *Client) dial(ctx context.Context, u *url.URL) (*websocket.Conn, error) {
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	h := http.Header{}
	c.authorize(h)
	if c.Origin != "" {
		h.Set("Origin", c.Origin)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			var e struct{ Error string }
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			json.Unmarshal(b, &e)
			return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	return conn, nil
}

// ReadEvents reads events from a stream or viewer socket until the server
// closes it; see Stream for the result.
func ReadEvents(conn *websocket.Conn, onEvent func(coach.Event)) error {
	return readEvents(conn, onEvent)
}

func readEvents(conn *websocket.Conn, onEvent func(coach.Event)) error {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code == websocket.CloseNormalClosure {
					return nil
				}
				return &CloseError{Code: ce.Code, Reason: ce.Text}
			}
			return err
		}
		ev, err := wire.DecodeEvent(data)
		if err != nil {
			return err
		}
		if onEvent != nil {
			onEvent(ev)
		}
	}
}

// sender plays the two sides into one connection after another: it
// keeps its place in the files and its pacing across reconnects.
type sender struct {
	rep, pro *side
	opt      StreamOptions
	n        int   // samples per frame
	skip     int   // samples still to skip (StartMS)
	sent     int64 // samples per side
	done     bool  // all audio sent
	began    time.Time
	buf      []byte
	timer    *time.Timer
}

func newSender(rep, pro *side, opt StreamOptions) *sender {
	return &sender{rep: rep, pro: pro, opt: opt, n: opt.SampleRate * opt.FrameMS / 1000,
		skip: int(opt.StartMS) * opt.SampleRate / 1000}
}

// send announces the stream on conn, sends the audio left and then stop
// (or leaves, with NoStop).
func (s *sender) send(ctx context.Context, conn *websocket.Conn) error {
	start := wire.EncodeControl(wire.Control{Type: wire.TypeStart, SampleRate: s.opt.SampleRate})
	if err := conn.WriteMessage(websocket.TextMessage, start); err != nil {
		return err
	}
	if s.began.IsZero() {
		s.began = time.Now()
	}
	for !s.done {
		if err := s.frame(ctx, conn); err != nil {
			return err
		}
	}
	if s.opt.NoStop {
		return conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "leaving"), time.Now().Add(5*time.Second))
	}
	return conn.WriteMessage(websocket.TextMessage, wire.EncodeControl(wire.Control{Type: wire.TypeStop}))
}

// frame sends one frame of each side, paced; it sets done at the end.
func (s *sender) frame(ctx context.Context, conn *websocket.Conn) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opt, n := s.opt, s.n
	r, rerr := s.rep.read(n)
	p, perr := s.pro.read(n)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	if perr != nil && !errors.Is(perr, io.EOF) {
		return perr
	}
	if len(r) == 0 && len(p) == 0 {
		s.done = true
		return nil
	}
	if s.skip > 0 {
		s.skip -= n
		return nil
	}
	if opt.StopAtMS > 0 && (s.sent+opt.StartMS*int64(opt.SampleRate)/1000)*1000/int64(opt.SampleRate) >= opt.StopAtMS {
		s.done = true
		return nil
	}
	// The frames count as sent even if the connection fails under them:
	// after a reconnect the audio goes on from the next.
	s.sent += int64(n)
	for _, f := range []struct {
		sp  coach.Speaker
		pcm []int16
	}{{coach.Rep, pad(r, n)}, {coach.Prospect, pad(p, n)}} {
		s.buf = wire.EncodeFrame(s.buf, f.sp, f.pcm)
		if err := conn.WriteMessage(websocket.BinaryMessage, s.buf); err != nil {
			return err
		}
	}
	ms := s.sent * 1000 / int64(opt.SampleRate)
	if opt.OnSent != nil {
		opt.OnSent(ms+opt.StartMS, time.Now())
	}
	return s.pace(ctx, ms)
}

// atMS is the media time of the next frame.
func (s *sender) atMS() int64 {
	return s.opt.StartMS + s.sent*1000/int64(s.opt.SampleRate)
}

// pace waits until media time ms is due at the chosen speed.
func (s *sender) pace(ctx context.Context, ms int64) error {
	if s.opt.Speed <= 0 {
		return nil
	}
	d := time.Until(s.began.Add(time.Duration(float64(ms) / s.opt.Speed * float64(time.Millisecond))))
	if d <= 0 {
		return nil
	}
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-s.timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func pad(x []int16, n int) []int16 {
	for len(x) < n {
		x = append(x, 0)
	}
	return x
}

// side reads one WAV file as mono 16-bit samples at a chosen rate.
type side struct {
	f   *audio.WAVFile
	r   *audio.Reader
	out []float32
	eof bool
}

func openSide(path string, rate int, newRes audio.NewResampler) (*side, error) {
	f, err := audio.OpenWAV(path)
	if err != nil {
		return nil, err
	}
	r, err := audio.NewReader(f.WAVReader, audio.ReaderOptions{Rate: rate, Resample: newRes})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &side{f: f, r: r}, nil
}

// read returns up to n samples (fewer at the end; none and io.EOF after).
func (s *side) read(n int) ([]int16, error) {
	for len(s.out) < n && !s.eof {
		ch, err := s.r.Next()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			return nil, err
		}
		s.out = append(s.out, ch[0]...)
	}
	if len(s.out) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(s.out))
	pcm := make([]int16, k)
	for i := range k {
		pcm[i] = audio.FloatToInt16(s.out[i])
	}
	s.out = s.out[k:]
	return pcm, nil
}

func (s *side) close() {
	s.r.Close()
	s.f.Close()
}

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/wire"
)

// closeMsg is a close frame for the writer to send.
type closeMsg struct {
	code   int
	reason string
}

func (s *Server) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     s.checkOrigin,
	}
}

// closeCode maps a stream error to a WebSocket close code.
func closeCode(err error) int {
	switch {
	case errors.Is(err, wire.ErrBadChannel), errors.Is(err, wire.ErrBadControl), errors.Is(err, wire.ErrBadRate), errors.Is(err, ErrLateStart):
		return websocket.CloseUnsupportedData
	case errors.Is(err, wire.ErrOddFrame), errors.Is(err, wire.ErrEmptyFrame):
		return websocket.CloseInvalidFramePayloadData
	case errors.Is(err, wire.ErrFrameTooLong):
		return websocket.CloseMessageTooBig
	case errors.Is(err, ErrSessionEnded), errors.Is(err, ErrSessionBusy), errors.Is(err, ErrNoConsent):
		return websocket.ClosePolicyViolation
	case errors.Is(err, ErrShuttingDown), errors.Is(err, ErrOwnedElsewhere), errors.Is(err, ErrClusterUnavailable):
		return websocket.CloseGoingAway
	case errors.Is(err, ErrLimit):
		return websocket.CloseTryAgainLater
	}
	return websocket.CloseInternalServerErr
}

// reason trims a close reason to the 123 bytes a close frame can carry.
func reason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// checkOpen fails unless session id exists and has not ended.
func (s *Server) checkOpen(ctx context.Context, id string) error {
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return err
	}
	if ses.Status == store.StatusEnded {
		return ErrSessionEnded
	}
	return nil
}

// handleStream is the live audio socket: binary frames and control
// messages in, the session's events out.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if s.relayToOwner(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := s.checkOpen(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	atMS, err := resumeAt(r)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if s.cfg.Cluster != nil {
		// Claim the session before the upgrade, so that a client told
		// another node has it (or that the registry is away) can try again.
		if _, err := s.liveSession(r.Context(), id, atMS); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	conn, err := s.upgrader().Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader wrote the HTTP error
	}
	conn.SetReadLimit(wire.MaxMessageSize)
	if err := s.needConsent(r.Context(), id); err != nil {
		closeNow(conn, closeCode(err), reason(err.Error()), s.cfg.WriteTimeout)
		return
	}
	src := newSource("websocket", wire.DefaultSampleRate)
	ls, err := s.attachSource(r.Context(), id, src)
	if err != nil {
		closeNow(conn, closeCode(err), err.Error(), s.cfg.WriteTimeout)
		return
	}
	sub := ls.hub.subscribe(s.cfg.SubscriberBuffer, false)
	s.metrics.viewers.Inc()
	defer s.metrics.viewers.Dec()
	closeReq := make(chan closeMsg, 1)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(conn, sub, ls, closeReq, src.kick)
	}()
	cm := closeMsg{websocket.CloseNormalClosure, ""}
	if err := s.readAudio(conn, ls, src); err != nil {
		s.metrics.streamErrors.WithLabelValues(errorLabel(err)).Inc()
		cm = closeMsg{closeCode(err), reason(err.Error())}
	}
	select {
	case closeReq <- cm:
	default:
	}
	<-writerDone
	conn.Close()
	ls.hub.unsubscribe(sub)
}

// readAudio reads the client's frames until it stops, goes away or sends
// something bad (returned). A client that goes away without "stop" is
// detached: the session waits for it to reconnect.
func (s *Server) readAudio(conn *websocket.Conn, ls *liveSession, src *source) error {
	started, stopped := false, false
	deadline := func() { conn.SetReadDeadline(time.Now().Add(2*s.cfg.PingInterval + 10*time.Second)) }
	deadline()
	conn.SetPongHandler(func(string) error { deadline(); return nil })
	var buf []float32
	// received counts each side's samples, to tell a real-time client
	// from one playing a recording in faster than real time.
	var received [3]int64
	began := time.Now()
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			if !stopped {
				ls.send(item{kind: itemDetach, src: src})
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				return wire.ErrFrameTooLong
			}
			return nil
		}
		deadline()
		if stopped {
			continue // waiting for the summary; nothing more is read
		}
		switch mt {
		case websocket.TextMessage:
			c, err := wire.DecodeControl(data)
			if err != nil {
				ls.send(item{kind: itemDetach, src: src})
				return err
			}
			switch c.Type {
			case "start":
				if started {
					ls.send(item{kind: itemDetach, src: src})
					return ErrLateStart
				}
				src.rate = c.SampleRate
			case "stop":
				stopped = true
				if err := ls.send(item{kind: itemStop, src: src}); err != nil {
					return err
				}
			}
		case websocket.BinaryMessage:
			started = true
			sp, pcm, err := wire.DecodeFrame(data, src.rate, buf[:0])
			if err != nil {
				ls.send(item{kind: itemDetach, src: src})
				return err
			}
			buf = pcm
			frame := make([]float32, len(pcm))
			copy(frame, pcm)
			received[sp] += int64(len(pcm))
			now := time.Now()
			ahead := time.Duration(received[sp]*int64(time.Second)/int64(src.rate)) > now.Sub(began)+2*time.Second
			if err := ls.sendPaced(item{kind: itemAudio, src: src, sp: sp, pcm: frame, at: now}, ahead); err != nil {
				return err
			}
		}
	}
}

// maxResumeMS bounds the media time a reconnecting client may give.
const maxResumeMS = 24 * 3600 * 1000

// resumeAt reads the stream's at_ms parameter: the media time of the audio
// a reconnecting client sends next, -1 when absent.
func resumeAt(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("at_ms")
	if v == "" {
		return -1, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > maxResumeMS {
		return 0, fmt.Errorf("%w: at_ms must be a media time in milliseconds from 0 to %d", errBadRequest, maxResumeMS)
	}
	return ms, nil
}

func errorLabel(err error) string {
	for _, e := range []error{wire.ErrBadChannel, wire.ErrOddFrame, wire.ErrEmptyFrame, wire.ErrFrameTooLong, wire.ErrBadControl, wire.ErrBadRate, ErrLateStart} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

// writeLoop is a socket's only writer: events, pings, and the close frame.
func (s *Server) writeLoop(conn *websocket.Conn, sub *subscriber, ls *liveSession, closeReq <-chan closeMsg, kicked <-chan struct{}) {
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-sub.C:
			if !ok {
				switch {
				case ls != nil && ls.killed:
					conn.Close()
				case sub.Dropped():
					closeNow(conn, websocket.ClosePolicyViolation, "too slow: events were not read in time", s.cfg.WriteTimeout)
				case ls != nil && ls.shutdown:
					closeNow(conn, websocket.CloseGoingAway, "server shutting down", s.cfg.WriteTimeout)
				default:
					r := "session ended"
					if ls != nil && ls.endReason != "" {
						r = "session ended: " + ls.endReason
					}
					closeNow(conn, websocket.CloseNormalClosure, reason(r), s.cfg.WriteTimeout)
				}
				return
			}
			conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case c := <-closeReq:
			closeNow(conn, c.code, c.reason, s.cfg.WriteTimeout)
			return
		case <-kicked:
			closeNow(conn, websocket.ClosePolicyViolation, "replaced by a newer connection", s.cfg.WriteTimeout)
			return
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

// closeNow sends a close frame and closes the connection.
func closeNow(conn *websocket.Conn, code int, msg string, timeout time.Duration) {
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(timeout))
	conn.Close()
}

// handleViewer streams a live session's events (its history first) to a
// viewer who sends no audio. A viewer of a session that has not started
// waits for it; for a finished session it gets the stored events, then the
// socket closes.
func (s *Server) handleViewer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.st.GetSession(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	conn, err := s.upgrader().Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(wire.MaxControlSize)
	s.metrics.viewers.Inc()
	defer s.metrics.viewers.Dec()
	// Read (and discard) until the viewer goes, so pongs and close frames
	// are handled.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		wait := func() { conn.SetReadDeadline(time.Now().Add(2*s.cfg.PingInterval + 10*time.Second)) }
		wait()
		conn.SetPongHandler(func(string) error { wait(); return nil })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if s.cfg.Cluster != nil && !s.isLive(id) {
		s.viewCluster(conn, id, r.URL.Query().Get("backlog") != "0", gone)
		conn.Close()
		<-gone
		return
	}
	ls, sub := s.waitLive(r.Context(), id, gone, r.URL.Query().Get("backlog") != "0")
	if sub == nil {
		select {
		case <-gone:
		default:
			// Over before we could watch (or shutting down): replay the
			// store.
			sub = &subscriber{C: make(chan []byte, 64)}
			go func() {
				defer close(sub.C)
				s.st.ReadEvents(s.base, id, 0, func(_ int64, data []byte) error {
					select {
					case sub.C <- append([]byte(nil), data...):
						return nil
					case <-gone:
						return errViewerGone
					}
				})
			}()
		}
	}
	if sub != nil {
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			s.writeLoop(conn, sub, ls, nil, nil)
		}()
		select {
		case <-gone:
			if ls != nil {
				ls.hub.unsubscribe(sub)
			}
		case <-writerDone:
		}
		<-writerDone
	}
	conn.Close()
	<-gone
}

var errViewerGone = errors.New("viewer gone")

// waitLive waits until session id runs and subscribes to it; it returns a
// nil subscriber when the session is over, the viewer went or the server
// is stopping.
func (s *Server) waitLive(ctx context.Context, id string, gone <-chan struct{}, backlog bool) (*liveSession, *subscriber) {
	for {
		s.mu.Lock()
		ls, started, stopping := s.live[id], s.started, s.stopping
		s.mu.Unlock()
		if stopping {
			return nil, nil
		}
		if ls != nil {
			return ls, ls.hub.subscribe(s.cfg.SubscriberBuffer, backlog)
		}
		if ses, err := s.st.GetSession(ctx, id); err != nil || ses.Status == store.StatusEnded {
			return nil, nil
		}
		select {
		case <-started:
		case <-gone:
			return nil, nil
		case <-s.base.Done():
			return nil, nil
		}
	}
}

package siprec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/cuecard/cuecard/coach"
)

// Server is a SIPREC recording server. Create it with New, run it with
// Serve, and Close it: Close ends the calls and waits for their
// goroutines.
type Server struct {
	cfg  Config
	sink Sink
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	udp  net.PacketConn
	tcp  net.Listener
	ip   string

	mu     sync.Mutex
	calls  map[string]*call // by Call-ID
	closed bool
	wg     sync.WaitGroup // the calls' stream readers
}

// New binds cfg.Addr on UDP and TCP (port 0 picks one, the same for
// both when it can). log may be nil.
func New(cfg Config, sink Sink, log *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	udp, err := net.ListenPacket("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("siprec: listen on UDP %s: %w", cfg.Addr, err)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	tcpAddr := net.JoinHostPort(host, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
	tcp, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("siprec: listen on TCP %s: %w", tcpAddr, err)
	}
	ip := cfg.MediaIP
	if ip == "" {
		ip = host
		if p := net.ParseIP(host); p == nil || p.IsUnspecified() {
			ip = "127.0.0.1"
		}
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("cuecard"), sipgo.WithUserAgentHostname(ip))
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("siprec: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("siprec: %w", err)
	}
	s := &Server{cfg: cfg, sink: sink, log: log, ua: ua, srv: srv, udp: udp, tcp: tcp, ip: ip, calls: map[string]*call{}}
	srv.OnInvite(s.handleInvite)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(s.handleBye)
	srv.OnOptions(s.handleOptions)
	return s, nil
}

// Addr returns the bound UDP address (TCP listens on the same port).
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// TCPAddr returns the bound TCP address.
func (s *Server) TCPAddr() net.Addr { return s.tcp.Addr() }

// Serve answers SIP on both transports until Close; it returns nil then.
func (s *Server) Serve() error {
	errs := make(chan error, 2)
	go func() { errs <- s.srv.ServeUDP(s.udp) }()
	go func() { errs <- s.srv.ServeTCP(s.tcp) }()
	var first error
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, net.ErrClosed) && first == nil {
			first = err
			s.udp.Close()
			s.tcp.Close()
		}
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return first
}

// Close stops listening, ends every call (the sinks' End) and waits for
// the calls' goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	clear(s.calls)
	s.mu.Unlock()
	s.udp.Close()
	s.tcp.Close()
	for _, c := range calls {
		c.end()
	}
	s.wg.Wait()
	return s.ua.Close()
}

// Calls returns the number of calls being recorded.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// CallStats returns the packet counts of call id's streams by label, or
// nil when no such call is recorded.
func (s *Server) CallStats(id string) map[string]Stats {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.stats()
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, OPTIONS"))
	res.AppendHeader(sip.NewHeader("Supported", "siprec"))
	s.respond(tx, res)
}

func (s *Server) respond(tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		s.log.Warn("siprec: respond", "err", err, "status", res.StatusCode)
	}
}

// refuse answers req with an error status; why goes in a Warning header
// (RFC 3261, 20.43) for the recorder's logs.
func (s *Server) refuse(req *sip.Request, tx sip.ServerTransaction, code int, reason, why string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if why != "" {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf("399 cuecard %q", strings.ReplaceAll(oneLine(why), `"`, "'"))))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.log.Info("siprec: refused", "call", callID(req), "status", code, "why", why)
	s.respond(tx, res)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// checkRequire applies RFC 7866, 6.1.1: a recording session's INVITE
// requires the siprec option tag (488 without it, as a call that is not
// a recording session is not acceptable here); an option tag the server
// does not know is refused with 420 and listed in Unsupported.
func (s *Server) checkRequire(req *sip.Request, tx sip.ServerTransaction) bool {
	siprec := false
	var unknown []string
	for _, h := range req.GetHeaders("Require") {
		for tag := range strings.SplitSeq(h.Value(), ",") {
			switch t := strings.ToLower(strings.TrimSpace(tag)); t {
			case "siprec":
				siprec = true
			case "", "timer":
			default:
				unknown = append(unknown, t)
			}
		}
	}
	switch {
	case len(unknown) > 0:
		s.refuse(req, tx, 420, "Bad Extension", "unsupported option tags", sip.NewHeader("Unsupported", strings.Join(unknown, ", ")))
		return false
	case !siprec:
		s.refuse(req, tx, 488, "Not Acceptable Here", "not a recording session: the INVITE lacks Require: siprec")
		return false
	}
	return true
}

// handleInvite starts a call, or updates it when the INVITE is a
// re-INVITE of a call being recorded.
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	id := callID(req)
	s.mu.Lock()
	c, closed := s.calls[id], s.closed
	s.mu.Unlock()
	switch {
	case closed:
		s.refuse(req, tx, 503, "Service Unavailable", "shutting down")
		return
	case len(req.Body()) > s.cfg.MaxBody:
		s.refuse(req, tx, 413, "Request Entity Too Large", fmt.Sprintf("body over %d bytes", s.cfg.MaxBody))
		return
	case c != nil:
		s.reinvite(c, req, tx)
		return
	}
	if !s.checkRequire(req, tx) {
		return
	}
	s.startCall(req, tx)
}

// startCall reads the offer and metadata, asks the sink, opens the RTP
// ports and answers.
func (s *Server) startCall(req *sip.Request, tx sip.ServerTransaction) {
	_, md, meds, ok := s.readOffer(req, tx, true)
	if !ok {
		return
	}
	c, err := newCall(s, callID(req), md, meds)
	if err != nil {
		s.refuse(req, tx, 403, "Forbidden", err.Error())
		return
	}
	s.mu.Lock()
	if n := s.cfg.MaxCalls; len(s.calls) >= n {
		s.mu.Unlock()
		s.refuse(req, tx, 503, "Service Unavailable", fmt.Sprintf("%d calls are being recorded, the most at once", n),
			sip.NewHeader("Retry-After", "30"))
		return
	}
	s.calls[c.id] = c // reserved: a retransmitted INVITE is a re-INVITE now
	s.mu.Unlock()
	if err := c.open(meds); err != nil {
		s.drop(c)
		s.refuse(req, tx, 500, "Server Internal Error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	cs, err := s.sink.Start(ctx, c.info())
	cancel()
	if err != nil {
		s.drop(c)
		c.closeStreams()
		if errors.Is(err, ErrRejected) {
			s.refuse(req, tx, 403, "Forbidden", err.Error())
		} else {
			s.log.Error("siprec: start call", "call", c.id, "err", err)
			s.refuse(req, tx, 500, "Server Internal Error", "could not start the session")
		}
		return
	}
	if !c.setSink(cs) {
		cs.End() // a BYE or Close came first
		s.refuse(req, tx, 487, "Request Terminated", "the call ended while it started")
		return
	}
	c.run()
	s.log.Info("siprec: call started", "call", c.id, "rep", c.rep.AOR, "streams", len(meds))
	s.answer(req, tx, c, meds)
}

func (s *Server) drop(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
}

// readOffer reads the INVITE's body: SDP and (required on a new call)
// metadata. On failure it has answered the request.
func (s *Server) readOffer(req *sip.Request, tx sip.ServerTransaction, needMeta bool) (body, *Metadata, []media, bool) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	b, err := splitBody(ct, req.Body())
	if err != nil {
		s.refuse(req, tx, 400, "Bad Request", err.Error())
		return body{}, nil, nil, false
	}
	var md *Metadata
	switch {
	case b.metadata != nil:
		m, err := ParseMetadata(b.metadata)
		if err != nil {
			s.refuse(req, tx, 400, "Malformed Metadata", err.Error())
			return body{}, nil, nil, false
		}
		md = &m
	case needMeta:
		s.refuse(req, tx, 400, "Missing Metadata", "no application/rs-metadata+xml part")
		return body{}, nil, nil, false
	}
	meds, err := parseOffer(b.sdp)
	if err != nil {
		s.refuse(req, tx, 488, "Not Acceptable Here", err.Error())
		return body{}, nil, nil, false
	}
	return b, md, meds, true
}

// answer sends 200 OK with the recvonly SDP.
func (s *Server) answer(req *sip.Request, tx sip.ServerTransaction, c *call, meds []media) {
	res := sip.NewResponseFromRequest(req, 200, "OK", answerSDP(s.ip, c.nextVersion(), meds, c.ports()))
	if to := res.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", c.tag)
		}
	}
	port := s.udp.LocalAddr().(*net.UDPAddr).Port
	res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<sip:srs@%s:%d>;+sip.srs", s.ip, port)))
	res.AppendHeader(sip.NewHeader("Supported", "siprec"))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	s.respond(tx, res)
}

// reinvite applies a re-INVITE: new metadata, streams added, removed or
// put on hold.
func (s *Server) reinvite(c *call, req *sip.Request, tx sip.ServerTransaction) {
	_, md, meds, ok := s.readOffer(req, tx, false)
	if !ok {
		return
	}
	if err := c.update(md, meds); err != nil {
		s.refuse(req, tx, 488, "Not Acceptable Here", err.Error())
		return
	}
	s.log.Info("siprec: call updated", "call", c.id)
	s.answer(req, tx, c, meds)
}

// handleBye ends a call.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	s.mu.Lock()
	c := s.calls[callID(req)]
	delete(s.calls, callID(req))
	s.mu.Unlock()
	if c == nil {
		s.refuse(req, tx, 481, "Call/Transaction Does Not Exist", "")
		return
	}
	s.respond(tx, sip.NewResponseFromRequest(req, 200, "OK", nil))
	c.end()
	s.log.Info("siprec: call ended", "call", c.id, "stats", c.stats())
}

// rate returns the call's sample rate for its streams.
func rate(meds []media) int {
	for _, m := range meds {
		if m.ok && m.codec.name != "opus" {
			return 8000
		}
	}
	return 16000
}

// speakerOf maps a stream to a side: the rep's if the metadata says the
// rep sends it; without a sender for any stream, the first section is
// the rep's.
func speakerOf(md *Metadata, rep string, m media, index int) coach.Speaker {
	if len(md.Senders) == 0 {
		if index == 0 {
			return coach.Rep
		}
		return coach.Prospect
	}
	if md.Senders[m.label] == rep {
		return coach.Rep
	}
	return coach.Prospect
}

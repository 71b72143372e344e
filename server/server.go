// Package server is cuecard's edge: the HTTP API, live audio over
// WebSocket and WebRTC, event fan-out to viewers, and the embedded UI.
// Errors become HTTP status codes here and nowhere else.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// SessionStore is what the server needs of persistence.
type SessionStore interface {
	CreateSession(ctx context.Context, n store.NewSession) (store.Session, error)
	MarkLive(ctx context.Context, id string, sampleRate int) error
	EndSession(ctx context.Context, id string, sum *coach.Summary) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	ListSessions(ctx context.Context, f store.ListFilter) (store.Page, error)
	AppendEvents(ctx context.Context, sessionID string, firstSeq int64, evs []coach.Event) error
	ReadEvents(ctx context.Context, sessionID string, afterSeq int64, fn func(seq int64, data []byte) error) error
	LastSeq(ctx context.Context, sessionID string) (int64, error)
	AddComment(ctx context.Context, sessionID string, atMS int64, text, author, authorID string) (store.Comment, error)
	Comments(ctx context.Context, sessionID string) ([]store.Comment, error)
	UpdateComment(ctx context.Context, sessionID, commentID string, p store.CommentPatch) (store.Comment, error)
	DeleteComment(ctx context.Context, sessionID, commentID string) error
	SetNotes(ctx context.Context, id string, notes json.RawMessage) error
	Notes(ctx context.Context, id string) (json.RawMessage, error)
	RecordingPath(sessionID string, sp coach.Speaker, ext string) (string, error)
	AddRecording(ctx context.Context, sessionID string, sp coach.Speaker, path, contentType string) error
	Recording(ctx context.Context, sessionID string, sp coach.Speaker) (store.Recording, error)
}

// Config holds the server's tunables.
type Config struct {
	// AllowedOrigins may open WebSockets besides the server's own origin
	// (scheme://host[:port]); "*" allows any.
	AllowedOrigins []string
	// Pipeline tunes voice activity and recognition of live audio.
	Pipeline stream.Config
	// InactivityTimeout ends a live session that has received no audio
	// for this long.
	InactivityTimeout time.Duration
	// ReconnectWindow is how long a session whose audio client went away
	// without "stop" waits for it to come back.
	ReconnectWindow time.Duration
	// SubscriberBuffer is how many events a socket may fall behind before
	// it is dropped.
	SubscriberBuffer int
	// InputBuffer is how many audio frames a session queues before it
	// drops the oldest.
	InputBuffer int
	// WriteTimeout bounds one WebSocket write; PingInterval keeps idle
	// sockets alive.
	WriteTimeout time.Duration
	PingInterval time.Duration
	// PersistInterval is how often a live session writes its new events.
	PersistInterval time.Duration
	// FlushTimeout bounds the end of a session (last transcripts, writes).
	FlushTimeout time.Duration
	// PersistBacklog bounds the events a live session holds while the
	// store is behind; beyond it the oldest are not stored (and counted),
	// so a stalled store never stalls the audio.
	PersistBacklog int
	// UI serves the browser UI; nil serves none.
	UI fs.FS
	// Backend names the speech recognition in use, shown to users.
	Backend string
	// WebRTC configures the WebRTC endpoint; a nil API disables it.
	WebRTC *WebRTC
	// Advisor, if set, reviews cues during calls and writes notes after
	// them (a language model).
	Advisor Advisor

	// Accounts stores users, teams, tokens and browser sessions; nil takes
	// them from the session store when it has them. Without either, every
	// route but the public ones answers 401.
	Accounts AccountStore
	// Hosts are the host names the server answers to (against DNS
	// rebinding): the public URL's, "loopback" for loopback names, "*"
	// for any. Empty means loopback names only.
	Hosts []string
	// SecureCookies marks the session cookie Secure (the server is reached
	// over HTTPS, directly or through a proxy); TLS implies it.
	SecureCookies bool
	// TLS, when set, makes Serve speak HTTPS (HTTP/2 and HTTP/1.1) on its
	// listener; see Certificate for a certificate that can be reloaded.
	TLS *tls.Config
	// BehindProxy trusts X-Forwarded-For for the client's address.
	BehindProxy bool
	// MetricsAddr, when set, means /metrics is served on its own listener
	// (see MetricsHandler) and not on the API.
	MetricsAddr string
	// SessionLifetime and SessionIdle bound a browser session: signed out
	// after this long in all, or this long unused.
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	// PasswordParams are the argon2id costs of new password hashes.
	PasswordParams auth.PasswordParams
	// SignInEvery and SignInBurst rate-limit sign-in attempts per client
	// address and per email.
	SignInEvery time.Duration
	SignInBurst int
	// RetentionEvery is how often the teams' retention policies are
	// applied while the server runs (0: never; RunRetention still works).
	RetentionEvery time.Duration
	// Now is the clock of retention and consent records; nil is
	// time.Now.
	Now func() time.Time
	// Limits caps live sessions, uploads and request rates.
	Limits Limits
	// RecordingKeys, when set, encrypts every finished recording at rest
	// with its current key (see package seal); its older keys still open
	// the recordings sealed with them. Nil keeps recordings in the clear.
	RecordingKeys *seal.Keyring
	// Recordings, when set, keeps recordings where every node reads them
	// (a shared directory or S3, see package blob): a live recording is
	// uploaded in segments of SegmentInterval as the call goes on, the
	// final one (sealed with RecordingKeys) replaces them and the local
	// file. Nil keeps recordings under the data directory only.
	Recordings blob.Store
	// SegmentInterval is how much audio a node's death may lose with
	// Recordings (the open segment).
	SegmentInterval time.Duration
	// Jobs, when set, runs uploads' analyses as jobs (package jobs) that
	// any node sharing the queue may run; with Recordings their inputs go
	// through the blob store. Nil runs them on goroutines of the node
	// that accepted them, as jobs of no queue.
	Jobs JobQueue
	// NodeID names this node in the keys of the segments it records; it
	// must stay the same across restarts. Empty is the host name.
	NodeID string
	// ReadTimeout bounds reading one request (uploads get
	// UploadReadTimeout; WebSockets keep their own deadlines), IdleTimeout
	// an idle keep-alive connection.
	ReadTimeout       time.Duration
	UploadReadTimeout time.Duration
	IdleTimeout       time.Duration
	// OIDC, when set, enables single sign-on through an OpenID Connect
	// provider (it needs an account store).
	OIDC *OIDCConfig
	// Cluster, when set, makes the server one node of a cluster sharing
	// its store: sessions are claimed in the cluster's registry, requests
	// for a session another node runs are relayed (or, WHIP, redirected)
	// there, events go to viewers on every node, and a session whose node
	// died is taken over when its client comes back. Nil runs alone.
	Cluster Cluster
	// ClusterSecret authenticates requests relayed between nodes; every
	// node of a cluster has the same.
	ClusterSecret []byte
	// Telephony configures the dialer media-stream routes.
	Telephony Telephony
}

// Advisor is an optional language model: second opinions on cues while a
// call runs, notes after it. Nothing of it is on the cue path.
type Advisor interface {
	// Review returns a reviewer for one session.
	Review() Reviewer
	// Notes writes the post-call notes (a JSON object) from the call's
	// final transcripts and summary.
	Notes(ctx context.Context, finals []coach.Event, sum *coach.Summary) (json.RawMessage, error)
}

// Reviewer is fed every event of one session and sends back, when it has
// them, cue_update events and a second detector's Labels inputs for the
// coach (the session sets their AtMS). Close ends its work and waits for
// it.
type Reviewer interface {
	Observe(ev coach.Event)
	Updates() <-chan coach.Event
	Labels() <-chan coach.Input
	Close()
}

// DefaultConfig returns the server defaults.
func DefaultConfig() Config {
	pc := stream.DefaultConfig()
	pc.Resample = soxr.New
	return Config{
		Pipeline:          pc,
		InactivityTimeout: 60 * time.Second,
		ReconnectWindow:   30 * time.Second,
		SubscriberBuffer:  512,
		InputBuffer:       250,
		WriteTimeout:      10 * time.Second,
		PingInterval:      20 * time.Second,
		PersistInterval:   250 * time.Millisecond,
		FlushTimeout:      10 * time.Second,
		PersistBacklog:    20000,
		Backend:           "embedded",
		SessionLifetime:   7 * 24 * time.Hour,
		SessionIdle:       24 * time.Hour,
		PasswordParams:    auth.DefaultPasswordParams,
		SignInEvery:       6 * time.Second,
		SignInBurst:       10,
		RetentionEvery:    time.Hour,
		Limits:            DefaultLimits(),
		ReadTimeout:       time.Minute,
		UploadReadTimeout: 30 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

// Server serves the API and runs live sessions. Create it with New, serve
// it with Serve; sessions run on goroutines the server owns and waits for.
type Server struct {
	cfg     Config
	st      SessionStore
	tr      stream.Transcriber
	pb      *coach.Playbook
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	live     map[string]*liveSession
	started  chan struct{} // closed and replaced whenever a session starts
	stopping bool
	// killed makes Shutdown stop sessions as a crash would (a test hook).
	killed  atomic.Bool
	base    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // session goroutines
	handler http.Handler

	acc AccountStore
	cd  CallDataStore
	ret RetentionStore
	// createLim and uploadLim rate-limit session creation and uploads per
	// user; uploadSlots holds one token per upload being analyzed.
	createLim, uploadLim *auth.Limiter
	uploadSlots          chan struct{}
	sm                   *scs.SessionManager
	oidc                 *oidcLogin
	routeList            []Route
	touches              tokenTouches
	ingestMu             sync.Mutex
	ingestK              []byte
	setupMu              sync.Mutex
	// sealMu serializes sealing recordings (see finalizeRecording).
	sealMu sync.Mutex
	// feeds tell signed-in users of their sessions started by a dialer.
	feeds liveFeeds
	// signinIP and signinEmail limit sign-in attempts per address and per
	// account.
	signinIP, signinEmail *auth.Limiter
	// dummyHash is checked when an email has no account, so that a failed
	// sign-in takes as long either way.
	dummyHash string
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SegmentInterval <= 0 {
		c.SegmentInterval = 10 * time.Second
	}
	if c.NodeID == "" {
		c.NodeID, _ = os.Hostname()
	}
	if c.InactivityTimeout <= 0 {
		c.InactivityTimeout = d.InactivityTimeout
	}
	if c.ReconnectWindow <= 0 {
		c.ReconnectWindow = d.ReconnectWindow
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = d.SubscriberBuffer
	}
	if c.InputBuffer <= 0 {
		c.InputBuffer = d.InputBuffer
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = d.PingInterval
	}
	if c.PersistInterval <= 0 {
		c.PersistInterval = d.PersistInterval
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = d.FlushTimeout
	}
	if c.PersistBacklog <= 0 {
		c.PersistBacklog = d.PersistBacklog
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.UploadReadTimeout <= 0 {
		c.UploadReadTimeout = d.UploadReadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = d.SessionLifetime
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = d.SessionIdle
	}
	if c.PasswordParams == (auth.PasswordParams{}) {
		c.PasswordParams = d.PasswordParams
	}
	if c.SignInEvery <= 0 {
		c.SignInEvery = d.SignInEvery
	}
	if c.SignInBurst <= 0 {
		c.SignInBurst = d.SignInBurst
	}
	if c.Pipeline.Resample == nil {
		c.Pipeline.Resample = soxr.New
	}
	if c.TLS != nil {
		c.SecureCookies = true
	}
	return c
}

// New returns a server. tr may be nil to run without speech recognition
// (talk metrics and time-based cues only).
func New(cfg Config, st SessionStore, tr stream.Transcriber, pb *coach.Playbook, log *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, st: st, tr: tr, pb: pb, log: log, live: map[string]*liveSession{}, started: make(chan struct{}),
		base: base, cancel: cancel, metrics: newMetrics(), acc: cfg.Accounts,
		touches:     tokenTouches{last: map[string]time.Time{}},
		signinIP:    auth.NewLimiter(cfg.SignInEvery, cfg.SignInBurst, 100000),
		signinEmail: auth.NewLimiter(cfg.SignInEvery, cfg.SignInBurst, 100000)}
	if s.acc == nil {
		s.acc, _ = st.(AccountStore)
	}
	s.cd, _ = st.(CallDataStore)
	if l := cfg.Limits; l.CreateEvery > 0 {
		s.createLim = auth.NewLimiter(l.CreateEvery, max(1, l.CreateBurst), 100000)
	}
	if l := cfg.Limits; l.UploadEvery > 0 {
		s.uploadLim = auth.NewLimiter(l.UploadEvery, max(1, l.UploadBurst), 100000)
	}
	if cfg.Limits.MaxUploads > 0 {
		s.uploadSlots = make(chan struct{}, cfg.Limits.MaxUploads)
	}
	s.ret, _ = st.(RetentionStore)
	if s.acc != nil {
		s.sm = newSessionManager(s.acc, cfg.SecureCookies, cfg.SessionLifetime, cfg.SessionIdle)
	}
	s.dummyHash, _ = auth.HashPassword("not a password of anyone", cfg.PasswordParams)
	s.setupOIDC()
	s.metrics.registerRecognizer(s)
	if cfg.WebRTC != nil {
		cfg.WebRTC.registerMetrics(s)
	}
	if cfg.Cluster != nil {
		s.metrics.registerCluster(cfg.Cluster)
	}
	s.registerJobs()
	s.handler = s.routes()
	return s
}

// setupOIDC enables single sign-on when configured. It discovers the
// provider now, for at most the discovery timeout; if that fails, the
// first sign-in tries again.
func (s *Server) setupOIDC() {
	if s.cfg.OIDC == nil {
		return
	}
	if err := s.cfg.OIDC.Validate(); err != nil || s.acc == nil {
		s.log.Error("single sign-on disabled", "err", err, "accounts", s.acc != nil)
		return
	}
	s.oidc = newOIDCLogin(s, *s.cfg.OIDC)
	if _, _, err := s.oidc.provider(s.base); err != nil {
		s.log.Warn("single sign-on: discovery failed; trying again at the first sign-in", "err", err)
	}
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP (HTTPS with Config.TLS) on ln until ctx is done, then
// shuts down: it stops
// accepting, ends every live session (last transcripts, summary,
// recordings), closes their sockets and waits for them. It returns nil
// after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.RetentionEvery > 0 && s.ret != nil {
		if err := s.spawn(func() { s.retentionLoop(s.base) }); err != nil {
			return err
		}
	}
	if s.cfg.Cluster != nil {
		if err := s.spawn(func() { s.clusterJanitor(s.base) }); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	if s.cfg.TLS != nil {
		hs.TLSConfig = s.cfg.TLS.Clone()
		go func() { errc <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case err := <-errc:
		s.Shutdown()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.FlushTimeout+5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Shutdown()
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Shutdown ends every live session and waits for their goroutines. New
// sessions are refused from then on. Safe to call more than once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// spawn runs fn on a goroutine that Shutdown waits for, or fails with
// ErrShuttingDown once the server is stopping. Sessions, uploads and
// WebRTC peers all start this way.
func (s *Server) spawn(fn func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spawnLocked(fn)
}

// spawnLocked is spawn for a caller that holds s.mu.
func (s *Server) spawnLocked(fn func()) error {
	if s.stopping {
		return ErrShuttingDown
	}
	s.wg.Go(fn)
	return nil
}

// RecoverSessions finishes what a previous process left undone (after a
// crash): sessions left live are ended with a summary replayed from their
// stored events and their recordings repaired and registered (see
// recoverSession); uploads left analyzing are resumed or failed, and
// temporary upload files removed (see recoverUploads). Call it before
// Serve. It returns how many sessions and uploads it recovered. In a
// cluster it ends only the sessions that no live node runs and whose
// client did not come back in time (see recoverOrphans).
func (s *Server) RecoverSessions(ctx context.Context) (int, error) {
	n, err := s.recoverUploads(ctx)
	if err != nil {
		return n, err
	}
	if s.cfg.Cluster != nil {
		m, err := s.recoverOrphans(ctx)
		return n + m, err
	}
	for {
		page, err := s.st.ListSessions(ctx, store.ListFilter{Status: store.StatusLive, Source: store.SourceLive, Limit: 100})
		if err != nil {
			return n, err
		}
		if len(page.Sessions) == 0 {
			return n, nil
		}
		for _, ses := range page.Sessions {
			if err := s.recoverSession(ctx, ses); err != nil {
				// End it all the same, without a summary, rather than
				// refuse to start.
				s.log.Error("recover session", "session", ses.ID, "err", err)
				if err := s.st.EndSession(ctx, ses.ID, nil); err != nil && !errors.Is(err, store.ErrEnded) {
					return n, fmt.Errorf("end session %s: %w", ses.ID, err)
				}
			}
			n++
		}
	}
}

// checkOrigin allows same-origin WebSockets, the configured origins, and
// clients that send no Origin (not browsers: they always send one).
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	o := strings.ToLower(u.Scheme + "://" + u.Host)
	return slices.ContainsFunc(s.cfg.AllowedOrigins, func(a string) bool {
		return a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), o)
	})
}

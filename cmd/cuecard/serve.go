package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui"
)

// serveMain is `cuecard serve`: ParseFlags, then Run until the context is
// done, then Close. Tests run it on 127.0.0.1:0 with a temporary data
// directory.
type serveMain struct {
	addr     string
	store    storeFlags
	origins  stringList
	playbook string
	uiDir    string
	uiHooks  bool
	asr      asrFlags
	rtcPort  int
	rtcIP    string
	publicIP stringList
	stun     stringList
	turn     stringList
	turnUser string
	turnCred string
	// tel are the flags of the dialer media streams, telephony what they
	// configure.
	tel       telephonyFlags
	telephony server.Telephony
	// turnSecret mints short-lived TURN credentials (TURN REST API);
	// turnSecretFile holds it, else $CUECARD_TURN_SECRET.
	turnSecret, turnSecretFile string
	turnTTL                    time.Duration
	// publicURL is how users reach the server (Host check, cookies, the
	// set-up link); behindProxy trusts a reverse proxy's headers.
	publicURL   string
	behindProxy bool
	// tlsCert and tlsKey serve HTTPS (reloaded on SIGHUP).
	tlsCert, tlsKey string
	// metricsAddr serves /metrics on a listener of its own.
	metricsAddr string
	limits      server.Limits
	retention   time.Duration
	sso         oidcFlags
	cluster     clusterFlags
	oidc        *server.OIDCConfig
	siprec      siprecFlags
	// keyFile and oldKeyFiles hold the recording keys (at rest).
	keyFile     string
	oldKeyFiles stringList
	keys        *seal.Keyring
	storage     storageFlags

	stdout io.Writer
	log    *slog.Logger

	// nc is the connection to --nats that --asr workers reaches the
	// workers through.
	nc *nats.Conn

	db        *store.DB
	tr        io.Closer
	rtc       *server.WebRTC
	srv       *server.Server
	cert      *server.Certificate
	ln        net.Listener
	metricsLn net.Listener
	addrReady chan string // receives the listening address, for tests
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// sphinxFlags configure the embedded recognizer.
type sphinxFlags struct {
	hmm, lm, dict string
	pool, prime   int
	fast          bool
}

func (f *sphinxFlags) register(fs *flag.FlagSet) {
	d := sphinx.DefaultConfig()
	fs.StringVar(&f.hmm, "sphinx-hmm", d.HMM, "PocketSphinx acoustic model directory")
	fs.StringVar(&f.lm, "sphinx-lm", d.LM, "PocketSphinx language model")
	fs.StringVar(&f.dict, "sphinx-dict", d.Dict, "PocketSphinx pronunciation dictionary")
	fs.IntVar(&f.pool, "sphinx-pool", 0, "recognizers in the shared pool, about 100 MB each (0: four per CPU)")
	fs.IntVar(&f.prime, "sphinx-prime", sphinx.DefaultPrimeMS, "ms of each side's first speech used to calibrate the recognizer before decoding it (0: none)")
	fs.BoolVar(&f.fast, "sphinx-fast", false, "narrow-beam single-pass decoding: half the CPU, more word errors")
}

func (f *sphinxFlags) open() (*sphinx.Recognizer, error) {
	cfg := sphinx.DefaultConfig()
	cfg.HMM, cfg.LM, cfg.Dict, cfg.PoolSize = f.hmm, f.lm, f.dict, f.pool
	cfg.PrimeMS = f.prime
	if f.prime <= 0 {
		cfg.PrimeMS = -1
	}
	if f.fast {
		cfg.Params = sphinx.FastParams()
	}
	return sphinx.New(cfg)
}

func newServeMain(stdout, stderr io.Writer) *serveMain {
	return &serveMain{stdout: stdout, log: slog.New(slog.NewTextHandler(stderr, nil))}
}

// ParseFlags reads the command line.
func (m *serveMain) ParseFlags(args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	fs.StringVar(&m.addr, "addr", "127.0.0.1:8080", "address to listen on")
	m.store.register(fs, "data directory (database and recordings)")
	fs.Var(&m.origins, "origin", "also allow WebSockets from this origin (repeatable; * for any)")
	fs.StringVar(&m.playbook, "playbook", "", "playbook YAML file (default: the built-in playbook)")
	fs.StringVar(&m.uiDir, "ui-dir", "", "serve the web UI from this directory instead of the embedded copy (UI development)")
	fs.BoolVar(&m.uiHooks, "ui-test-hooks", false, "let the web UI play the prospect's side from ?test-prospect=URL (end-to-end tests only)")
	m.asr.withWorkers = true
	m.asr.register(fs, true, true)
	m.registerNetwork(fs)
	m.registerLimits(fs)
	m.sso.register(fs)
	m.cluster.register(fs)
	m.siprec.register(fs)
	m.tel.register(fs)
	fs.StringVar(&m.keyFile, "recording-key-file", "", "encrypt recordings at rest with the 32-byte key in this file (raw, hex or base64; keep it outside --data)")
	fs.Var(&m.oldKeyFiles, "recording-old-key-file", "also read recordings encrypted with the key in this file (repeatable; while rotating keys)")
	m.storage.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := m.checkNetwork(); err != nil {
		return err
	}
	var err error
	if m.keys, err = loadKeyring(m.keyFile, m.oldKeyFiles); err != nil {
		return err
	}
	if m.oidc, err = m.sso.config(m.publicURL); err != nil {
		return err
	}
	if err := m.cluster.check(); err != nil {
		return err
	}
	m.storage.nats.url, m.storage.node = m.cluster.natsURL, m.cluster.nodeID
	if err := m.storage.check(); err != nil {
		return err
	}
	if m.asr.kind == "workers" && m.cluster.natsURL == "" {
		return usagef("--asr workers needs --nats URL")
	}
	if m.telephony, err = m.tel.config(); err != nil {
		return err
	}
	return m.asr.check(true)
}

// openNATS connects to --nats for --asr workers, before the recognizer is
// opened. The workers' traffic has a connection of its own, apart from
// the cluster's events.
func (m *serveMain) openNATS() error {
	if m.asr.kind != "workers" {
		return nil
	}
	var err error
	if m.nc, err = connectNATS(m.cluster.natsURL, "cuecard serve"); err != nil {
		return err
	}
	m.asr.nc = m.nc
	return nil
}

// registerNetwork adds the flags of how the server is reached: TLS, the
// proxy in front, WebRTC and TURN, metrics.
func (m *serveMain) registerNetwork(fs *flag.FlagSet) {
	fs.StringVar(&m.publicURL, "public-url", "", "URL users reach the server at, e.g. https://coach.example.com (the only Host answered besides loopback names)")
	fs.BoolVar(&m.behindProxy, "behind-proxy", false, "a reverse proxy terminates TLS in front of the server (trust X-Forwarded-For)")
	fs.StringVar(&m.tlsCert, "tls-cert", "", "serve HTTPS with this certificate file (PEM, leaf then chain; read again on SIGHUP)")
	fs.StringVar(&m.tlsKey, "tls-key", "", "private key file of --tls-cert (PEM)")
	fs.StringVar(&m.metricsAddr, "metrics-addr", "", "serve /metrics, without authentication, on this address instead of on the API (where it needs an administrator's token)")
	fs.IntVar(&m.rtcPort, "webrtc-udp-port", server.DefaultWebRTCConfig().UDPPort, "UDP port for all WebRTC traffic (-1: WebRTC off)")
	fs.StringVar(&m.rtcIP, "webrtc-listen-ip", "", "address to bind the WebRTC port on (default: the --addr host's; all interfaces when --addr is on all)")
	fs.Var(&m.publicIP, "public-ip", "public IP to announce for WebRTC behind 1:1 NAT (repeatable)")
	fs.Var(&m.stun, "stun", "STUN server URL, e.g. stun:stun.example.org:3478 (repeatable)")
	fs.Var(&m.turn, "turn", "TURN server URL, e.g. turn:turn.example.org:3478?transport=udp (repeatable)")
	fs.StringVar(&m.turnSecret, "turn-secret", "", "the TURN server's shared secret (coturn use-auth-secret): each user who streams gets credentials that expire (default: $CUECARD_TURN_SECRET)")
	fs.StringVar(&m.turnSecretFile, "turn-secret-file", "", "read --turn-secret from this file")
	fs.DurationVar(&m.turnTTL, "turn-ttl", server.DefaultWebRTCConfig().TURNTTL, "how long the TURN credentials made with --turn-secret are valid")
	fs.StringVar(&m.turnUser, "turn-user", "", "static TURN username (long-lived; prefer --turn-secret)")
	fs.StringVar(&m.turnCred, "turn-credential", "", "static TURN credential (long-lived; prefer --turn-secret)")
}

// checkNetwork checks the network flags together and reads the TURN
// secret from its file or the environment.
func (m *serveMain) checkNetwork() error {
	if m.publicURL != "" {
		u, err := url.Parse(m.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--public-url %q: want http(s)://host[:port]", m.publicURL)
		}
		if m.tlsCert != "" && u.Scheme != "https" {
			return usagef("--public-url %q is http, but --tls-cert serves HTTPS", m.publicURL)
		}
	}
	if (m.tlsCert == "") != (m.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	switch {
	case m.turnSecret != "" && m.turnSecretFile != "":
		return usagef("give --turn-secret or --turn-secret-file, not both")
	case m.turnSecretFile != "":
		b, err := os.ReadFile(m.turnSecretFile)
		if err != nil {
			return fmt.Errorf("--turn-secret-file: %w", err)
		}
		if m.turnSecret = strings.TrimSpace(string(b)); m.turnSecret == "" {
			return usagef("--turn-secret-file %s is empty", m.turnSecretFile)
		}
	case m.turnSecret == "":
		m.turnSecret = os.Getenv("CUECARD_TURN_SECRET")
	}
	if m.turnSecret != "" && (m.turnUser != "" || m.turnCred != "") {
		return usagef("give a TURN secret or --turn-user/--turn-credential, not both")
	}
	if m.turnTTL <= 0 {
		return usagef("--turn-ttl must be positive")
	}
	return nil
}

// Run opens the store and the recognizer, serves until ctx is done, and
// shuts down gracefully (sessions end with their summaries).
func (m *serveMain) Run(ctx context.Context) error {
	pb, err := loadPlaybook(m.playbook)
	if err != nil {
		return err
	}
	if m.db, err = m.store.open(ctx); err != nil {
		return err
	}
	// Listen first: the WebRTC port binds to the listener's address.
	if m.ln, err = net.Listen("tcp", m.addr); err != nil {
		return err
	}
	cfg := server.DefaultConfig()
	cfg.AllowedOrigins = m.origins
	cfg.Limits, cfg.RetentionEvery = m.limits, m.retention
	cfg.RecordingKeys = m.keys
	if err := m.listenOthers(&cfg); err != nil {
		return err
	}
	cfg.OIDC = m.oidc
	m.network(&cfg)
	cfg.UI = webui.FS(m.uiDir)
	if m.uiHooks {
		cfg.UI = server.WithUITestHooks(cfg.UI)
	}
	if err := m.openNATS(); err != nil {
		return err
	}
	tr, trCloser, err := m.asr.open()
	if err != nil {
		return fmt.Errorf("speech recognition: %w", err)
	}
	m.tr = trCloser
	adv, err := m.asr.advisor()
	if err != nil {
		return fmt.Errorf("language model: %w", err)
	}
	if adv != nil {
		cfg.Advisor = advisor{adv}
	}
	cfg.Backend = describe(tr, adv)
	if err := m.openWebRTC(&cfg); err != nil {
		return err
	}
	if err := m.cluster.join(ctx, &cfg, m.ln, m.publicURL); err != nil {
		return err
	}
	if err := m.storage.open(ctx, &cfg, m.log); err != nil {
		return err
	}
	m.srv = server.New(cfg, m.db, tr, pb, m.log)
	if err := m.siprec.start(m.srv, m); err != nil {
		return fmt.Errorf("siprec: %w", err)
	}
	if n, err := m.srv.RecoverSessions(ctx); err != nil {
		return fmt.Errorf("recover sessions: %w", err)
	} else if n > 0 {
		m.log.Info("ended sessions left live by a previous run", "n", n)
	}
	if err := m.storage.start(); err != nil {
		return err
	}
	if err := m.printBanner(ctx, cfg.Backend); err != nil {
		return err
	}
	if m.cert != nil {
		defer m.reloadOnHangup()()
	}
	if m.metricsLn != nil {
		defer m.serveMetrics()()
	}
	if m.addrReady != nil {
		m.addrReady <- m.ln.Addr().String()
	}
	err = m.srv.Serve(ctx, m.ln)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// printBanner prints where the server is, and the first-start link.
func (m *serveMain) printBanner(ctx context.Context, backend string) error {
	home := m.home()
	rtc := "off"
	if m.rtc != nil {
		rtc = "udp " + m.rtc.Addr().String()
	}
	fmt.Fprintf(m.stdout, "cuecard serving on %s (%s, speech recognition: %s, WebRTC: %s)\n", home, m.store.where(), backend, rtc)
	if m.metricsLn != nil {
		fmt.Fprintf(m.stdout, "metrics on http://%s/metrics\n", m.metricsLn.Addr())
	}
	return m.printSetup(ctx, home)
}

// listenOthers loads the TLS certificate and binds the metrics listener,
// before anything slow starts.
func (m *serveMain) listenOthers(cfg *server.Config) error {
	if m.tlsCert != "" {
		var err error
		if m.cert, err = server.LoadCertificate(m.tlsCert, m.tlsKey); err != nil {
			return err
		}
		cfg.TLS = m.cert.TLSConfig()
	}
	if m.metricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	m.metricsLn, cfg.MetricsAddr = ln, m.metricsAddr
	if !loopbackAddr(m.metricsAddr) {
		m.log.Warn("metrics are served without authentication beyond loopback; keep --metrics-addr off the public network")
	}
	return nil
}

// openWebRTC binds the WebRTC port, unless WebRTC is off.
func (m *serveMain) openWebRTC(cfg *server.Config) error {
	if m.rtcPort < 0 {
		return nil
	}
	rc := server.DefaultWebRTCConfig()
	rc.UDPPort, rc.ListenIP, rc.PublicIPs = m.rtcPort, m.rtcListenIP(), m.publicIP
	rc.STUN, rc.TURN = m.stun, m.turn
	rc.TURNSecret, rc.TURNTTL, rc.TURNUsername, rc.TURNCredential = m.turnSecret, m.turnTTL, m.turnUser, m.turnCred
	if m.turnUser != "" || m.turnCred != "" {
		m.log.Warn("--turn-user/--turn-credential are long-lived: every user who streams a call gets them and keeps them; prefer --turn-secret (short-lived credentials per user)")
	}
	var err error
	if m.rtc, err = server.NewWebRTC(rc, m.log); err != nil {
		return fmt.Errorf("webrtc: %w", err)
	}
	cfg.WebRTC = m.rtc
	return nil
}

// rtcListenIP is the address the WebRTC port binds to: --webrtc-listen-ip,
// else the HTTP listener's (loopback when serving on loopback), all
// interfaces ("") only when the listener is on all of them.
func (m *serveMain) rtcListenIP() string {
	if m.rtcIP != "" {
		return m.rtcIP
	}
	if a, ok := m.ln.Addr().(*net.TCPAddr); ok && !a.IP.IsUnspecified() && a.Zone == "" {
		return a.IP.String()
	}
	return ""
}

// reloadOnHangup reads the TLS certificate files again on every SIGHUP
// (a renewed certificate) until the returned function is called, which
// waits for it to stop.
func (m *serveMain) reloadOnHangup() (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-hup:
				m.reloadTLS()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}

// reloadTLS reads the certificate files again; on failure the previous
// certificate is still served.
func (m *serveMain) reloadTLS() {
	if err := m.cert.Reload(); err != nil {
		m.log.Error("TLS certificate not reloaded; still serving the previous one", "err", err)
		return
	}
	if leaf := m.cert.Current().Leaf; leaf != nil {
		m.log.Info("TLS certificate reloaded", "cert", m.tlsCert, "not_after", leaf.NotAfter)
	}
}

// serveMetrics serves /metrics on the metrics listener until the returned
// function is called, which closes it and waits.
func (m *serveMain) serveMetrics() (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.srv.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(m.metricsLn); !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics listener stopped", "err", err)
		}
	}()
	return func() {
		hs.Close()
		<-done
	}
}

// Close releases the recognizer and the store, after Run returned.
func (m *serveMain) Close() error {
	err := m.siprec.stop() // its calls' sessions end with the server's
	m.storage.close()
	if m.srv != nil {
		m.srv.Shutdown()
	}
	m.cluster.close()
	// Listeners left open by a Run that failed before serving; Serve
	// closes its own.
	for _, ln := range []net.Listener{m.ln, m.metricsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if m.rtc != nil {
		if cerr := m.rtc.Close(); err == nil {
			err = cerr
		}
	}
	if m.tr != nil {
		if cerr := m.tr.Close(); err == nil {
			err = cerr
		}
	}
	if m.nc != nil {
		m.nc.Close()
	}
	if m.db != nil {
		if cerr := m.db.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	m := newServeMain(stdout, stderr)
	if err := m.ParseFlags(args, stderr); err != nil {
		return err
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// loopbackAddr reports whether addr (host:port) listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// network sets what the server answers to: the public URL's host, loopback
// names when listening on loopback, and secure cookies under HTTPS.
func (m *serveMain) network(cfg *server.Config) {
	loop := loopbackAddr(m.addr)
	https := m.tlsCert != "" || strings.HasPrefix(m.publicURL, "https:")
	cfg.BehindProxy = m.behindProxy
	cfg.Telephony = m.telephony
	cfg.SecureCookies = https
	if m.publicURL != "" {
		u, _ := url.Parse(m.publicURL)
		cfg.Hosts = []string{u.Hostname()}
		if loop {
			cfg.Hosts = append(cfg.Hosts, "loopback")
		}
		cfg.AllowedOrigins = append(cfg.AllowedOrigins, u.Scheme+"://"+u.Host)
	} else if !loop {
		cfg.Hosts = []string{"*"}
		m.log.Warn("listening beyond loopback without --public-url: any Host header is answered; set --public-url to guard against DNS rebinding")
	}
	if !loop && !m.behindProxy && !https {
		m.log.Warn("listening beyond loopback without TLS: passwords, cookies and calls cross the network in clear; give --tls-cert/--tls-key or put a TLS proxy in front (--behind-proxy, see docs/deploy.md)")
	}
}

// home is the URL printed for users: the public URL, or the listener's.
func (m *serveMain) home() string {
	if m.publicURL != "" {
		return strings.TrimSuffix(m.publicURL, "/") + "/"
	}
	if m.cert != nil {
		return "https://" + m.ln.Addr().String() + "/"
	}
	return "http://" + m.ln.Addr().String() + "/"
}

// printSetup prints the one-time link that creates the first
// administrator, while the server has no user.
func (m *serveMain) printSetup(ctx context.Context, home string) error {
	secret, err := m.srv.PrepareSetup(ctx)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	if secret != "" {
		fmt.Fprintf(m.stdout, "\nNo user yet. Open this link to create the administrator (it works once):\n\n    %ssetup?token=%s\n\n", home, secret)
	}
	return nil
}

// registerLimits adds the flags of the server's caps (0: no cap).
func (m *serveMain) registerLimits(fs *flag.FlagSet) {
	d := server.DefaultLimits()
	fs.IntVar(&m.limits.MaxLive, "max-live", d.MaxLive, "live sessions on this server at once (0: no cap)")
	fs.IntVar(&m.limits.MaxLivePerUser, "max-live-per-user", d.MaxLivePerUser, "live sessions of one rep at once (0: no cap)")
	fs.DurationVar(&m.limits.MaxSessionLength, "max-session-length", d.MaxSessionLength, "a live session ends after this much audio (0: no cap)")
	fs.Int64Var(&m.limits.MaxUploadBytes, "max-upload-bytes", d.MaxUploadBytes, "largest upload body in bytes")
	fs.DurationVar(&m.limits.MaxUploadLength, "max-upload-length", d.MaxUploadLength, "longest uploaded recording (0: no cap)")
	fs.IntVar(&m.limits.MaxUploads, "max-uploads", d.MaxUploads, "uploads analyzed at once (0: no cap)")
	fs.DurationVar(&m.limits.CreateEvery, "session-rate", d.CreateEvery, "one new session per this interval per rep, after a burst (0: no limit)")
	fs.IntVar(&m.limits.CreateBurst, "session-burst", d.CreateBurst, "the burst of new sessions per rep")
	fs.DurationVar(&m.limits.UploadEvery, "upload-rate", d.UploadEvery, "one upload per this interval per user, after a burst (0: no limit)")
	fs.IntVar(&m.limits.UploadBurst, "upload-burst", d.UploadBurst, "the burst of uploads per user")
	fs.DurationVar(&m.retention, "retention-every", time.Hour, "how often the teams' retention policies are applied (0: never)")
}

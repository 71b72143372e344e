package server_test

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
)

// serveTLS serves srv's API on a loopback listener of its own through
// Server.Serve (with the server's TLS configuration) and returns its
// address; the server stops when the test ends.
func serveTLS(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// servedCert asks addr for /healthz over HTTPS, trusting only root, and
// returns the certificate the server presented.
func servedCert(t *testing.T, addr string, root *x509.Certificate) *x509.Certificate {
	t.Helper()
	resp, err := servertest.TLSClient(root).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS trusting %q: %v", root.Subject.CommonName, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET /healthz: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	return resp.TLS.PeerCertificates[0]
}

// TestTLSServeAndReload serves HTTPS from certificate files, checks that
// the session cookie is Secure, renews the files and reloads them, and
// checks that a broken renewal keeps the certificate being served.
func TestTLSServeAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := servertest.WriteCert(t, certFile, keyFile, "first")
	cert, err := server.LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) { c.TLS = cert.TLSConfig() }})
	addr := serveTLS(t, srv)
	if got := servedCert(t, addr, first); !got.Equal(first) {
		t.Fatalf("served %q, want the first certificate", got.Subject.CommonName)
	}

	u, _ := srv.NewUser(t, "rep@example.com", auth.RoleRep, "")
	withPassword(t, srv, u.ID, "a long enough password")
	resp, err := servertest.TLSClient(first).Post("https://"+addr+"/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"rep@example.com","password":"a long enough password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secure := false
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == "cuecard_session" && c.Secure)
	}
	if resp.StatusCode != http.StatusOK || !secure {
		t.Fatalf("sign-in over TLS: %d, Set-Cookie %q; want a Secure session cookie", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}

	checkWebSocketOverTLS(t, srv, addr, first)

	second := servertest.WriteCert(t, certFile, keyFile, "second")
	if got := servedCert(t, addr, first); !got.Equal(first) {
		t.Fatal("the certificate changed before a reload")
	}
	if err := cert.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedCert(t, addr, second); !got.Equal(second) {
		t.Fatalf("served %q after the reload, want the second certificate", got.Subject.CommonName)
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cert.Reload(); err == nil {
		t.Fatal("reloading a broken certificate file succeeded")
	}
	if got := servedCert(t, addr, second); !got.Equal(second) {
		t.Fatalf("served %q after a failed reload, want the second certificate still", got.Subject.CommonName)
	}
}

// checkWebSocketOverTLS opens a session's live events over wss: the
// server also offers HTTP/2, and WebSockets still upgrade on HTTP/1.1.
func checkWebSocketOverTLS(t *testing.T, srv *servertest.Server, addr string, root *x509.Certificate) {
	t.Helper()
	ses, err := srv.Client.CreateSession(context.Background(), clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{TLSClientConfig: servertest.TLSClient(root).Transport.(*http.Transport).TLSClientConfig}
	hdr := http.Header{"Authorization": {"Bearer " + srv.Token}}
	conn, resp, err := d.Dial("wss://"+addr+"/v1/sessions/"+ses.ID+"/events", hdr)
	if err != nil {
		t.Fatalf("WebSocket over TLS: %v", err)
	}
	resp.Body.Close()
	conn.Close()
}

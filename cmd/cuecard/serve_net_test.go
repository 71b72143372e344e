package main

import (
	"bytes"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cuecard/cuecard/server/servertest"
)

// syncBuffer is a log sink the server may write to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// servedCert returns the certificate the server at addr presents, or an
// error when it is not one of roots.
func servedCert(addr string, root *x509.Certificate) (*x509.Certificate, error) {
	resp, err := servertest.TLSClient(root).Get("https://" + addr + "/healthz")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0], nil
}

// TestServeTLSReloadsOnSIGHUP serves HTTPS from certificate files, renews
// them, sends the process a SIGHUP and waits for the new certificate to
// be served; a broken renewal keeps it.
func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := servertest.WriteCert(t, certFile, keyFile, "first")
	logs := &syncBuffer{}
	m, stop := startServeMain(t, filepath.Join(dir, "data"), logs, "--asr", "none", "--tls-cert", certFile, "--tls-key", keyFile)
	defer stop()
	addr := m.ln.Addr().String()
	if home := m.home(); home != "https://"+addr+"/" {
		t.Errorf("home %q, want https", home)
	}
	if got, err := servedCert(addr, first); err != nil || !got.Equal(first) {
		t.Fatalf("before the renewal: %v", err)
	}

	second := servertest.WriteCert(t, certFile, keyFile, "second")
	hangUpUntil(t, func() bool {
		got, err := servedCert(addr, second)
		return err == nil && got.Equal(second)
	}, "the renewed certificate is served")

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangUpUntil(t, func() bool { return strings.Contains(logs.String(), "TLS certificate not reloaded") }, "the failed reload is logged")
	if got, err := servedCert(addr, second); err != nil || !got.Equal(second) {
		t.Fatalf("after a broken renewal: %v", err)
	}
}

// hangUpUntil sends this process SIGHUP until ok holds (a signal is
// delivered asynchronously), or fails after ten seconds.
func hangUpUntil(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after SIGHUP", what)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronization
	}
}

// get returns the status and body of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeMetrics checks that /metrics on the API needs a token, and
// that --metrics-addr serves it on its own listener instead.
func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	url, stop := startServe(t, filepath.Join(dir, "a"), "--asr", "none")
	if code, body := get(t, url+"/metrics"); code != http.StatusUnauthorized || strings.Contains(body, "cuecard_") {
		t.Errorf("API /metrics without a token: %d %.80q, want 401", code, body)
	}
	stop()

	m, stop := startServeMain(t, filepath.Join(dir, "b"), io.Discard, "--asr", "none", "--metrics-addr", "127.0.0.1:0")
	defer stop()
	if code, body := get(t, "http://"+m.metricsLn.Addr().String()+"/metrics"); code != http.StatusOK || !strings.Contains(body, "cuecard_live_sessions") {
		t.Errorf("--metrics-addr /metrics: %d %.80q", code, body)
	}
	if code, body := get(t, "http://"+m.ln.Addr().String()+"/metrics"); code == http.StatusOK || strings.Contains(body, "cuecard_") {
		t.Errorf("API /metrics with --metrics-addr: %d %.80q, want no metrics", code, body)
	}
}

// TestServeWebRTCBindsToListener checks that the WebRTC UDP port binds to
// the HTTP listener's address unless told otherwise.
func TestServeWebRTCBindsToListener(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(net.IP) bool
	}{
		{"loopback", nil, net.IP.IsLoopback},
		{"all interfaces", []string{"--addr", "0.0.0.0:0"}, net.IP.IsUnspecified},
		{"told otherwise", []string{"--webrtc-listen-ip", "0.0.0.0"}, net.IP.IsUnspecified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, stop := startServeMain(t, t.TempDir(), io.Discard, append([]string{"--asr", "none"}, tt.args...)...)
			defer stop()
			if ip := m.rtc.Addr().(*net.UDPAddr).IP; !tt.want(ip) {
				t.Fatalf("WebRTC bound to %v with HTTP on %v", m.rtc.Addr(), m.ln.Addr())
			}
		})
	}
}

// TestServeTURNFlags checks how the TURN secret is given, and that static
// credentials still work but are warned about.
func TestServeTURNFlags(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "turn-secret")
	if err := os.WriteFile(secretFile, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env string
		args      []string
		secret    string // "" with err
		err       string
	}{
		{"flag", "", []string{"--turn-secret", "s1"}, "s1", ""},
		{"file", "", []string{"--turn-secret-file", secretFile}, "from a file", ""},
		{"environment", "s3", nil, "s3", ""},
		{"flag beats environment", "s3", []string{"--turn-secret", "s1"}, "s1", ""},
		{"flag and file", "", []string{"--turn-secret", "s1", "--turn-secret-file", secretFile}, "", "not both"},
		{"secret and static", "", []string{"--turn-secret", "s1", "--turn-user", "u"}, "", "not both"},
		{"no ttl", "", []string{"--turn-secret", "s1", "--turn-ttl", "0"}, "", "--turn-ttl"},
		{"TLS key without certificate", "", []string{"--tls-key", "k.pem"}, "", "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CUECARD_TURN_SECRET", tt.env)
			m := newServeMain(io.Discard, io.Discard)
			err := m.ParseFlags(append([]string{"--asr", "none"}, tt.args...), io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || m.turnSecret != tt.secret {
				t.Fatalf("secret %q, error %v; want %q", m.turnSecret, err, tt.secret)
			}
		})
	}

	t.Setenv("CUECARD_TURN_SECRET", "")
	logs := &syncBuffer{}
	_, stop := startServeMain(t, t.TempDir(), logs, "--asr", "none",
		"--turn", "turn:127.0.0.1:3478?transport=udp", "--turn-user", "u", "--turn-credential", "c")
	stop()
	if !strings.Contains(logs.String(), "long-lived") {
		t.Fatalf("no warning about static TURN credentials in:\n%s", logs)
	}
}

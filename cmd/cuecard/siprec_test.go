package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestServeSIPREC runs serve with the SIPREC server on a free port: it
// binds UDP and TCP, and stops with the server.
func TestServeSIPREC(t *testing.T) {
	m, stop := startServeMain(t, t.TempDir(), io.Discard, "--siprec-addr", "127.0.0.1:0",
		"--siprec-rep-domain", "sales.example.com", "--siprec-rep", "sip:ana@sales.example.com=ana@example.com")
	if m.siprec.srs == nil || m.siprec.srs.TCPAddr() == nil {
		t.Fatal("no SIPREC server")
	}
	stop()
	if m.siprec.srs != nil {
		t.Fatal("the SIPREC server outlived serve")
	}
}

// TestServeSIPRECBadRep refuses a --siprec-rep without an email.
func TestServeSIPRECBadRep(t *testing.T) {
	m := newServeMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--webrtc-udp-port", "-1",
		"--siprec-addr", "127.0.0.1:0", "--siprec-rep", "sip:ana@sales.example.com"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "AOR=EMAIL") {
		t.Fatalf("Run: %v", err)
	}
}

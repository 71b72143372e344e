package server

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// Certificate is the server's TLS certificate, read from a certificate
// file (PEM, leaf first, then the chain) and a key file. Reload reads the
// files again, so a renewed certificate is served without a restart;
// handshakes in flight keep the certificate they started with. It is
// safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads certFile and keyFile. It fails if they cannot be
// read or do not hold a matching certificate and key.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again and serves their certificate from the next
// handshake on. On failure it keeps serving the previous certificate and
// returns the error.
func (c *Certificate) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// Current returns the certificate served now.
func (c *Certificate) Current() *tls.Certificate { return c.cur.Load() }

// GetCertificate is for tls.Config.GetCertificate: it returns the current
// certificate whatever the client asks for.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// TLSConfig returns a server configuration that serves the current
// certificate, for Config.TLS.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

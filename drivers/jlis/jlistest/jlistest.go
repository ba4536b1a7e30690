// Package jlistest helps test code that talks to the central API: a
// throw-away PKI (root, server and terminal certificates as PEM files) and
// a mutual-TLS httptest server to stand in for the central system.
package jlistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a root CA with one server and one terminal (client)
// certificate, all ECDSA P-256, valid for a day.
type PKI struct {
	Dir string
	// CAFile, CertFile and KeyFile are what jlis.Config wants: the root,
	// the terminal certificate and its key (PEM).
	CAFile, CertFile, KeyFile string
	Root                      *x509.Certificate
	Roots                     *x509.CertPool
	Server                    tls.Certificate // for 127.0.0.1, ::1 and localhost
	Terminal                  tls.Certificate // CN "terminal-test"
}

// NewPKI makes a PKI in a temporary directory of tb.
func NewPKI(tb testing.TB) *PKI {
	tb.Helper()
	p := &PKI{Dir: tb.TempDir()}
	now := time.Now()
	rootKey := newKey(tb)
	rootTmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "jlistest root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatalf("jlistest: root: %v", err)
	}
	if p.Root, err = x509.ParseCertificate(rootDER); err != nil {
		tb.Fatalf("jlistest: root: %v", err)
	}
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(p.Root)

	leaf := func(cn string, eku x509.ExtKeyUsage, server bool) (tls.Certificate, []byte, *ecdsa.PrivateKey) {
		key := newKey(tb)
		tmpl := &x509.Certificate{
			SerialNumber: serial(tb),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Root, &key.PublicKey, rootKey)
		if err != nil {
			tb.Fatalf("jlistest: %s: %v", cn, err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, key
	}
	p.Server, _, _ = leaf("jlistest server", x509.ExtKeyUsageServerAuth, true)
	var termDER []byte
	var termKey *ecdsa.PrivateKey
	p.Terminal, termDER, termKey = leaf("terminal-test", x509.ExtKeyUsageClientAuth, false)

	keyDER, err := x509.MarshalPKCS8PrivateKey(termKey)
	if err != nil {
		tb.Fatalf("jlistest: terminal key: %v", err)
	}
	p.CAFile = writePEM(tb, p.Dir, "root.pem", "CERTIFICATE", rootDER)
	p.CertFile = writePEM(tb, p.Dir, "terminal.pem", "CERTIFICATE", termDER)
	p.KeyFile = writePEM(tb, p.Dir, "terminal-key.pem", "PRIVATE KEY", keyDER)
	return p
}

// ServerTLS is a server configuration that presents p.Server and requires
// a client certificate issued by p.Root.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.Roots,
	}
}

// ClientTLS is a client configuration that presents p.Terminal and trusts
// p.Root only.
func (p *PKI) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      p.Roots,
		Certificates: []tls.Certificate{p.Terminal},
	}
}

// NewServer starts a mutual-TLS server for h with p.ServerTLS and closes
// it when the test ends. Its URL is https://127.0.0.1:port.
func NewServer(tb testing.TB, p *PKI, h http.Handler) *httptest.Server {
	tb.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = p.ServerTLS()
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("jlistest: key: %v", err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatalf("jlistest: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("jlistest: %v", err)
	}
	return path
}

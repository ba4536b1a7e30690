package jlis

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"madoguchi/drivers/jlis/api"
)

// testCA is a CA with its key, for CRLs and OCSP answers.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key}
}

// issue makes a leaf certificate signed by ca.
func (ca testCA) issue(t *testing.T, serial int64, eku ...x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestFetchCRL(t *testing.T) {
	ca := newTestCA(t, "auth CA")
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(7), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(42), RevocationTime: time.Now(), ReasonCode: 6}},
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	var flaky atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/crl/auth.crl":
			w.Header().Set("Content-Type", ContentTypeCRL)
			w.Write(crlDER)
		case "/crl/flaky.crl":
			if flaky.Add(1) == 1 { // the first attempt fails, the retry succeeds
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", ContentTypeCRL)
			w.Write(crlDER)
		case "/crl/junk.crl":
			io.WriteString(w, "not a CRL")
		default:
			writeProblem(w, http.StatusNotFound, api.CodeNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		ca   string
		want error
	}{
		{"auth", nil},
		{"flaky", nil}, // 503, then the CRL
		{"unknown", ErrNotFound},
		{"junk", ErrBadResponse},
		{"", ErrInvalidRequest},
		{"../etc", ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.ca, func(t *testing.T) {
			crl, err := FetchCRL(t.Context(), srv.URL, tt.ca)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(ca.cert); err != nil {
				t.Errorf("signature: %v", err)
			}
			if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Int64() != 42 {
				t.Errorf("entries = %+v", crl.RevokedCertificateEntries)
			}
		})
	}
}

func TestOCSP(t *testing.T) {
	ca := newTestCA(t, "auth CA")
	otherCA := newTestCA(t, "other CA")
	leaf, _ := ca.issue(t, 100)
	delegate, delegateKey := ca.issue(t, 200, x509.ExtKeyUsageOCSPSigning)
	impostor, impostorKey := ca.issue(t, 300) // a card's certificate, say: no OCSP EKU
	now := time.Now().Truncate(time.Second)

	tests := []struct {
		name       string
		template   ocsp.Response
		responder  *x509.Certificate // embedded; nil: signed by the CA itself
		signer     crypto.Signer
		status     int
		wantStatus int
		wantReason int
		want       error
	}{
		{name: "good, signed by the CA", template: ocsp.Response{Status: ocsp.Good}, signer: ca.key, wantStatus: ocsp.Good},
		{name: "suspended", template: ocsp.Response{Status: ocsp.Revoked, RevokedAt: now, RevocationReason: ocsp.CertificateHold},
			signer: ca.key, wantStatus: ocsp.Revoked, wantReason: ocsp.CertificateHold},
		{name: "good, delegated responder", template: ocsp.Response{Status: ocsp.Good}, responder: delegate, signer: delegateKey, wantStatus: ocsp.Good},
		{name: "responder without OCSP signing", template: ocsp.Response{Status: ocsp.Good}, responder: impostor, signer: impostorKey, want: ErrBadResponse},
		{name: "signed by another CA", template: ocsp.Response{Status: ocsp.Good}, signer: otherCA.key, want: ErrBadResponse},
		{name: "stale", template: ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-3 * time.Hour), NextUpdate: now.Add(-2 * time.Hour)}, signer: ca.key, want: ErrBadResponse},
		{name: "server error", status: http.StatusInternalServerError, want: ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status != 0 {
					w.WriteHeader(tt.status)
					return
				}
				if r.Method != http.MethodPost || r.URL.Path != api.PathOCSP || r.Header.Get("Content-Type") != ContentTypeOCSPRequest {
					http.Error(w, "bad request", http.StatusBadRequest)
					return
				}
				body, _ := io.ReadAll(r.Body)
				req, err := ocsp.ParseRequest(body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				tmpl := tt.template
				tmpl.SerialNumber = req.SerialNumber
				if tmpl.ThisUpdate.IsZero() {
					tmpl.ThisUpdate, tmpl.NextUpdate = now, now.Add(time.Hour)
				}
				tmpl.Certificate = tt.responder
				responder := ca.cert
				if tt.responder != nil {
					responder = tt.responder
				}
				der, err := ocsp.CreateResponse(ca.cert, responder, tmpl, tt.signer)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", ContentTypeOCSPResponse)
				w.Write(der)
			}))
			t.Cleanup(srv.Close)
			resp, err := OCSP(t.Context(), srv.URL, leaf, ca.cert)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if tt.responder == impostor && !strings.Contains(err.Error(), "OCSP signing") {
					t.Errorf("err = %v, want the missing OCSP-signing usage named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus || resp.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
				t.Errorf("status %d for serial %v, want %d for %v", resp.Status, resp.SerialNumber, tt.wantStatus, leaf.SerialNumber)
			}
			if tt.wantStatus == ocsp.Revoked && resp.RevocationReason != tt.wantReason {
				t.Errorf("reason %d, want %d", resp.RevocationReason, tt.wantReason)
			}
		})
	}
	t.Run("nil certificate", func(t *testing.T) {
		if _, err := OCSP(t.Context(), "http://127.0.0.1:1", nil, ca.cert); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("err = %v, want ErrInvalidRequest", err)
		}
	})
}

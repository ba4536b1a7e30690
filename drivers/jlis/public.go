package jlis

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"madoguchi/drivers/jlis/api"
)

// Content types of the public repository.
const (
	ContentTypeCRL          = "application/pkix-crl"
	ContentTypeOCSPRequest  = "application/ocsp-request"
	ContentTypeOCSPResponse = "application/ocsp-response"
)

// clockSkew is how far an OCSP answer's thisUpdate may lie in the future.
const clockSkew = 5 * time.Minute

// Repository reads the central system's public repository: CRLs and OCSP
// over plain HTTP, no client certificate (relying parties are not
// terminals). The answers are signed, so the channel needs no protection;
// OCSP checks the signature, FetchCRL leaves it to the caller.
type Repository struct {
	// BaseURL is the repository's base, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// HTTP sends the requests; nil uses http.DefaultTransport with
	// DefaultTimeout.
	HTTP *http.Client
	// Log receives one record per attempt; nil discards.
	Log *slog.Logger
}

// FetchCRL downloads the CRL of one CA (api.CAAuth, api.CASign,
// api.CAPhone, api.CATerminal) from the public repository and parses it.
// It does not check the CRL's signature: call
// (*x509.RevocationList).CheckSignatureFrom with the CA's certificate.
func FetchCRL(ctx context.Context, publicBaseURL, ca string) (*x509.RevocationList, error) {
	return Repository{BaseURL: publicBaseURL}.CRL(ctx, ca)
}

// OCSP asks the public repository's OCSP responder (RFC 6960, POST) for
// cert's status and returns the answer once its signature verifies
// against issuer (directly, or through a delegated responder certificate
// issued by issuer for OCSP signing) and it is current. Revoked and
// suspended certificates are a successful answer with Status
// ocsp.Revoked (RevocationReason ocsp.CertificateHold for a suspension).
func OCSP(ctx context.Context, publicBaseURL string, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	return Repository{BaseURL: publicBaseURL}.OCSP(ctx, cert, issuer)
}

// client returns the repository's client: r.HTTP, or a light one with the
// default transport (shared connections) and DefaultTimeout.
func (r Repository) client() *Client {
	hc := r.HTTP
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport, Timeout: DefaultTimeout}
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{http: hc, log: log, backoff: defaultBackoff}
}

// CRL is FetchCRL on r.
func (r Repository) CRL(ctx context.Context, ca string) (*x509.RevocationList, error) {
	const op = "fetch CRL"
	base, err := parseBase(r.BaseURL, "")
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w", op, err)
	}
	if ca == "" || strings.ContainsAny(ca, "/.") {
		return nil, fmt.Errorf("jlis: %s: %w: CA name %q", op, ErrInvalidRequest, ca)
	}
	p, err := fillPath(api.PathCRL, "ca", ca)
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w", op, err)
	}
	a, err := r.client().exchange(ctx, exchange{
		op: op, method: http.MethodGet, template: api.PathCRL, url: base + p, retry: true,
		header: func(h http.Header) { h.Set("Accept", ContentTypeCRL+", "+api.ContentTypeProblem) },
	})
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(a.body)
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w: %w", op, ErrBadResponse, err)
	}
	return crl, nil
}

// OCSP is the package's OCSP on r.
func (r Repository) OCSP(ctx context.Context, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	const op = "OCSP"
	if cert == nil || issuer == nil {
		return nil, fmt.Errorf("jlis: %s: %w: certificate and issuer are required", op, ErrInvalidRequest)
	}
	base, err := parseBase(r.BaseURL, "")
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w", op, err)
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w: %w", op, ErrInvalidRequest, err)
	}
	a, err := r.client().exchange(ctx, exchange{
		// An OCSP query changes nothing: it may be sent again.
		op: op, method: http.MethodPost, template: api.PathOCSP, url: base + api.PathOCSP, body: req, retry: true,
		header: func(h http.Header) {
			h.Set("Content-Type", ContentTypeOCSPRequest)
			h.Set("Accept", ContentTypeOCSPResponse)
		},
	})
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(a.body, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("jlis: %s: %w: %w", op, ErrBadResponse, err)
	}
	if err := checkOCSP(resp, time.Now()); err != nil {
		return nil, fmt.Errorf("jlis: %s: %w: %w", op, ErrBadResponse, err)
	}
	return resp, nil
}

// checkOCSP checks what ocsp.ParseResponseForCert does not: that a
// delegated responder certificate is for OCSP signing and valid now
// (RFC 6960 §4.2.2.2; otherwise any certificate the CA issued, a card's
// included, could vouch for itself), and that the answer is current.
func checkOCSP(resp *ocsp.Response, now time.Time) error {
	if rc := resp.Certificate; rc != nil {
		if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return errors.New("responder certificate not authorised for OCSP signing")
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return errors.New("responder certificate outside its validity")
		}
	}
	if resp.ThisUpdate.After(now.Add(clockSkew)) {
		return fmt.Errorf("answer from the future (thisUpdate %s)", resp.ThisUpdate.Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate.Add(clockSkew)) {
		return fmt.Errorf("stale answer (nextUpdate %s)", resp.NextUpdate.Format(time.RFC3339))
	}
	return nil
}

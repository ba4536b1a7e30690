package jlis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"madoguchi/drivers/jlis/api"
)

// Errors of the client. Callers test them with errors.Is; a *ProblemError
// (errors.As) carries the server's problem detail.
//
// What a terminal does with them: ErrUnreachable — keep the request (and
// its idempotency key) and send it again later; ErrConflict, ErrNotFound,
// ErrUnauthorised and any other ErrRejected — do not send it again
// unchanged, show the clerk why.
var (
	// ErrUnreachable: no answer from the central system — dial, TLS
	// (including a server certificate that does not chain to the
	// configured root), timeout and connection errors, and any 5xx answer
	// left after the retries. A caller's own deadline also matches it;
	// a cancellation does not (it matches context.Canceled only).
	ErrUnreachable = errors.New("jlis: central system unreachable")
	// ErrRejected: the central system answered 4xx: the request, as it
	// is, will not succeed.
	ErrRejected = errors.New("jlis: request rejected")
	// ErrConflict: 409 (the card's or certificate's state does not allow
	// it, a challenge already answered, an active phone) or 422
	// idempotency-key-reused (this key was used with another body).
	// Also ErrRejected.
	ErrConflict = errors.New("jlis: conflict")
	// ErrNotFound: 404, no such card, certificate or phone. Also
	// ErrRejected.
	ErrNotFound = errors.New("jlis: not found")
	// ErrUnauthorised: 401 or 403 (terminal unknown, revoked or not
	// allowed), or the server refused our client certificate during the
	// TLS handshake.
	ErrUnauthorised = errors.New("jlis: terminal not authorised")
	// ErrNoIdempotencyKey: a state-changing call without a usable
	// Idempotency-Key (empty, longer than api.MaxIdempotencyKey, or with
	// characters a header cannot carry). Nothing was sent.
	ErrNoIdempotencyKey = errors.New("jlis: state-changing request without an idempotency key")
	// ErrInvalidRequest: the client refused the arguments before sending
	// (an empty serial, too many events). Nothing was sent.
	ErrInvalidRequest = errors.New("jlis: invalid request")
	// ErrBadResponse: a 2xx answer this client cannot read (not the
	// expected JSON, CRL or OCSP response).
	ErrBadResponse = errors.New("jlis: unreadable response")
)

// ProblemError is a non-2xx answer. Problem is the server's
// application/problem+json body, or one made up from the status when the
// body was something else.
type ProblemError struct {
	Op      string // the client operation, e.g. "issue certificate"
	Status  int
	Problem api.Problem
	// RetryAfter is the server's Retry-After (429, 503), zero when absent.
	RetryAfter time.Duration
}

func (e *ProblemError) Error() string {
	msg := e.Problem.Detail
	if msg == "" {
		msg = e.Problem.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	code := e.Problem.Code
	if code == "" {
		code = "no code"
	}
	return fmt.Sprintf("jlis: %s: %d %s: %s", e.Op, e.Status, code, msg)
}

// Is maps the status (and code) onto the sentinel errors: any 4xx is
// ErrRejected; 409 and 422 idempotency-key-reused ErrConflict; 404
// ErrNotFound; 401 and 403 ErrUnauthorised; any 5xx ErrUnreachable.
func (e *ProblemError) Is(target error) bool {
	switch target {
	case ErrRejected:
		return e.Status >= 400 && e.Status < 500
	case ErrConflict:
		return e.Status == http.StatusConflict ||
			(e.Status == http.StatusUnprocessableEntity && e.Problem.Code == api.CodeIdempotencyReused)
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorised:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrUnreachable:
		return e.Status >= 500
	}
	return false
}

// Code returns the problem code of err (api.Code*), or "" when err is not
// a *ProblemError.
func Code(err error) string {
	var pe *ProblemError
	if errors.As(err, &pe) {
		return pe.Problem.Code
	}
	return ""
}

// codeForStatus is the problem code a status implies when the server sent
// no problem body (a proxy's answer, say).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeBadRequest
	case http.StatusUnauthorized:
		return api.CodeUnauthorised
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusPreconditionRequired:
		return api.CodeIdempotencyRequired
	case http.StatusTooManyRequests:
		return api.CodeRateLimited
	case http.StatusInternalServerError:
		return api.CodeInternal
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return ""
}

// transportKind sorts an error from http.Client.Do (or from reading a
// body).
type transportKind int

const (
	transientFailure   transportKind = iota // retry when the request may be retried
	serverNotTrusted                        // the server's certificate does not verify: never retry
	clientRefused                           // the server refused our certificate: never retry
	permanentTransport                      // anything else a retry cannot fix
)

// classifyTransport tells how to treat a transport error.
func classifyTransport(err error) transportKind {
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cierr x509.CertificateInvalidError
		rerr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uaerr), errors.As(err, &herr), errors.As(err, &cierr):
		return serverNotTrusted
	case errors.As(err, &rerr):
		// Not TLS at all (plain HTTP on the port): a retry will not help.
		return permanentTransport
	case refusedOurCertificate(err):
		return clientRefused
	}
	return transientFailure
}

// refusedOurCertificate reports whether err is a TLS alert from the server
// about our certificate (bad, unknown CA, revoked, expired, required,
// access denied). crypto/tls reports a received alert as a *net.OpError
// with Op "remote error" and an unexported alert type, so the alert is
// recognised by its text.
func refusedOurCertificate(err error) bool {
	var oe *net.OpError
	for e := err; errors.As(e, &oe); e = oe.Err {
		if oe.Op == "remote error" && oe.Err != nil {
			msg := oe.Err.Error()
			return strings.Contains(msg, "certificate") || strings.Contains(msg, "access denied")
		}
		if oe.Err == nil {
			break
		}
	}
	return false
}

// Package jlis is the client of Madoguchi's J-LIS-style central API
// (drivers/jlis/api; docs/JLIS-API.md, docs/jlis-api.yaml).
//
// The client speaks HTTPS with mutual TLS: the terminal's certificate
// identifies it, and only the central system's own root CA is trusted for
// the server. Every call takes a context; every state-changing call takes
// an IdempotencyKey, which the client refuses to go without.
//
// Retries: GET requests and keyed state-changing requests are sent again
// after a connection error or a 502/503/504 answer, at most three attempts
// in all, with exponential backoff and jitter, never past the context's
// end. A 4xx is never retried. Because the server replays the first
// answer for a key it has seen, a retry after a lost answer returns what
// the first attempt did; WithResponseInfo tells the caller that it was a
// replay (the Idempotency-Replayed header). (net/http itself also resends
// a keyed or GET request once when a kept-alive connection turns out to
// be closed before any answer; the key makes that safe too.)
//
// HTTP/1.1 only: a connection lost mid-call then fails that call alone.
//
// Logging: method, path template (never the filled-in path), status,
// problem code, attempt and duration. Bodies are never logged: they can
// carry personal data.
//
// FetchCRL and OCSP read the public repository (plain HTTP, no client
// certificate).
package jlis

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"madoguchi/drivers/jlis/api"
)

// Defaults and limits of the client.
const (
	// DefaultTimeout bounds one attempt (connect, TLS, request, answer)
	// when Config.Timeout is zero.
	DefaultTimeout = 15 * time.Second
	// MaxAttempts is how many times one call may be sent, retries
	// included.
	MaxAttempts = 3
	// maxBody bounds what the client reads of an answer.
	maxBody = 16 << 20
	// defaultBackoff is the first retry's mean wait; it doubles per retry.
	defaultBackoff = 200 * time.Millisecond
	// maxBackoff caps one wait, a server's Retry-After included.
	maxBackoff = 3 * time.Second
	userAgent  = "madoguchi-jlis/1"
)

// Config configures New.
type Config struct {
	// BaseURL is the API's https base, e.g. "https://jlis.example:8443"
	// (no /v1: the paths carry it).
	BaseURL string
	// CertFile and KeyFile are the terminal's client certificate and key
	// (PEM), issued by the central system's terminal CA.
	CertFile, KeyFile string
	// CAFile is the central system's root CA (PEM). It is the only trust
	// anchor for the server: the system roots are not used.
	CAFile string
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Log receives one record per attempt; nil discards.
	Log *slog.Logger
	// Backoff is the first retry's mean wait, doubling per retry; zero
	// means 200 ms. Tests that take the central system down shorten it.
	Backoff time.Duration
}

// Client calls the central API. It is safe for concurrent use.
type Client struct {
	base    string // scheme://host[:port][/prefix], no trailing slash
	http    *http.Client
	log     *slog.Logger
	backoff time.Duration // first retry's mean wait; tests shorten it

	clockMu sync.Mutex
	skew    time.Duration // the central system's clock minus ours
	skewAt  time.Time     // when skew was measured; zero: not yet
}

// ClockSkew is how far the central system's clock (its answers' Date
// header) is ahead of this PC's, as measured at the last answer (at);
// ok is false before the first answer. The Date header has one-second
// resolution: differences under about two seconds are noise.
func (c *Client) ClockSkew() (skew time.Duration, at time.Time, ok bool) {
	c.clockMu.Lock()
	defer c.clockMu.Unlock()
	return c.skew, c.skewAt, !c.skewAt.IsZero()
}

// noteClock records the skew from an answer's Date header, taking the
// middle of the exchange as the moment the server wrote it.
func (c *Client) noteClock(date string, start, end time.Time) {
	server, err := http.ParseTime(date)
	if err != nil {
		return
	}
	mid := start.Add(end.Sub(start) / 2)
	c.clockMu.Lock()
	c.skew, c.skewAt = server.Sub(mid).Round(time.Second), end
	c.clockMu.Unlock()
}

// New loads the terminal's certificate and the central system's root and
// returns a client speaking TLS 1.2 or later with mutual authentication.
func New(cfg Config) (*Client, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("jlis: config: the terminal's certificate and key files are required")
	}
	if cfg.CAFile == "" {
		return nil, errors.New("jlis: config: the central system's CA file is required")
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("jlis: config: terminal certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("jlis: config: CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("jlis: config: CA file %s holds no PEM certificate", cfg.CAFile)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      roots,
		Certificates: []tls.Certificate{cert},
	}
	c, err := NewWithTLS(cfg.BaseURL, tc, cfg.Timeout, cfg.Log)
	if err == nil && cfg.Backoff > 0 {
		c.backoff = cfg.Backoff
	}
	return c, err
}

// NewWithTLS returns a client using tc as it is (tests, or a certificate
// held elsewhere than in files). A zero timeout means DefaultTimeout; a
// nil log discards. The base URL must be https.
func NewWithTLS(baseURL string, tc *tls.Config, timeout time.Duration, log *slog.Logger) (*Client, error) {
	base, err := parseBase(baseURL, "https")
	if err != nil {
		return nil, err
	}
	if tc == nil {
		return nil, errors.New("jlis: config: a TLS configuration is required")
	}
	tc = tc.Clone()
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// HTTP/1.1 with keep-alive: a terminal makes few calls at a time, and
	// a connection lost mid-call then affects that call only (with
	// HTTP/2 it would fail every call multiplexed on it).
	tc.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &Client{
		base: base,
		http: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// The API never redirects; a redirect is an answer to report,
			// not to follow with the terminal's certificate.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log:     log,
		backoff: defaultBackoff,
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

// parseBase checks a base URL and returns it without a trailing slash.
func parseBase(raw, wantScheme string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("jlis: base URL: %w", err)
	}
	if wantScheme != "" && u.Scheme != wantScheme {
		return "", fmt.Errorf("jlis: base URL %q: scheme must be %s", raw, wantScheme)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("jlis: base URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("jlis: base URL %q: want scheme://host[:port][/prefix]", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// ResponseInfo describes how a call went; see WithResponseInfo.
type ResponseInfo struct {
	// Status is the HTTP status of the last answer (0: none came).
	Status int
	// Replayed is true when the server answered from its idempotency
	// record (Idempotency-Replayed: true): the operation had already been
	// done with this key, by an earlier call or by an attempt whose
	// answer was lost.
	Replayed bool
	// Attempts counts the requests sent, retries included.
	Attempts int
}

type infoKey struct{}

// WithResponseInfo returns a context that makes a client call fill in
// *info when it returns. Use one info per call:
//
//	var info jlis.ResponseInfo
//	cert, err := c.IssueCertificate(jlis.WithResponseInfo(ctx, &info), key, serial, req)
//	if err == nil && info.Replayed { ... }
func WithResponseInfo(ctx context.Context, info *ResponseInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// call is one API operation.
type call struct {
	op       string // for errors, e.g. "issue certificate"
	method   string
	template string // api.Path*, for logs
	path     string // template filled in and escaped
	key      IdempotencyKey
	body     any // JSON; nil: none
	out      any // decoded from a 2xx JSON answer; nil: ignored
}

// path fills {name} placeholders of an api.Path* template with escaped
// values; an empty value is ErrInvalidRequest (it would address another
// resource).
func fillPath(template string, pairs ...string) (string, error) {
	p := template
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return "", fmt.Errorf("%w: empty %s", ErrInvalidRequest, pairs[i])
		}
		p = strings.ReplaceAll(p, "{"+pairs[i]+"}", url.PathEscape(pairs[i+1]))
	}
	return p, nil
}

// do sends a call to the API, retrying where allowed, and decodes the
// answer. Errors carry the operation's name.
func (c *Client) do(ctx context.Context, cl call) error {
	if cl.method != http.MethodGet {
		if err := cl.key.check(); err != nil {
			return fmt.Errorf("jlis: %s: %w", cl.op, err)
		}
	}
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("jlis: %s: encode request: %w", cl.op, err)
		}
	}
	ex := exchange{
		op:       cl.op,
		method:   cl.method,
		template: cl.template,
		url:      c.base + cl.path,
		body:     body,
		retry:    cl.method == http.MethodGet || cl.key != "",
		header: func(h http.Header) {
			h.Set("Accept", api.ContentTypeJSON+", "+api.ContentTypeProblem)
			if body != nil {
				h.Set("Content-Type", api.ContentTypeJSON)
			}
			if cl.key != "" {
				h.Set(api.HeaderIdempotency, string(cl.key))
			}
		},
	}
	resp, err := c.exchange(ctx, ex)
	if err != nil {
		return err
	}
	if cl.out != nil && len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, cl.out); err != nil {
			return fmt.Errorf("jlis: %s: %w: %w", cl.op, ErrBadResponse, err)
		}
	}
	return nil
}

// exchange is one logical request, sent up to MaxAttempts times.
type exchange struct {
	op, method, template, url string
	body                      []byte
	retry                     bool // may be sent again (GET, keyed, or safe)
	header                    func(http.Header)
}

// answer is a 2xx response, read.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	replayed bool
}

// exchange sends ex and returns its 2xx answer, or an error: a
// *ProblemError for any other status, a transport error wrapped in
// ErrUnreachable or ErrUnauthorised, or the context's error.
func (c *Client) exchange(ctx context.Context, ex exchange) (answer, error) {
	info, _ := ctx.Value(infoKey{}).(*ResponseInfo)
	if info != nil {
		*info = ResponseInfo{}
	}
	for attempt := 1; ; attempt++ {
		if info != nil {
			info.Attempts = attempt
		}
		a, retryAfter, err := c.attempt(ctx, ex, attempt)
		if info != nil && a.status != 0 {
			info.Status, info.Replayed = a.status, a.replayed
		}
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return answer{}, ctxError(ex.op, ctx)
		}
		if !ex.retry || attempt >= MaxAttempts || !retryable(err) {
			return answer{}, err
		}
		wait := c.backoffFor(attempt, retryAfter)
		c.log.LogAttrs(ctx, slog.LevelWarn, "jlis: retrying",
			slog.String("method", ex.method), slog.String("path", ex.template),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", errSummary(err)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return answer{}, ctxError(ex.op, ctx)
		case <-t.C:
		}
	}
}

// attempt sends ex once. It returns the answer read so far (its status
// even on error), the Retry-After of a 429/503, and the error.
func (c *Client) attempt(ctx context.Context, ex exchange, n int) (answer, time.Duration, error) {
	start := time.Now()
	var rd io.Reader
	if ex.body != nil {
		rd = bytes.NewReader(ex.body)
	}
	req, err := http.NewRequestWithContext(ctx, ex.method, ex.url, rd)
	if err != nil {
		return answer{}, 0, fmt.Errorf("jlis: %s: %w: %w", ex.op, ErrInvalidRequest, err)
	}
	req.Header.Set("User-Agent", userAgent)
	ex.header(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		c.logAttempt(ctx, ex, n, 0, "", time.Since(start), err)
		return answer{}, 0, transportError(ex.op, err)
	}
	c.noteClock(resp.Header.Get("Date"), start, time.Now())
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	a := answer{
		status:   resp.StatusCode,
		header:   resp.Header,
		body:     data,
		replayed: strings.EqualFold(resp.Header.Get(api.HeaderReplayed), "true"),
	}
	if err != nil {
		c.logAttempt(ctx, ex, n, resp.StatusCode, "", time.Since(start), err)
		return a, 0, transportError(ex.op, fmt.Errorf("read answer: %w", err))
	}
	if len(data) > maxBody {
		c.logAttempt(ctx, ex, n, resp.StatusCode, "", time.Since(start), ErrBadResponse)
		return a, 0, fmt.Errorf("jlis: %s: %w: answer larger than %d bytes", ex.op, ErrBadResponse, maxBody)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		c.logAttempt(ctx, ex, n, resp.StatusCode, "", time.Since(start), nil, slog.Bool("replayed", a.replayed))
		return a, 0, nil
	}
	pe := problemFrom(ex.op, resp, data)
	c.logAttempt(ctx, ex, n, resp.StatusCode, pe.Problem.Code, time.Since(start), nil)
	return a, pe.RetryAfter, pe
}

// logAttempt writes one record per attempt: never a body, never the
// filled-in path.
func (c *Client) logAttempt(ctx context.Context, ex exchange, n, status int, code string, d time.Duration, err error, extra ...slog.Attr) {
	level := slog.LevelDebug
	attrs := append([]slog.Attr{
		slog.String("method", ex.method),
		slog.String("path", ex.template),
		slog.Int("status", status),
		slog.Int("attempt", n),
		slog.Duration("duration", d),
	}, extra...)
	if code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", errSummary(err)))
	}
	if err != nil || status >= 400 {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "jlis: request", attrs...)
}

// errSummary is an error's text for a log record. Transport errors hold
// the URL, which holds a serial: drop it.
func errSummary(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// problemFrom turns a non-2xx answer into a *ProblemError, making up the
// problem from the status when the body is not a problem document.
func problemFrom(op string, resp *http.Response, data []byte) *ProblemError {
	pe := &ProblemError{Op: op, Status: resp.StatusCode}
	if err := json.Unmarshal(data, &pe.Problem); err != nil || pe.Problem.Code == "" && pe.Problem.Title == "" {
		code := codeForStatus(resp.StatusCode)
		pe.Problem = api.Problem{Title: http.StatusText(resp.StatusCode), Status: resp.StatusCode, Code: code}
		if code != "" {
			pe.Problem.Type = api.ProblemType(code)
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			pe.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			pe.RetryAfter = max(time.Until(t), 0)
		}
	}
	return pe
}

// transportError wraps an error from sending or reading a request.
func transportError(op string, err error) error {
	if classifyTransport(err) == clientRefused {
		return fmt.Errorf("jlis: %s: %w: server refused the terminal certificate: %w", op, ErrUnauthorised, err)
	}
	return fmt.Errorf("jlis: %s: %w: %w", op, ErrUnreachable, err)
}

// ctxError is the error of a call its context ended: a deadline is also
// ErrUnreachable (the central system did not answer in time), a
// cancellation is the caller's own doing.
func ctxError(op string, ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("jlis: %s: %w: %w", op, ErrUnreachable, ctx.Err())
	}
	return fmt.Errorf("jlis: %s: %w", op, ctx.Err())
}

// retryable reports whether an attempt's error may be cured by sending
// again: connection trouble and 502/503/504, never a 4xx, an untrusted
// server or a refused client certificate.
func retryable(err error) bool {
	var pe *ProblemError
	if errors.As(err, &pe) {
		switch pe.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, ErrBadResponse) || errors.Is(err, ErrInvalidRequest) {
		return false
	}
	return errors.Is(err, ErrUnreachable) && classifyTransport(err) == transientFailure
}

// backoffFor is the wait before attempt n+1: the server's Retry-After when
// it gave one, else c.backoff·2^(n-1), with ±50% jitter, capped.
func (c *Client) backoffFor(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxBackoff)
	}
	d := c.backoff << (n - 1)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	// Jitter in [d/2, 3d/2): spreads the retries of terminals that lost
	// the server at the same moment.
	return min(d/2+rand.N(d), maxBackoff)
}

package jlis

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jlistest"
)

// recorder is a test server's view of what arrived.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	method, path, rawPath, key, contentType, terminal string
	body                                              []byte
}

func (r *recorder) add(req *http.Request) seen {
	body, _ := io.ReadAll(req.Body)
	s := seen{
		method: req.Method, path: req.URL.Path, rawPath: req.URL.EscapedPath(),
		key: req.Header.Get(api.HeaderIdempotency), contentType: req.Header.Get("Content-Type"), body: body,
	}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		s.terminal = req.TLS.PeerCertificates[0].Subject.CommonName
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, s)
	r.mu.Unlock()
	return s
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

// newClient makes a client for srvURL from the PKI's files, with short
// backoff so retry tests run fast.
func newClient(t *testing.T, p *jlistest.PKI, srvURL string, log *slog.Logger) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: srvURL, CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile, Timeout: 5 * time.Second, Log: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoff = time.Millisecond
	t.Cleanup(c.Close)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", api.ContentTypeJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", api.ContentTypeProblem)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemType(code), Title: http.StatusText(status), Status: status, Code: code, Detail: "test detail"})
}

// operation is one client method as the tests drive it.
type operation struct {
	name     string
	method   string
	path     string // as the server must see it (unescaped)
	rawPath  string // escaped, when it differs
	stateful bool
	call     func(ctx context.Context, c *Client, key IdempotencyKey) error
}

func operations() []operation {
	const serial = "AB12/34 5"
	return []operation{
		{"health", "GET", "/v1/health", "", false, func(ctx context.Context, c *Client, _ IdempotencyKey) error {
			_, err := c.Health(ctx)
			return err
		}},
		{"register card", "POST", "/v1/cards", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.RegisterCard(ctx, k, api.NewCard{Serial: serial, Profile: "current"})
			return err
		}},
		{"card", "GET", "/v1/cards/" + serial, "/v1/cards/AB12%2F34%205", false, func(ctx context.Context, c *Client, _ IdempotencyKey) error {
			_, err := c.Card(ctx, serial)
			return err
		}},
		{"transition", "POST", "/v1/cards/" + serial + "/transitions", "/v1/cards/AB12%2F34%205/transitions", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.Transition(ctx, k, serial, api.Transition{To: api.StateDelivered})
			return err
		}},
		{"issue certificate", "POST", "/v1/cards/C1/certificates", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.IssueCertificate(ctx, k, "C1", api.CertRequest{Purpose: "auth", PublicKey: []byte{1}, Proof: []byte{2}})
			return err
		}},
		{"certificate status", "GET", "/v1/certificates/A1B", "", false, func(ctx context.Context, c *Client, _ IdempotencyKey) error {
			_, err := c.CertificateStatus(ctx, "0a1b")
			return err
		}},
		{"revoke", "POST", "/v1/certificates/A1B/revocation", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.Revoke(ctx, k, "0a1b", api.Revocation{Reason: "keyCompromise"})
			return err
		}},
		{"suspend", "POST", "/v1/certificates/A1B/suspension", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.Suspend(ctx, k, "0a1b")
			return err
		}},
		{"lift", "DELETE", "/v1/certificates/A1B/suspension", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.Lift(ctx, k, "0a1b")
			return err
		}},
		{"authorise", "POST", "/v1/cards/C1/authorisations", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.Authorise(ctx, k, "C1", api.AuthoriseRequest{Operation: api.OpSetPIN, Ref: 0x18, Challenge: make([]byte, 8)})
			return err
		}},
		{"issue phone", "POST", "/v1/phones", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.IssuePhone(ctx, k, api.PhoneRequest{CardSerial: "C1", DeviceID: "d"})
			return err
		}},
		{"phone", "GET", "/v1/phones/p-1", "", false, func(ctx context.Context, c *Client, _ IdempotencyKey) error {
			_, err := c.Phone(ctx, "p-1")
			return err
		}},
		{"revoke phone", "DELETE", "/v1/phones/p-1", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.RevokePhone(ctx, k, "p-1")
			return err
		}},
		{"phone challenge", "POST", "/v1/phone-challenges", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.ChallengePhone(ctx, k)
			return err
		}},
		{"suspend phone", "POST", "/v1/phones/p-1/suspension", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.SuspendPhone(ctx, k, "p-1")
			return err
		}},
		{"lift phone", "DELETE", "/v1/phones/p-1/suspension", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.LiftPhone(ctx, k, "p-1")
			return err
		}},
		{"issue mdoc", "POST", "/v1/phones/p-1/mdoc", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.IssueMdoc(ctx, k, "p-1", api.MdocRequest{DeviceKey: []byte{1}})
			return err
		}},
		{"create offer", "POST", "/v1/phones/p-1/offers", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.CreateOffer(ctx, k, "p-1", api.OfferRequest{})
			return err
		}},
		{"send events", "POST", "/v1/events", "", true, func(ctx context.Context, c *Client, k IdempotencyKey) error {
			_, err := c.SendEvents(ctx, k, api.Events{Events: []api.Event{{ID: "e1", Type: "t"}}})
			return err
		}},
	}
}

func TestRequestsCarryKeyMethodAndPath(t *testing.T) {
	p := jlistest.NewPKI(t)
	var rec recorder
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	c := newClient(t, p, srv.URL, nil)
	for _, op := range operations() {
		t.Run(op.name, func(t *testing.T) {
			before := len(rec.all())
			key := NewIdempotencyKey()
			if err := op.call(t.Context(), c, key); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.all()[before:]
			if len(got) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(got))
			}
			s := got[0]
			if s.method != op.method || s.path != op.path {
				t.Errorf("request %s %s, want %s %s", s.method, s.path, op.method, op.path)
			}
			if op.rawPath != "" && s.rawPath != op.rawPath {
				t.Errorf("escaped path %s, want %s", s.rawPath, op.rawPath)
			}
			if s.terminal != "terminal-test" {
				t.Errorf("server saw terminal %q, want the client certificate's CN", s.terminal)
			}
			switch {
			case op.stateful && s.key != string(key):
				t.Errorf("Idempotency-Key %q, want %q", s.key, key)
			case !op.stateful && s.key != "":
				t.Errorf("GET carried Idempotency-Key %q", s.key)
			}
			if len(s.body) > 0 {
				if s.contentType != api.ContentTypeJSON {
					t.Errorf("Content-Type %q with a body", s.contentType)
				}
				if !json.Valid(s.body) {
					t.Errorf("body is not JSON: %q", s.body)
				}
			}
		})
	}
}

func TestStateChangingCallsRefuseMissingKey(t *testing.T) {
	p := jlistest.NewPKI(t)
	var rec recorder
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	c := newClient(t, p, srv.URL, nil)
	badKeys := []struct {
		name string
		key  IdempotencyKey
	}{
		{"empty", ""},
		{"too long", IdempotencyKey(strings.Repeat("k", api.MaxIdempotencyKey+1))},
		{"space", "a b"},
		{"newline", "a\nb"},
		{"non-ASCII", "鍵"},
	}
	for _, op := range operations() {
		if !op.stateful {
			continue
		}
		for _, bk := range badKeys {
			t.Run(op.name+"/"+bk.name, func(t *testing.T) {
				err := op.call(t.Context(), c, bk.key)
				if !errors.Is(err, ErrNoIdempotencyKey) {
					t.Fatalf("err = %v, want ErrNoIdempotencyKey", err)
				}
			})
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestNewIdempotencyKey(t *testing.T) {
	seen := map[IdempotencyKey]bool{}
	for range 1000 {
		k := NewIdempotencyKey()
		if err := k.check(); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		if len(k) < 26 {
			t.Fatalf("key %q shorter than 128 bits of base32", k)
		}
		if seen[k] {
			t.Fatalf("key %q twice", k)
		}
		seen[k] = true
	}
}

func TestInvalidArgumentsRefusedBeforeSending(t *testing.T) {
	p := jlistest.NewPKI(t)
	var rec recorder
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	c := newClient(t, p, srv.URL, nil)
	k := NewIdempotencyKey()
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"card without serial", func(ctx context.Context) error { _, err := c.Card(ctx, ""); return err }},
		{"transition without serial", func(ctx context.Context) error {
			_, err := c.Transition(ctx, k, "", api.Transition{To: api.StateIssued})
			return err
		}},
		{"register without serial", func(ctx context.Context) error { _, err := c.RegisterCard(ctx, k, api.NewCard{}); return err }},
		{"status without serial", func(ctx context.Context) error { _, err := c.CertificateStatus(ctx, ""); return err }},
		{"phone without card", func(ctx context.Context) error { _, err := c.IssuePhone(ctx, k, api.PhoneRequest{}); return err }},
		{"501 events", func(ctx context.Context) error {
			_, err := c.SendEvents(ctx, k, api.Events{Events: make([]api.Event, api.MaxEventsPerRequest+1)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(t.Context()); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

// scripted answers the i-th request with script[i] (the last one
// repeating): a status, or 0 to drop the connection without an answer.
func scripted(rec *recorder, script []int) http.Handler {
	var n atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		i := int(n.Add(1)) - 1
		status := script[min(i, len(script)-1)]
		switch {
		case status == 0:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case status >= 200 && status < 300:
			if i > 0 {
				w.Header().Set(api.HeaderReplayed, "true")
			}
			writeJSON(w, status, api.Card{Serial: "C1", State: api.StateDelivered})
		default:
			writeProblem(w, status, codeForStatus(status))
		}
	})
}

func TestRetries(t *testing.T) {
	get := func(ctx context.Context, c *Client) error { _, err := c.Card(ctx, "C1"); return err }
	key := NewIdempotencyKey()
	post := func(ctx context.Context, c *Client) error {
		_, err := c.Transition(ctx, key, "C1", api.Transition{To: api.StateDelivered})
		return err
	}
	tests := []struct {
		name     string
		call     func(context.Context, *Client) error
		script   []int
		requests int
		want     error // nil: success
		replayed bool
	}{
		{"GET 503 503 200", get, []int{503, 503, 200}, 3, nil, true},
		{"GET 502 then 200", get, []int{502, 200}, 2, nil, true},
		{"GET 504 then 200", get, []int{504, 200}, 2, nil, true},
		{"GET 503 three times", get, []int{503}, MaxAttempts, ErrUnreachable, false},
		{"GET dropped then 200", get, []int{0, 200}, 2, nil, true},
		{"GET 500 is not retried", get, []int{500, 200}, 1, ErrUnreachable, false},
		{"GET 404 is not retried", get, []int{404, 200}, 1, ErrNotFound, false},
		{"keyed POST 503 then 200", post, []int{503, 200}, 2, nil, true},
		{"keyed POST dropped after commit, replayed", post, []int{0, 200}, 2, nil, true},
		{"keyed POST dropped three times", post, []int{0}, MaxAttempts, ErrUnreachable, false},
		{"keyed POST 400 is not retried", post, []int{400, 200}, 1, ErrRejected, false},
		{"keyed POST 409 is not retried", post, []int{409, 200}, 1, ErrConflict, false},
		{"keyed POST 429 is not retried", post, []int{429, 200}, 1, ErrRejected, false},
		{"keyed POST 401 is not retried", post, []int{401, 200}, 1, ErrUnauthorised, false},
	}
	p := jlistest.NewPKI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			srv := jlistest.NewServer(t, p, scripted(&rec, tt.script))
			c := newClient(t, p, srv.URL, nil) // new connections: no transport-level retry
			var info ResponseInfo
			err := tt.call(WithResponseInfo(t.Context(), &info), c)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			got := rec.all()
			if len(got) != tt.requests {
				t.Errorf("server saw %d requests, want %d", len(got), tt.requests)
			}
			if info.Attempts != tt.requests {
				t.Errorf("info.Attempts = %d, want %d", info.Attempts, tt.requests)
			}
			if info.Replayed != tt.replayed {
				t.Errorf("info.Replayed = %v, want %v", info.Replayed, tt.replayed)
			}
			for _, s := range got {
				if s.method == http.MethodPost && s.key != string(key) {
					t.Errorf("retry carried key %q, want the first attempt's %q", s.key, key)
				}
			}
		})
	}
}

func TestProblemMapping(t *testing.T) {
	sentinels := []error{ErrRejected, ErrConflict, ErrNotFound, ErrUnauthorised, ErrUnreachable}
	tests := []struct {
		status int
		code   string
		plain  bool // answer text/plain instead of a problem
		want   []error
	}{
		{400, api.CodeBadRequest, false, []error{ErrRejected}},
		{401, api.CodeUnauthorised, false, []error{ErrRejected, ErrUnauthorised}},
		{403, api.CodeForbidden, false, []error{ErrRejected, ErrUnauthorised}},
		{404, api.CodeNotFound, false, []error{ErrRejected, ErrNotFound}},
		{409, api.CodeInvalidTransition, false, []error{ErrRejected, ErrConflict}},
		{409, api.CodeChallengeReused, false, []error{ErrRejected, ErrConflict}},
		{409, api.CodePhoneActive, false, []error{ErrRejected, ErrConflict}},
		{422, api.CodeIdempotencyReused, false, []error{ErrRejected, ErrConflict}},
		{422, api.CodeProofInvalid, false, []error{ErrRejected}},
		{422, api.CodeAttestation, false, []error{ErrRejected}},
		{428, api.CodeIdempotencyRequired, false, []error{ErrRejected}},
		{429, api.CodeRateLimited, false, []error{ErrRejected}},
		{500, api.CodeInternal, false, []error{ErrUnreachable}},
		{503, api.CodeUnavailable, false, []error{ErrUnreachable}},
		{404, api.CodeNotFound, true, []error{ErrRejected, ErrNotFound}},
		{502, "", true, []error{ErrUnreachable}},
	}
	p := jlistest.NewPKI(t)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s plain=%v", tt.status, tt.code, tt.plain), func(t *testing.T) {
			srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.plain {
					w.Header().Set("Content-Type", "text/plain")
					w.WriteHeader(tt.status)
					io.WriteString(w, "upstream says no")
					return
				}
				w.Header().Set("Retry-After", "1")
				writeProblem(w, tt.status, tt.code)
			}))
			c := newClient(t, p, srv.URL, nil)
			_, err := c.IssueCertificate(t.Context(), NewIdempotencyKey(), "C1", api.CertRequest{Purpose: "auth"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range sentinels {
				want := false
				for _, w := range tt.want {
					want = want || w == s
				}
				if errors.Is(err, s) != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, !want, want)
				}
			}
			var pe *ProblemError
			if !errors.As(err, &pe) {
				t.Fatalf("not a *ProblemError: %v", err)
			}
			if pe.Status != tt.status || pe.Problem.Code != tt.code || Code(err) != tt.code {
				t.Errorf("problem %d %q, want %d %q", pe.Status, pe.Problem.Code, tt.status, tt.code)
			}
			if pe.Op != "issue certificate" || !strings.Contains(err.Error(), "issue certificate") {
				t.Errorf("error %q does not name the operation", err)
			}
			if !tt.plain && pe.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %v, want 1s", pe.RetryAfter)
			}
		})
	}
}

func TestContext(t *testing.T) {
	p := jlistest.NewPKI(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var rec recorder
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Path == api.PathHealth {
			writeProblem(w, 503, api.CodeUnavailable)
			return
		}
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
		// Never answer success: a handler that returns without writing
		// sends 200, which a client racing its own deadline could read.
		writeProblem(w, 503, api.CodeUnavailable)
	}))
	tests := []struct {
		name        string
		ctx         func() (context.Context, context.CancelFunc)
		call        func(context.Context, *Client) error
		backoff     time.Duration
		wantCancel  bool
		unreachable bool
	}{
		{"cancel during request", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, func(ctx context.Context, c *Client) error { _, err := c.Card(ctx, "C1"); return err }, time.Millisecond, true, false},
		{"deadline during request", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 50*time.Millisecond)
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Transition(ctx, NewIdempotencyKey(), "C1", api.Transition{To: api.StateIssued})
			return err
		}, time.Millisecond, false, true},
		{"cancel during backoff", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return err }, time.Hour, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, p, srv.URL, nil)
			c.backoff = tt.backoff
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := tt.call(ctx, c)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("returned after %v: the context was not honoured", d)
			}
			if errors.Is(err, context.Canceled) != tt.wantCancel {
				t.Errorf("err = %v, want context.Canceled: %v", err, tt.wantCancel)
			}
			if errors.Is(err, ErrUnreachable) != tt.unreachable {
				t.Errorf("err = %v, want ErrUnreachable: %v", err, tt.unreachable)
			}
			if tt.unreachable && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	p := jlistest.NewPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newClient(t, p, "https://"+addr, nil)
	var info ResponseInfo
	_, err = c.Health(WithResponseInfo(t.Context(), &info))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if info.Attempts != MaxAttempts || info.Status != 0 {
		t.Errorf("info = %+v, want %d attempts and no status", info, MaxAttempts)
	}
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrUnauthorised) {
		t.Errorf("err = %v also matches a rejection", err)
	}
}

// newTLSServer starts a server with its own TLS configuration and returns
// its URL.
func newTLSServer(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = cfg
	s.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}

// countingTLS wraps a server TLS configuration to count handshakes.
func countingTLS(base *tls.Config, n *atomic.Int32) *tls.Config {
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		n.Add(1)
		return nil, nil
	}
	return cfg
}

func TestTLSTrust(t *testing.T) {
	ours, other := jlistest.NewPKI(t), jlistest.NewPKI(t)
	tests := []struct {
		name      string
		serverTLS *tls.Config
		client    func(t *testing.T, url string) *Client
		want      error
	}{
		{
			name:      "server certificate from another root",
			serverTLS: other.ServerTLS(),
			client:    func(t *testing.T, url string) *Client { return newClient(t, ours, url, nil) },
			want:      ErrUnreachable,
		},
		{
			name:      "server refuses our certificate",
			serverTLS: func() *tls.Config { c := ours.ServerTLS(); c.ClientCAs = other.Roots; return c }(),
			client:    func(t *testing.T, url string) *Client { return newClient(t, ours, url, nil) },
			want:      ErrUnauthorised,
		},
		{
			name:      "no client certificate",
			serverTLS: ours.ServerTLS(),
			client: func(t *testing.T, url string) *Client {
				tc := ours.ClientTLS()
				tc.Certificates = nil
				c, err := NewWithTLS(url, tc, 5*time.Second, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.backoff = time.Millisecond
				return c
			},
			want: ErrUnauthorised,
		},
		{
			name: "server refuses our certificate over TLS 1.2",
			serverTLS: func() *tls.Config {
				c := ours.ServerTLS()
				c.ClientCAs = other.Roots
				c.MaxVersion = tls.VersionTLS12
				return c
			}(),
			client: func(t *testing.T, url string) *Client { return newClient(t, ours, url, nil) },
			want:   ErrUnauthorised,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var handshakes atomic.Int32
			var rec recorder
			url := newTLSServer(t, countingTLS(tt.serverTLS, &handshakes), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.add(r)
				writeJSON(w, 200, api.Health{Status: "ok"})
			}))
			c := tt.client(t, url)
			_, err := c.Health(t.Context())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrUnreachable {
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Errorf("err = %v, want a *tls.CertificateVerificationError inside", err)
				}
			}
			if n := handshakes.Load(); n != 1 {
				t.Errorf("%d handshakes, want 1: a trust failure must not be retried", n)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("handler saw %d requests, want none", n)
			}
		})
	}
}

func TestLogsHoldNoBodies(t *testing.T) {
	p := jlistest.NewPKI(t)
	srv := jlistest.NewServer(t, p, scripted(&recorder{}, []int{503, 200}))
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, p, srv.URL, log)
	const name, serial = "山田太郎", "SERIAL-SECRET-1"
	_, err := c.RegisterCard(t.Context(), NewIdempotencyKey(), api.NewCard{Serial: serial, Holder: api.Holder{Name: name, Address: "東京都千代田区"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Card(t.Context(), serial)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, secret := range []string{name, "東京都", serial} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"path":"/v1/cards"`, `"path":"/v1/cards/{serial}"`, `"status":503`, `"status":200`, `"method":"POST"`, `"duration"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestConfig(t *testing.T) {
	p := jlistest.NewPKI(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"http base", Config{BaseURL: "http://127.0.0.1:1", CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile}},
		{"no host", Config{BaseURL: "https://", CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile}},
		{"no certificate", Config{BaseURL: "https://127.0.0.1:1", CAFile: p.CAFile}},
		{"no CA", Config{BaseURL: "https://127.0.0.1:1", CertFile: p.CertFile, KeyFile: p.KeyFile}},
		{"CA file is a key", Config{BaseURL: "https://127.0.0.1:1", CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.KeyFile}},
		{"missing CA file", Config{BaseURL: "https://127.0.0.1:1", CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.Dir + "/none.pem"}},
		{"key does not match", Config{BaseURL: "https://127.0.0.1:1", CertFile: p.CAFile, KeyFile: p.KeyFile, CAFile: p.CAFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(tt.cfg); err == nil {
				c.Close()
				t.Fatal("New accepted the configuration")
			}
		})
	}
	t.Run("trailing slash", func(t *testing.T) {
		srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != api.PathHealth {
				writeProblem(w, 404, api.CodeNotFound)
				return
			}
			writeJSON(w, 200, api.Health{Status: "ok", Terminal: r.TLS.PeerCertificates[0].Subject.CommonName})
		}))
		c := newClient(t, p, srv.URL+"/", nil)
		h, err := c.Health(t.Context())
		if err != nil || h.Status != "ok" || h.Terminal != "terminal-test" {
			t.Fatalf("Health = %+v, %v", h, err)
		}
	})
}

func TestBadResponse(t *testing.T) {
	p := jlistest.NewPKI(t)
	var rec recorder
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Content-Type", api.ContentTypeJSON)
		io.WriteString(w, "{not json")
	}))
	c := newClient(t, p, srv.URL, nil)
	_, err := c.Card(t.Context(), "C1")
	if !errors.Is(err, ErrBadResponse) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrBadResponse only", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	p := jlistest.NewPKI(t)
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(api.HeaderIdempotency) == "replay" {
			w.Header().Set(api.HeaderReplayed, "true")
		}
		writeJSON(w, 200, api.Card{Serial: "C1"})
	}))
	c := newClient(t, p, srv.URL, nil)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			key := NewIdempotencyKey()
			if i%2 == 0 {
				key = "replay"
			}
			var info ResponseInfo
			if _, err := c.Transition(WithResponseInfo(t.Context(), &info), key, "C1", api.Transition{To: api.StateIssued}); err != nil {
				t.Error(err)
			}
			if info.Replayed != (i%2 == 0) {
				t.Errorf("call %d: Replayed = %v", i, info.Replayed)
			}
		})
	}
	wg.Wait()
}

func TestCanonicalSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0a1b", "A1B"},
		{"DF533A95FC05E76", "DF533A95FC05E76"},
		{"000", "0"},
		{"", ""},
		{"not-hex", "not-hex"},
	}
	for _, tt := range tests {
		if got := CanonicalSerial(tt.in); got != tt.want {
			t.Errorf("CanonicalSerial(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestClockSkew: the client compares the central system's Date header with
// its own clock at every answer.
func TestClockSkew(t *testing.T) {
	p := jlistest.NewPKI(t)
	ahead := 7 * time.Minute
	srv := jlistest.NewServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
		writeJSON(w, http.StatusOK, map[string]any{})
	}))
	c := newClient(t, p, srv.URL, nil)
	if _, _, ok := c.ClockSkew(); ok {
		t.Fatal("a skew before any answer")
	}
	if _, err := c.Card(t.Context(), "X1"); err != nil {
		t.Fatal(err)
	}
	skew, at, ok := c.ClockSkew()
	if !ok || skew < ahead-2*time.Second || skew > ahead+2*time.Second || time.Since(at) > time.Minute {
		t.Fatalf("skew %v at %v (%v), want about %v", skew, at, ok, ahead)
	}
}

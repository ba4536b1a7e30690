// Package sim is the reference server of Madoguchi's J-LIS-style central
// API (drivers/jlis/api, docs/JLIS-API.md): card records and their
// states, a certificate authority per purpose with CRLs and OCSP,
// card-management authorisations under a master key that never leaves
// the server, phone credentials, batched events. It serves the API over
// mutual TLS and the public repository (CRL, OCSP) over plain HTTP, keeps
// its state in SQLite, and can inject faults for tests. It is a
// development and test system: its CAs say DEMO and it holds no real data.
package sim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"madoguchi/app/store"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis/api"
)

// Faults are injected into the API for tests (docs/JLIS-API.md).
type Faults struct {
	LatencyMs int `json:"latencyMs"`
	// ErrorRate answers 503 before doing anything.
	ErrorRate float64 `json:"errorRate"`
	// DropAfterCommitRate closes the connection after the server committed
	// a state change, without answering: the client sees an error for a
	// request that took effect.
	DropAfterCommitRate float64 `json:"dropAfterCommitRate"`
	// DuplicateRate processes a state-changing request twice, as if the
	// network had delivered it twice.
	DuplicateRate float64 `json:"duplicateRate"`
}

func (f Faults) valid() bool {
	ok := func(r float64) bool { return r >= 0 && r <= 1 }
	return f.LatencyMs >= 0 && f.LatencyMs <= 60000 && ok(f.ErrorRate) && ok(f.DropAfterCommitRate) && ok(f.DuplicateRate)
}

// Options configure Start.
type Options struct {
	Dir        string // made by Init
	Addr       string // mutual-TLS API, e.g. 127.0.0.1:8443 (":0" style picks a port)
	PublicAddr string // plain-HTTP repository (CRL, OCSP) and the admin endpoint
	// PublicURL is written into certificates as the base of the CRL and
	// OCSP URLs; default http://PublicAddr.
	PublicURL string
	Faults    Faults
	// RateLimit is requests per second per terminal (burst twice that);
	// 0 means 50.
	RateLimit float64
	// ReservationTTL is how long a kiosk PIN-reset reservation stays open
	// after it is made; 0 means DefaultReservationTTL.
	ReservationTTL time.Duration
	Log            *slog.Logger
}

// DefaultReservationTTL is how long a reservation for a kiosk PIN reset
// stays open by default: 7 days.
const DefaultReservationTTL = 7 * 24 * time.Hour

// Running is a started server.
type Running struct {
	URL       string // https://host:port of the API
	PublicURL string // http://host:port of the repository
	s         *server
	api, pub  *http.Server
}

// Close stops both listeners and closes the database.
func (r *Running) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e1 := r.api.Shutdown(ctx)
	e2 := r.pub.Shutdown(ctx)
	e3 := r.s.db.Close()
	return errors.Join(e1, e2, e3)
}

// SetFaults changes the injected faults at run time.
func (r *Running) SetFaults(f Faults) { r.s.setFaults(f) }

// RevokeTerminal refuses a terminal certificate from now on.
func (r *Running) RevokeTerminal(cert *x509.Certificate) error {
	_, err := r.s.db.DB.Exec(`INSERT INTO revoked_terminals (cert_serial, cn, revoked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		certSerial(cert), cert.Subject.CommonName, ts(time.Now()))
	return err
}

type server struct {
	db     *store.Store
	root   keyPair
	cas    map[string]keyPair
	master []byte
	// cardIssuer signs the cards' input-assist data (card-issuer.json).
	cardIssuer *cardsim.Issuer
	allow      []allowEntry
	// iaca and docSigner sign the mdocs (ISO 18013-5).
	iaca, docSigner keyPair
	log             *slog.Logger
	publicURL       string

	mu     sync.Mutex
	faults Faults

	limits *limiter
	keys   keyLocks
	// writeMu serialises write transactions in the process: SQLite allows
	// one writer, and waiting here is fairer and faster than its busy
	// timeout's sleeps.
	writeMu sync.Mutex
	now     func() time.Time
	// reservationTTL: how long a kiosk PIN-reset reservation stays open.
	reservationTTL time.Duration
}

// Start loads a simulator directory and serves it until Close.
func Start(ctx context.Context, o Options) (*Running, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if !o.Faults.valid() {
		return nil, fmt.Errorf("faults out of range: %+v", o.Faults)
	}
	p := paths(o.Dir)
	s := &server{cas: map[string]keyPair{}, log: o.Log, faults: o.Faults, now: time.Now, reservationTTL: o.ReservationTTL}
	if s.reservationTTL <= 0 {
		s.reservationTTL = DefaultReservationTTL
	}
	var err error
	if s.root, err = readPair(Files{p.RootCA, p.RootKey}); err != nil {
		return nil, fmt.Errorf("central simulator in %s is not initialised (madoguchi jlis-sim init): %w", o.Dir, err)
	}
	for _, n := range caNames {
		if s.cas[n], err = readPair(p.CAs[n]); err != nil {
			return nil, err
		}
	}
	if s.master, err = readMasterKey(p.MasterKey); err != nil {
		return nil, err
	}
	// The card issuer signs new input-assist data (change of details); a
	// directory from before it gets one now.
	if s.cardIssuer, err = cardsim.LoadOrCreateIssuer(p.CardIssuer); err != nil {
		return nil, fmt.Errorf("card issuer: %w", err)
	}
	// The virtual secure-element vendor, the allow-list with vendor roots
	// and the mdoc signer: a directory from before them gets them now.
	if err := ensurePhoneTrust(p); err != nil {
		return nil, err
	}
	if s.allow, err = readAllowList(p.PhoneAllow); err != nil {
		return nil, err
	}
	for _, e := range s.allow {
		if e.roots == nil {
			o.Log.Warn("phone allow-list entry without a vendor root: it approves nothing", "secureElement", e.SecureElement, "app", e.App)
		}
	}
	if s.iaca, s.docSigner, err = ensureMdocSigner(p); err != nil {
		return nil, err
	}
	rate := o.RateLimit
	if rate <= 0 {
		rate = 50
	}
	s.limits = newLimiter(rate, 2*rate)
	if s.db, err = openDB(p.Database); err != nil {
		return nil, err
	}
	serverPair, err := tls.LoadX509KeyPair(p.Server.Cert, p.Server.Key)
	if err != nil {
		s.db.Close()
		return nil, err
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(s.cas[api.CATerminal].Cert)
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	}
	apiLn, err := net.Listen("tcp", o.Addr)
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("listen %s: %w", o.Addr, err)
	}
	pubLn, err := net.Listen("tcp", o.PublicAddr)
	if err != nil {
		apiLn.Close()
		s.db.Close()
		return nil, fmt.Errorf("listen %s: %w", o.PublicAddr, err)
	}
	r := &Running{URL: "https://" + apiLn.Addr().String(), PublicURL: "http://" + pubLn.Addr().String(), s: s}
	s.publicURL = o.PublicURL
	if s.publicURL == "" {
		s.publicURL = r.PublicURL
	}
	r.api = &http.Server{Handler: s.apiHandler(), TLSConfig: tlsConf, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slogErrorLog(o.Log),
		// HTTP/1.1 only: a dropped connection fails one request, and the
		// drop-after-commit fault can hijack it (HTTP/2 cannot).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	r.pub = &http.Server{Handler: s.publicHandler(), ReadHeaderTimeout: 10 * time.Second}
	go r.api.ServeTLS(apiLn, "", "")
	go r.pub.Serve(pubLn)
	o.Log.Info("central simulator", "api", r.URL, "public", r.PublicURL)
	return r, nil
}

func (s *server) setFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

func certSerial(c *x509.Certificate) string { return strings.ToUpper(c.SerialNumber.Text(16)) }

// problem is a handler's refusal.
type problem struct {
	status int
	code   string
	detail string
}

func (p *problem) Error() string { return p.code + ": " + p.detail }

func refuse(status int, code, format string, args ...any) *problem {
	return &problem{status: status, code: code, detail: fmt.Sprintf(format, args...)}
}

var titles = map[string]string{
	api.CodeBadRequest: "Bad request", api.CodeUnauthorised: "Unknown terminal", api.CodeForbidden: "Terminal not allowed",
	api.CodeNotFound: "Not found", api.CodeInvalidTransition: "Card state change not allowed", api.CodeCardState: "Not allowed in the card's state",
	api.CodeConflict: "Already exists", api.CodeCertState: "Not allowed in the certificate's state", api.CodeIdempotencyRequired: "Idempotency-Key required", api.CodeIdempotencyReused: "Idempotency-Key reused with another request",
	api.CodeProofInvalid: "Proof of possession invalid", api.CodeAttestation: "Secure element or app not approved",
	api.CodePhoneActive: "An active phone exists", api.CodeChallengeReused: "Challenge already answered", api.CodeReservationInvalid: "Reservation not valid",
	api.CodeRateLimited: "Too many requests", api.CodeInternal: "Internal error", api.CodeUnavailable: "Unavailable",
}

func problemBody(p *problem) []byte {
	b, _ := json.Marshal(api.Problem{Type: api.ProblemType(p.code), Title: titles[p.code], Status: p.status, Detail: p.detail, Code: p.code})
	return b
}

func writeProblem(w http.ResponseWriter, p *problem) {
	w.Header().Set("Content-Type", api.ContentTypeProblem)
	w.WriteHeader(p.status)
	w.Write(problemBody(p))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", api.ContentTypeJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// terminalOf identifies the caller by its verified client certificate.
func terminalOf(r *http.Request) (cn, serial string, ok bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", "", false
	}
	c := r.TLS.PeerCertificates[0]
	return c.Subject.CommonName, certSerial(c), true
}

type ctxKey struct{}

// guard applies identity, revocation, rate limit and faults.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, serial, ok := terminalOf(r)
		if !ok {
			writeProblem(w, refuse(401, api.CodeUnauthorised, "no client certificate"))
			return
		}
		var revoked int
		if err := s.db.DB.QueryRowContext(r.Context(), `SELECT count(*) FROM revoked_terminals WHERE cert_serial = ?`, serial).Scan(&revoked); err != nil || revoked > 0 {
			s.log.Warn("refused terminal", "terminal", cn, "reason", "revoked")
			writeProblem(w, refuse(403, api.CodeForbidden, "terminal certificate revoked"))
			return
		}
		if !s.limits.allow(cn) {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, refuse(429, api.CodeRateLimited, "slow down"))
			return
		}
		f := s.currentFaults()
		if f.LatencyMs > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMs) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
			writeProblem(w, refuse(503, api.CodeUnavailable, "injected fault"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, cn)))
	})
}

func terminalName(ctx context.Context) string { s, _ := ctx.Value(ctxKey{}).(string); return s }

func (s *server) apiHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Health{Status: "ok", Time: s.now().UTC(), Terminal: terminalName(r.Context())})
	})
	m.HandleFunc("GET "+api.PathCard, s.getCard)
	m.HandleFunc("GET "+api.PathCertificate, s.getCertificate)
	m.HandleFunc("GET "+api.PathPhone, s.getPhone)
	m.HandleFunc("GET "+api.PathCardReservations, s.getReservations)
	m.HandleFunc("GET "+api.PathCardPhones, s.getCardPhones)
	m.HandleFunc("GET "+api.PathPhoneNotices, s.getPhoneNotices)
	m.Handle("POST "+api.PathCards, s.mutating("register card", s.registerCard))
	m.Handle("POST "+api.PathCardTransition, s.mutating("transition", s.transition))
	m.Handle("POST "+api.PathCardCerts, s.mutating("issue certificate", s.issueCertificate))
	m.Handle("POST "+api.PathCardAuthorise, s.mutating("authorise", s.authorise))
	m.Handle("POST "+api.PathCardDetails, s.mutating("change details", s.changeDetails))
	m.Handle("POST "+api.PathCertRevocation, s.mutating("revoke", s.revokeCert))
	m.Handle("POST "+api.PathCertSuspension, s.mutating("suspend", s.suspendCert))
	m.Handle("DELETE "+api.PathCertSuspension, s.mutating("lift", s.liftCert))
	m.Handle("POST "+api.PathPhones, s.mutating("issue phone", s.issuePhone))
	m.Handle("DELETE "+api.PathPhone, s.mutating("revoke phone", s.revokePhone))
	m.Handle("POST "+api.PathPhoneChallenges, s.mutating("phone challenge", s.phoneChallenge))
	m.Handle("POST "+api.PathPhoneSuspension, s.mutating("suspend phone", s.suspendPhone))
	m.Handle("DELETE "+api.PathPhoneSuspension, s.mutating("lift phone", s.liftPhone))
	m.Handle("POST "+api.PathPhoneMdoc, s.mutating("issue mdoc", s.issueMdoc))
	m.Handle("POST "+api.PathPhoneOffers, s.mutating("credential offer", s.createOffer))
	m.Handle("POST "+api.PathEvents, s.mutating("events", s.ingestEvents))
	m.Handle("POST "+api.PathReservations, s.mutating("create reservation", s.createReservation))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, refuse(404, api.CodeNotFound, "no such resource"))
	})
	return s.guard(m)
}

func (s *server) publicHandler() http.Handler {
	m := http.NewServeMux()
	// api.PathCRL is /crl/{ca}.crl; a ServeMux wildcard must be a whole
	// segment, so the handler strips the extension.
	m.HandleFunc("GET /crl/{file}", s.crl)
	m.HandleFunc("POST "+api.PathOCSP, s.ocsp)
	m.HandleFunc("GET "+api.PathOCSP+"/{req...}", s.ocsp)
	m.HandleFunc("GET "+api.PathAdminFaults, s.adminFaults)
	m.HandleFunc("PUT "+api.PathAdminFaults, s.adminFaults)
	// OpenID4VCI, the wallet's side (docs/JLIS-API.md §6.4).
	m.HandleFunc("GET "+api.PathVCIIssuerMetadata, s.vciIssuerMetadata)
	m.HandleFunc("GET "+api.PathVCIASMetadata, s.vciASMetadata)
	m.HandleFunc("POST "+api.PathVCIToken, s.vciToken)
	m.HandleFunc("POST "+api.PathVCICredential, s.vciCredential)
	return m
}

// adminFaults reads or sets the faults; it answers only on loopback.
func (s *server) adminFaults(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		writeProblem(w, refuse(403, api.CodeForbidden, "admin endpoint answers only on loopback"))
		return
	}
	if r.Method == http.MethodPut {
		var f Faults
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&f); err != nil || !f.valid() {
			writeProblem(w, refuse(400, api.CodeBadRequest, "faults: want latencyMs 0..60000 and rates 0..1"))
			return
		}
		s.setFaults(f)
		s.log.Info("faults set", "faults", fmt.Sprintf("%+v", f))
	}
	writeJSON(w, 200, s.currentFaults())
}

// txFunc does one state change inside a transaction and returns the
// status and body to answer (and to replay).
type txFunc func(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error)

// mutating wraps a state-changing handler with the idempotency protocol:
// the key is required; the first answer is stored in the same transaction
// as the effect and replayed for the same key and body; the same key with
// another body is refused; concurrent duplicates wait for the first.
func (s *server) mutating(name string, h txFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(api.HeaderIdempotency)
		if key == "" {
			writeProblem(w, refuse(428, api.CodeIdempotencyRequired, "every state-changing request needs an Idempotency-Key"))
			return
		}
		if len(key) > api.MaxIdempotencyKey {
			writeProblem(w, refuse(400, api.CodeBadRequest, "Idempotency-Key longer than %d", api.MaxIdempotencyKey))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeProblem(w, refuse(400, api.CodeBadRequest, "unreadable body"))
			return
		}
		term := terminalName(r.Context())
		sum := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + string(body)))
		res := s.once(r, name, term, key, sum[:], body, h)
		f := s.currentFaults()
		if f.DuplicateRate > 0 && rand.Float64() < f.DuplicateRate {
			res = s.once(r, name, term, key, sum[:], body, h) // delivered twice
		}
		if res.committed && f.DropAfterCommitRate > 0 && rand.Float64() < f.DropAfterCommitRate {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					s.log.Info("fault: dropped connection after commit", "op", name, "terminal", term)
					conn.Close()
					return
				}
			}
		}
		if res.replayed {
			w.Header().Set(api.HeaderReplayed, "true")
		}
		w.Header().Set("Content-Type", res.contentType)
		w.WriteHeader(res.status)
		w.Write(res.body)
	})
}

type outcome struct {
	status      int
	contentType string
	body        []byte
	replayed    bool
	committed   bool
}

func (s *server) once(r *http.Request, name, term, key string, sum, body []byte, h txFunc) outcome {
	unlock := s.keys.lock(term + "\x00" + key)
	defer unlock()
	ctx := r.Context()
	var prevHash, prevBody []byte
	var prevStatus int
	var prevType string
	err := s.db.DB.QueryRowContext(ctx, `SELECT request_hash, status, content_type, body FROM idempotency WHERE terminal = ? AND key = ?`, term, key).
		Scan(&prevHash, &prevStatus, &prevType, &prevBody)
	if err == nil {
		if string(prevHash) != string(sum) {
			p := refuse(422, api.CodeIdempotencyReused, "this Idempotency-Key was used for another request")
			return outcome{status: p.status, contentType: api.ContentTypeProblem, body: problemBody(p)}
		}
		s.log.Info("replayed", "op", name, "terminal", term)
		return outcome{status: prevStatus, contentType: prevType, body: prevBody, replayed: true}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.DB.BeginTx(ctx, nil)
	if err != nil {
		return internal(s.log, name, err)
	}
	defer tx.Rollback()
	status, v, err := h(ctx, tx, r, body)
	out := outcome{status: status, contentType: api.ContentTypeJSON}
	var p *problem
	switch {
	case errors.As(err, &p):
		out = outcome{status: p.status, contentType: api.ContentTypeProblem, body: problemBody(p)}
		s.log.Info("refused", "op", name, "terminal", term, "code", p.code)
		tx.Rollback()
		// A refusal is an answer too: replay it for the same key, in a
		// transaction of its own (the handler's effects are rolled back).
		tx, err = s.db.DB.BeginTx(ctx, nil)
		if err != nil {
			return internal(s.log, name, err)
		}
		defer tx.Rollback()
	case err != nil:
		return internal(s.log, name, err)
	default:
		out.body, _ = json.Marshal(v)
		s.log.Info("done", "op", name, "terminal", term, "status", status)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency (terminal, key, request_hash, status, content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		term, key, sum, out.status, out.contentType, out.body, ts(s.now())); err != nil {
		return internal(s.log, name, err)
	}
	if err := tx.Commit(); err != nil {
		return internal(s.log, name, err)
	}
	out.committed = true
	return out
}

func internal(log *slog.Logger, name string, err error) outcome {
	log.Error("internal error", "op", name, "err", err)
	p := refuse(500, api.CodeInternal, "internal error")
	return outcome{status: 500, contentType: api.ContentTypeProblem, body: problemBody(p)}
}

// keyLocks serialises requests with the same terminal and key.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// limiter is a token bucket per terminal.
type limiter struct {
	mu    sync.Mutex
	rate  float64
	burst float64
	b     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, b: map[string]*bucket{}}
}

func (l *limiter) allow(who string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	b := l.b[who]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.b[who] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(400, api.CodeBadRequest, "body: %v", err)
	}
	return nil
}

// EventIDs lists the ids of every event the server has taken, per
// terminal "terminal/id", for tests that count effects.
func (r *Running) EventIDs(ctx context.Context) ([]string, error) {
	rows, err := r.s.db.DB.QueryContext(ctx, `SELECT terminal, id FROM events ORDER BY terminal, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t, id string
		if err := rows.Scan(&t, &id); err != nil {
			return nil, err
		}
		out = append(out, t+"/"+id)
	}
	return out, rows.Err()
}

// Transitions counts the card state changes the server has recorded.
func (r *Running) Transitions(ctx context.Context, serial string) (int, error) {
	var n int
	err := r.s.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM transitions WHERE card_serial = ?`, serial).Scan(&n)
	return n, err
}

package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
)

type rig struct {
	t    testing.TB
	init *InitResult
	run  *Running
	hc   *http.Client
	opts Options
}

func startRig(t testing.TB, o Options) *rig {
	t.Helper()
	dir := t.TempDir()
	ir, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	o.Dir, o.Addr, o.PublicAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	r := &rig{t: t, init: ir, opts: o}
	r.start()
	r.hc = r.client(ir.TerminalCert, ir.TerminalKey)
	return r
}

func (r *rig) start() {
	r.t.Helper()
	run, err := Start(context.Background(), r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.run = run
	r.t.Cleanup(func() { run.Close() })
}

func (r *rig) client(certFile, keyFile string) *http.Client {
	roots := x509.NewCertPool()
	pemData, _ := os.ReadFile(r.init.RootCA)
	roots.AppendCertsFromPEM(pemData)
	conf := &tls.Config{RootCAs: roots}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			r.t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 30 * time.Second}
}

// do sends a request and decodes the answer into out (or the problem).
func (r *rig) do(hc *http.Client, method, path, key string, body, out any) (int, api.Problem, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.run.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(api.HeaderIdempotency, key)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, api.Problem{}, nil, err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var p api.Problem
	if res.Header.Get("Content-Type") == api.ContentTypeProblem {
		json.Unmarshal(data, &p)
	} else if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return res.StatusCode, p, res.Header, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return res.StatusCode, p, res.Header, nil
}

var keyN int

func newKey() string { keyN++; return fmt.Sprintf("k-%d-%d", time.Now().UnixNano(), keyN) }

// certRequest makes a key pair and a signed proof of possession.
func certRequest(t testing.TB, serial, purpose string) (api.CertRequest, *rsa.PrivateKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	h := sha256.Sum256(api.PoPMessage(serial, purpose, spki))
	sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	return api.CertRequest{Purpose: purpose, PublicKey: spki, Proof: sig}, k
}

func (r *rig) issue(serial, purpose string) api.Certificate {
	r.t.Helper()
	req, _ := certRequest(r.t, serial, purpose)
	var c api.Certificate
	status, p, _, err := r.do(r.hc, "POST", "/v1/cards/"+serial+"/certificates", newKey(), req, &c)
	if err != nil || status != 201 {
		r.t.Fatalf("issue %s: %d %+v %v", purpose, status, p, err)
	}
	return c
}

func writeCertPEM(t testing.TB, path string, der []byte) string {
	t.Helper()
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return path
}

func openssl(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return "ERROR: " + err.Error() + "\n" + string(out)
	}
	return string(out)
}

// TestIssueRevokeCheckWithOpenSSL checks what the CA issues with an
// independent tool: chain, OCSP through its states, and the CRL.
func TestIssueRevokeCheckWithOpenSSL(t *testing.T) {
	r := startRig(t, Options{})
	dir := t.TempDir()
	card := r.init.DemoCards[0]
	auth := r.issue(card, "auth")
	sign := r.issue(card, "sign")
	authPEM := writeCertPEM(t, filepath.Join(dir, "auth.pem"), auth.DER)
	signPEM := writeCertPEM(t, filepath.Join(dir, "sign.pem"), sign.DER)
	authCA, signCA := r.init.CAs["auth"].Cert, r.init.CAs["sign"].Cert

	if out := openssl(t, "verify", "-CAfile", r.init.RootCA, "-untrusted", authCA, authPEM); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify auth: %s", out)
	}
	if out := openssl(t, "verify", "-CAfile", r.init.RootCA, "-untrusted", signCA, signPEM); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify sign: %s", out)
	}
	if out := openssl(t, "verify", "-CAfile", r.init.RootCA, "-untrusted", signCA, authPEM); strings.Contains(out, ": OK") {
		t.Fatal("the auth certificate verified under the signature CA")
	}
	// The profile (ref §10).
	ac, _ := x509.ParseCertificate(auth.DER)
	sc, _ := x509.ParseCertificate(sign.DER)
	if len(ac.Subject.CommonName) != 23 || ac.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || ac.OCSPServer[0] != r.run.PublicURL+"/ocsp" ||
		ac.CRLDistributionPoints[0] != r.run.PublicURL+"/crl/auth.crl" {
		t.Fatalf("auth profile: %q %v %v %v", ac.Subject.CommonName, ac.ExtKeyUsage, ac.OCSPServer, ac.CRLDistributionPoints)
	}
	h, err := jpki.Attributes(sc)
	if err != nil || h.Name != "窓口　花子" || h.BirthDate != "19850401" {
		t.Fatalf("sign attributes %+v %v", h, err)
	}
	if got := ac.NotAfter.In(jpki.JST).Format("2006-01-02 15:04:05"); got[:10] != "2031-04-01" || got[11:] != "23:59:59" {
		t.Fatalf("auth expiry %s, want the end of the 5th birthday after issue", got)
	}

	ocspStatus := func() string {
		t.Helper()
		out := openssl(t, "ocsp", "-issuer", authCA, "-cert", authPEM, "-url", r.run.PublicURL+"/ocsp", "-CAfile", r.init.RootCA, "-resp_text")
		if !strings.Contains(out, "Response verify OK") {
			t.Fatalf("openssl ocsp: %s", out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, authPEM+": ") {
				return strings.TrimPrefix(l, authPEM+": ")
			}
		}
		t.Fatalf("no status line: %s", out)
		return ""
	}
	if s := ocspStatus(); s != "good" {
		t.Fatalf("OCSP after issue: %s", s)
	}
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/certificates/"+auth.Serial+"/suspension", newKey(), nil, nil); st != 200 {
		t.Fatalf("suspend: %d %+v", st, p)
	}
	if s := ocspStatus(); s != "revoked" {
		t.Fatalf("OCSP after suspension: %s", s)
	}
	if st, p, _, _ := r.do(r.hc, "DELETE", "/v1/certificates/"+auth.Serial+"/suspension", newKey(), nil, nil); st != 200 {
		t.Fatalf("lift: %d %+v", st, p)
	}
	if s := ocspStatus(); s != "good" {
		t.Fatalf("OCSP after lifting: %s", s)
	}
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/certificates/"+auth.Serial+"/revocation", newKey(), api.Revocation{Reason: "keyCompromise"}, nil); st != 200 {
		t.Fatalf("revoke: %d %+v", st, p)
	}
	if s := ocspStatus(); s != "revoked" {
		t.Fatalf("OCSP after revocation: %s", s)
	}
	// The CRL, fetched over HTTP, verified and applied by openssl.
	res, err := http.Get(r.run.PublicURL + "/crl/auth.crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(res.Body)
	res.Body.Close()
	crlDER := filepath.Join(dir, "auth.crl")
	os.WriteFile(crlDER, der, 0o644)
	crlPEM := filepath.Join(dir, "auth-crl.pem")
	if out := openssl(t, "crl", "-inform", "DER", "-in", crlDER, "-CAfile", authCA, "-noout", "-text"); !strings.Contains(out, "verify OK") || !strings.Contains(out, auth.Serial) || !strings.Contains(out, "Key Compromise") {
		t.Fatalf("openssl crl: %s", out)
	}
	openssl(t, "crl", "-inform", "DER", "-in", crlDER, "-out", crlPEM)
	if out := openssl(t, "verify", "-crl_check", "-CRLfile", crlPEM, "-CAfile", r.init.RootCA, "-untrusted", authCA, authPEM); !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check of a revoked certificate: %s", out)
	}
}

func TestIdempotencyUnderConcurrentDuplicates(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card := r.init.DemoCards[1]
	req, _ := certRequest(t, card, "auth")
	key := newKey()
	const n = 20
	serials := make([]string, n)
	replayed := make([]bool, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var c api.Certificate
			st, p, h, err := r.do(r.hc, "POST", "/v1/cards/"+card+"/certificates", key, req, &c)
			if err != nil || st != 201 {
				t.Errorf("duplicate %d: %d %+v %v", i, st, p, err)
			}
			serials[i], replayed[i] = c.Serial, h.Get(api.HeaderReplayed) == "true"
		}(i)
	}
	wg.Wait()
	first, nReplayed := serials[0], 0
	for i := range serials {
		if serials[i] != first {
			t.Fatalf("duplicates got different certificates: %v", serials)
		}
		if replayed[i] {
			nReplayed++
		}
	}
	if nReplayed != n-1 {
		t.Fatalf("%d of %d answers marked replayed, want %d", nReplayed, n, n-1)
	}
	var count int
	r.run.s.db.DB.QueryRow(`SELECT count(*) FROM certificates WHERE card_serial = ?`, card).Scan(&count)
	if count != 1 {
		t.Fatalf("%d certificates issued for one key", count)
	}
	// The same key with another body is refused.
	other, _ := certRequest(t, card, "auth")
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/certificates", key, other, nil); st != 422 || p.Code != api.CodeIdempotencyReused {
		t.Fatalf("reused key: %d %+v", st, p)
	}
	// A refusal is replayed too.
	k2 := newKey()
	for i := 0; i < 2; i++ {
		if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", k2, api.Transition{To: api.StateExpired}, nil); st != 409 || p.Code != api.CodeInvalidTransition {
			t.Fatalf("refusal %d: %d %+v", i, st, p)
		}
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	r := startRig(t, Options{})
	card := r.init.DemoCards[0]
	auth := r.issue(card, "auth")
	var c api.Card
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateIssued}, &c); st != 200 {
		t.Fatalf("issue card: %d %+v", st, p)
	}
	r.run.Close()
	r.start()
	var st api.CertStatus
	if code, p, _, err := r.do(r.hc, "GET", "/v1/certificates/"+auth.Serial, "", nil, &st); code != 200 || st.State != api.CertGood || err != nil {
		t.Fatalf("after restart: %d %+v %+v %v", code, st, p, err)
	}
	if code, _, _, _ := r.do(r.hc, "GET", "/v1/cards/"+card, "", nil, &c); code != 200 || c.State != api.StateIssued || len(c.History) != 1 || len(c.Certificates) != 1 {
		t.Fatalf("card after restart: %+v", c)
	}
}

func TestTerminalsRefused(t *testing.T) {
	r := startRig(t, Options{})
	// No client certificate: the TLS handshake fails.
	if _, _, _, err := r.do(r.client("", ""), "GET", "/v1/health", "", nil, nil); err == nil {
		t.Fatal("a terminal without a certificate was served")
	}
	// A certificate from another simulator's terminal CA.
	other := startRig(t, Options{})
	if _, _, _, err := r.do(r.client(other.init.TerminalCert, other.init.TerminalKey), "GET", "/v1/health", "", nil, nil); err == nil {
		t.Fatal("a foreign terminal certificate was accepted")
	}
	// A revoked terminal.
	cp, kp, err := AddTerminal(r.init.Dir, "terminal-02")
	if err != nil {
		t.Fatal(err)
	}
	hc2 := r.client(cp, kp)
	var h api.Health
	if st, _, _, err := r.do(hc2, "GET", "/v1/health", "", nil, &h); st != 200 || h.Terminal != "terminal-02" || err != nil {
		t.Fatalf("terminal-02: %d %+v %v", st, h, err)
	}
	pemData, _ := os.ReadFile(cp)
	blk, _ := pem.Decode(pemData)
	cert, _ := x509.ParseCertificate(blk.Bytes)
	if err := r.run.RevokeTerminal(cert); err != nil {
		t.Fatal(err)
	}
	if st, p, _, _ := r.do(hc2, "GET", "/v1/health", "", nil, nil); st != 403 || p.Code != api.CodeForbidden {
		t.Fatalf("revoked terminal: %d %+v", st, p)
	}
	if st, _, _, _ := r.do(r.hc, "GET", "/v1/health", "", nil, nil); st != 200 {
		t.Fatalf("terminal-01 after revoking terminal-02: %d", st)
	}
}

func TestRateLimit(t *testing.T) {
	r := startRig(t, Options{RateLimit: 2})
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		st, p, _, _ := r.do(r.hc, "GET", "/v1/health", "", nil, nil)
		limited = st == 429 && p.Code == api.CodeRateLimited
	}
	if !limited {
		t.Fatal("20 requests at once were never limited at 2/s")
	}
}

func TestFaults(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card := r.init.DemoCards[2]
	setFaults := func(f Faults) {
		t.Helper()
		b, _ := json.Marshal(f)
		req, _ := http.NewRequest("PUT", r.run.PublicURL+"/admin/faults", bytes.NewReader(b))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("set faults: %v %v", res, err)
		}
		res.Body.Close()
	}
	// The connection is dropped after the server committed.
	setFaults(Faults{DropAfterCommitRate: 1})
	key := newKey()
	if _, _, _, err := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", key, api.Transition{To: api.StateIssued}, nil); err == nil {
		t.Fatal("no error although the connection was dropped")
	}
	setFaults(Faults{})
	var c api.Card
	r.do(r.hc, "GET", "/v1/cards/"+card, "", nil, &c)
	if c.State != api.StateIssued {
		t.Fatalf("the dropped request did not take effect: %s", c.State)
	}
	// Retrying with the same key gets the first answer.
	st, _, h, err := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", key, api.Transition{To: api.StateIssued}, &c)
	if err != nil || st != 200 || h.Get(api.HeaderReplayed) != "true" || len(c.History) != 1 {
		t.Fatalf("retry after drop: %d %v %v history %d", st, err, h, len(c.History))
	}
	// Duplicated delivery: one effect.
	setFaults(Faults{DuplicateRate: 1})
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateSuspended, Reason: "lost"}, &c); st != 200 || len(c.History) != 2 {
		t.Fatalf("duplicated delivery: %d %+v history %d", st, p, len(c.History))
	}
	// 5xx answers and latency.
	setFaults(Faults{ErrorRate: 1, LatencyMs: 50})
	start := time.Now()
	if st, p, _, _ := r.do(r.hc, "GET", "/v1/health", "", nil, nil); st != 503 || p.Code != api.CodeUnavailable {
		t.Fatalf("injected error: %d %+v", st, p)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("latency not injected")
	}
	// Bad fault values are refused.
	req, _ := http.NewRequest("PUT", r.run.PublicURL+"/admin/faults", strings.NewReader(`{"errorRate": 2}`))
	if res, _ := http.DefaultClient.Do(req); res == nil || res.StatusCode != 400 {
		t.Fatal("errorRate 2 accepted")
	}
}

func TestPhoneCredentials(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card, auth := r.issuedCard(0)
	first := r.newPhone(card, r.approvedPhone(), false)
	pc, _ := x509.ParseCertificate(first.Certificate.DER)
	ac, _ := x509.ParseCertificate(auth.DER)
	if !pc.NotAfter.Equal(ac.NotAfter) {
		t.Fatalf("phone validity %v not bound to the card's %v", pc.NotAfter, ac.NotAfter)
	}
	tp := r.approvedPhone()
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/phones", newKey(), tp.request(t, card, "B", r.challenge(), false), nil); st != 409 || p.Code != api.CodePhoneActive {
		t.Fatalf("second phone without confirmation: %d %+v", st, p)
	}
	second := r.newPhone(card, tp, true)
	if second.Replaced != first.ID {
		t.Fatalf("replacement: %+v", second)
	}
	var old api.Phone
	r.do(r.hc, "GET", "/v1/phones/"+first.ID, "", nil, &old)
	if old.State != api.CertRevoked {
		t.Fatalf("old phone %s", old.State)
	}
	// Revoking the card's authentication certificate revokes the phone.
	r.do(r.hc, "POST", "/v1/certificates/"+auth.Serial+"/revocation", newKey(), api.Revocation{Reason: "keyCompromise"}, nil)
	var now api.Phone
	r.do(r.hc, "GET", "/v1/phones/"+second.ID, "", nil, &now)
	if now.State != api.CertRevoked {
		t.Fatalf("phone after the card's certificate was revoked: %s", now.State)
	}
}

func TestEventsDeduplicated(t *testing.T) {
	r := startRig(t, Options{})
	evs := api.Events{Events: []api.Event{{ID: "e1", Type: "issuance", At: time.Now()}, {ID: "e2", Type: "issuance", At: time.Now()}}}
	var res api.EventsResult
	if st, _, _, _ := r.do(r.hc, "POST", "/v1/events", newKey(), evs, &res); st != 200 || res.Accepted != 2 {
		t.Fatalf("%d %+v", st, res)
	}
	evs.Events = append(evs.Events, api.Event{ID: "e3", Type: "pin-reset", At: time.Now()})
	if st, _, _, _ := r.do(r.hc, "POST", "/v1/events", newKey(), evs, &res); st != 200 || res.Accepted != 1 || res.Duplicates != 2 {
		t.Fatalf("%d %+v", st, res)
	}
}

func TestBadInput(t *testing.T) {
	r := startRig(t, Options{})
	card := r.init.DemoCards[0]
	req, _ := certRequest(t, card, "auth")
	bad := req
	bad.Proof = append([]byte{}, req.Proof...)
	bad.Proof[0] ^= 1
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"forged proof", "POST", "/v1/cards/" + card + "/certificates", bad, 422, api.CodeProofInvalid},
		{"proof for another card", "POST", "/v1/cards/" + r.init.DemoCards[1] + "/certificates", req, 422, api.CodeProofInvalid},
		{"unknown card", "POST", "/v1/cards/NOPE/transitions", api.Transition{To: api.StateIssued}, 404, api.CodeNotFound},
		{"unknown field", "POST", "/v1/cards/" + card + "/transitions", map[string]string{"state": "x"}, 400, api.CodeBadRequest},
		{"bad purpose", "POST", "/v1/cards/" + card + "/certificates", api.CertRequest{Purpose: "root"}, 400, api.CodeBadRequest},
		{"short challenge", "POST", "/v1/cards/" + card + "/authorisations", api.AuthoriseRequest{Operation: api.OpSetPIN, Challenge: []byte{1}}, 400, api.CodeBadRequest},
		{"reset PIN on a delivered card", "POST", "/v1/cards/" + card + "/authorisations", api.AuthoriseRequest{Operation: api.OpResetPIN, Challenge: make([]byte, 8)}, 409, api.CodeCardState},
		{"unknown resource", "GET", "/v1/nothing", nil, 404, api.CodeNotFound},
	} {
		key := newKey()
		if tc.method == "GET" {
			key = ""
		}
		st, p, _, err := r.do(r.hc, tc.method, tc.path, key, tc.body, nil)
		if err != nil || st != tc.status || p.Code != tc.code {
			t.Errorf("%s: %d %+v %v, want %d %s", tc.name, st, p, err, tc.status, tc.code)
		}
	}

}

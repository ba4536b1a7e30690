package jlis

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jlistest"
	"madoguchi/drivers/jlis/sim"
	"madoguchi/drivers/mdoc"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// simRig is the reference server with a client for its first terminal.
type simRig struct {
	init *sim.InitResult
	run  *sim.Running
	c    *Client
	root *x509.Certificate
}

// startSim initialises a reference server in a temporary directory and
// starts it on loopback. rate is the server's per-terminal rate limit (0:
// its default).
func startSim(tb testing.TB, rate float64) *simRig {
	tb.Helper()
	dir := tb.TempDir()
	ir, err := sim.Init(dir)
	if err != nil {
		tb.Fatalf("sim.Init: %v", err)
	}
	run, err := sim.Start(context.Background(), sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", RateLimit: rate})
	if err != nil {
		tb.Fatalf("sim.Start: %v", err)
	}
	tb.Cleanup(func() { run.Close() })
	c, err := New(Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 10 * time.Second})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	c.backoff = 5 * time.Millisecond
	tb.Cleanup(c.Close)
	rootPEM, err := os.ReadFile(ir.RootCA)
	if err != nil {
		tb.Fatal(err)
	}
	return &simRig{init: ir, run: run, c: c, root: parsePEMCert(tb, rootPEM)}
}

// parsePEMCert parses the first certificate of a PEM file's contents.
func parsePEMCert(tb testing.TB, data []byte) *x509.Certificate {
	tb.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		tb.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// cardKey is a key pair as a card would generate it, with its proof of
// possession (RSA-2048, PKCS#1 v1.5 over SHA-256 of api.PoPMessage).
type cardKey struct {
	key  *rsa.PrivateKey
	spki []byte
}

func newCardKey(tb testing.TB) cardKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return cardKey{k, spki}
}

func (k cardKey) request(tb testing.TB, serial, purpose string) api.CertRequest {
	tb.Helper()
	h := sha256.Sum256(api.PoPMessage(serial, purpose, k.spki))
	sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	return api.CertRequest{Purpose: purpose, PublicKey: k.spki, Proof: sig}
}

// newCard registers a card and takes it to state (delivered or issued).
func (r *simRig) newCard(tb testing.TB, serial string, to api.CardState) {
	tb.Helper()
	if err := r.createCard(context.Background(), serial, to); err != nil {
		tb.Fatal(err)
	}
}

// createCard is newCard for any goroutine.
func (r *simRig) createCard(ctx context.Context, serial string, to api.CardState) error {
	if _, err := r.c.RegisterCard(ctx, NewIdempotencyKey(), api.NewCard{
		Serial: serial, Profile: "current", Municipality: "99999",
		Holder: api.Holder{Name: "試験　一郎", Address: "デモ県デモ市一丁目", BirthDate: "19800101", Sex: "1"},
	}); err != nil {
		return fmt.Errorf("register %s: %w", serial, err)
	}
	for _, s := range []api.CardState{api.StateDelivered, api.StateIssued} {
		if _, err := r.c.Transition(ctx, NewIdempotencyKey(), serial, api.Transition{To: s}); err != nil {
			return fmt.Errorf("%s → %s: %w", serial, s, err)
		}
		if s == to {
			return nil
		}
	}
	return nil
}

func TestAgainstReferenceServer(t *testing.T) {
	r := startSim(t, 0)
	ctx := t.Context()
	c := r.c
	const serial = "IT0000000001"
	var authCert, authCA *x509.Certificate

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the steps build on each other
		}
	}

	step("health", func(t *testing.T) {
		h, err := c.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != "ok" || h.Terminal != "terminal-01" {
			t.Errorf("health = %+v", h)
		}
	})

	step("register, replay, conflict", func(t *testing.T) {
		key := NewIdempotencyKey()
		nc := api.NewCard{Serial: serial, Profile: "current", Municipality: "13101",
			Holder: api.Holder{Name: "試験　花子", Address: "デモ県デモ市二丁目", BirthDate: "19850401", Sex: "2"}}
		card, err := c.RegisterCard(ctx, key, nc)
		if err != nil {
			t.Fatal(err)
		}
		if card.State != api.StateManufactured || card.Serial != serial || card.CardExpiry == "" {
			t.Errorf("card = %+v", card)
		}
		var info ResponseInfo
		again, err := c.RegisterCard(WithResponseInfo(ctx, &info), key, nc)
		if err != nil || !info.Replayed || again.Serial != serial {
			t.Errorf("replay: %+v %+v %v", again, info, err)
		}
		_, err = c.RegisterCard(ctx, NewIdempotencyKey(), nc)
		if !errors.Is(err, ErrConflict) || Code(err) != api.CodeConflict {
			t.Errorf("second registration: %v, want ErrConflict (conflict)", err)
		}
		if _, err := c.Card(ctx, "NOSUCHCARD"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown card: %v, want ErrNotFound", err)
		}
	})

	step("transitions", func(t *testing.T) {
		tests := []struct {
			to   api.CardState
			want error
			code string
		}{
			{api.StateIssued, ErrConflict, api.CodeInvalidTransition}, // manufactured → issued skips delivery
			{api.StateDelivered, nil, ""},
			{api.StateSuspended, ErrConflict, api.CodeInvalidTransition},
		}
		for _, tt := range tests {
			card, err := c.Transition(ctx, NewIdempotencyKey(), serial, api.Transition{To: tt.to, Reason: "test"})
			switch {
			case tt.want == nil && (err != nil || card.State != tt.to):
				t.Errorf("→ %s: %+v, %v", tt.to, card.State, err)
			case tt.want != nil && (!errors.Is(err, tt.want) || Code(err) != tt.code):
				t.Errorf("→ %s: %v, want %v (%s)", tt.to, err, tt.want, tt.code)
			}
		}
		card, err := c.Card(ctx, serial)
		if err != nil || card.State != api.StateDelivered || len(card.History) != 1 {
			t.Errorf("card after transitions: %+v, %v", card, err)
		}
	})

	step("issue authentication certificate", func(t *testing.T) {
		k := newCardKey(t)
		req := k.request(t, serial, api.CAAuth)
		key := NewIdempotencyKey()
		cert, err := c.IssueCertificate(ctx, key, serial, req)
		if err != nil {
			t.Fatal(err)
		}
		if authCert, err = x509.ParseCertificate(cert.DER); err != nil {
			t.Fatal(err)
		}
		if len(cert.Chain) != 2 {
			t.Fatalf("chain of %d", len(cert.Chain))
		}
		if authCA, err = x509.ParseCertificate(cert.Chain[0]); err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(r.root)
		inter := x509.NewCertPool()
		inter.AddCert(authCA)
		if _, err := authCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("certificate does not chain to the root: %v", err)
		}
		if CertSerial(authCert) != cert.Serial {
			t.Errorf("serial %s, certificate says %s", cert.Serial, CertSerial(authCert))
		}

		var info ResponseInfo
		again, err := c.IssueCertificate(WithResponseInfo(ctx, &info), key, serial, req)
		if err != nil || again.Serial != cert.Serial || !info.Replayed {
			t.Errorf("replay: serial %s (first %s), replayed %v, %v", again.Serial, cert.Serial, info.Replayed, err)
		}
		other := newCardKey(t).request(t, serial, api.CAAuth)
		if _, err := c.IssueCertificate(ctx, key, serial, other); !errors.Is(err, ErrConflict) || Code(err) != api.CodeIdempotencyReused {
			t.Errorf("same key, other body: %v, want ErrConflict (idempotency-key-reused)", err)
		}
		bad := k.request(t, serial, api.CASign) // proof for another purpose
		bad.Purpose = api.CAAuth
		if _, err := c.IssueCertificate(ctx, NewIdempotencyKey(), serial, bad); !errors.Is(err, ErrRejected) || errors.Is(err, ErrConflict) || Code(err) != api.CodeProofInvalid {
			t.Errorf("bad proof: %v, want ErrRejected (proof-invalid)", err)
		}
		if _, err := c.Transition(ctx, NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued}); err != nil {
			t.Fatal(err)
		}
		st, err := c.CertificateStatus(ctx, authCert.SerialNumber.Text(16)) // lower case: the client canonicalises
		if err != nil || st.State != api.CertGood || st.CardSerial != serial || st.Purpose != api.CAAuth {
			t.Errorf("status = %+v, %v", st, err)
		}
	})

	ocspStatus := func(t *testing.T) *ocsp.Response {
		t.Helper()
		resp, err := OCSP(ctx, r.run.PublicURL, authCert, authCA)
		if err != nil {
			t.Fatalf("OCSP: %v", err)
		}
		return resp
	}

	step("suspend, lift", func(t *testing.T) {
		st, err := c.Suspend(ctx, NewIdempotencyKey(), CertSerial(authCert))
		if err != nil || st.State != api.CertSuspended {
			t.Fatalf("suspend: %+v, %v", st, err)
		}
		if o := ocspStatus(t); o.Status != ocsp.Revoked || o.RevocationReason != ocsp.CertificateHold {
			t.Errorf("OCSP after suspension: status %d reason %d, want revoked/certificateHold", o.Status, o.RevocationReason)
		}
		if _, err := c.Suspend(ctx, NewIdempotencyKey(), CertSerial(authCert)); !errors.Is(err, ErrConflict) {
			t.Errorf("suspending twice: %v, want ErrConflict", err)
		}
		st, err = c.Lift(ctx, NewIdempotencyKey(), CertSerial(authCert))
		if err != nil || st.State != api.CertGood {
			t.Fatalf("lift: %+v, %v", st, err)
		}
		if o := ocspStatus(t); o.Status != ocsp.Good {
			t.Errorf("OCSP after lifting: status %d, want good", o.Status)
		}
	})

	step("authorise", func(t *testing.T) {
		challenge := make([]byte, 8)
		rand.Read(challenge)
		req := api.AuthoriseRequest{Operation: api.OpGenerateKey, Ref: 0x0017, Challenge: challenge}
		a, err := c.Authorise(ctx, NewIdempotencyKey(), serial, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Cryptogram) != 1+2+32+16 || a.Cryptogram[0] != 0x03 {
			t.Errorf("cryptogram % X", a.Cryptogram)
		}
		if d := time.Until(a.ExpiresAt); d <= 0 || d > 2*time.Minute+5*time.Second {
			t.Errorf("expires in %v, want about 2 minutes", d)
		}
		if _, err := c.Authorise(ctx, NewIdempotencyKey(), serial, req); !errors.Is(err, ErrConflict) || Code(err) != api.CodeChallengeReused {
			t.Errorf("same challenge again: %v, want ErrConflict (challenge-reused)", err)
		}
		rand.Read(req.Challenge)
		req.Operation = api.OpSetPIN // only on a delivered card
		if _, err := c.Authorise(ctx, NewIdempotencyKey(), serial, req); !errors.Is(err, ErrConflict) || Code(err) != api.CodeCardState {
			t.Errorf("set-pin on an issued card: %v, want ErrConflict (card-state)", err)
		}
	})

	step("phone credentials", func(t *testing.T) {
		vendor, err := phonesim.LoadOrCreateVendor(r.init.PhoneVendor, phonesim.DefaultVendorName)
		if err != nil {
			t.Fatal(err)
		}
		// A request as the counter makes it: a challenge from the central
		// system, GENERATE KEY on the phone, the proof signed by the new key.
		request := func(t *testing.T, v *phonesim.Vendor, app, device string) (api.PhoneRequest, *phone.Phone) {
			t.Helper()
			ps, err := phonesim.New(phonesim.Options{Vendor: v, App: app, AutoApprove: true})
			if err != nil {
				t.Fatal(err)
			}
			ph, err := phone.Open(ctx, phonesim.NewSlot(ps))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := c.ChallengePhone(ctx, NewIdempotencyKey())
			if err != nil {
				t.Fatal(err)
			}
			att, err := ph.GenerateKey(ctx, phone.PurposeAuth, ch.Challenge)
			if err != nil {
				t.Fatal(err)
			}
			d := sha256.Sum256(api.PoPMessage(serial, api.CAPhone, att.SPKI))
			proof, err := ph.Sign(ctx, att.KeyID, d[:])
			if err != nil {
				t.Fatal(err)
			}
			return api.PhoneRequest{CardSerial: serial, DeviceID: device, Attestation: att.Raw, Challenge: ch.Challenge,
				PublicKey: att.SPKI, Proof: proof}, ph
		}
		req, _ := request(t, vendor, "", "device-1")
		first, err := c.IssuePhone(ctx, NewIdempotencyKey(), req)
		if err != nil || first.State != api.CertGood || first.App != phonesim.DefaultApp {
			t.Fatalf("issue phone: %+v, %v", first, err)
		}
		if _, err := c.IssuePhone(ctx, NewIdempotencyKey(), req); !errors.Is(err, ErrRejected) || Code(err) != api.CodeAttestation {
			t.Errorf("the same challenge again: %v, want ErrRejected (attestation-not-allowed)", err)
		}
		req, ph := request(t, vendor, "", "device-2")
		if _, err := c.IssuePhone(ctx, NewIdempotencyKey(), req); !errors.Is(err, ErrConflict) || Code(err) != api.CodePhoneActive {
			t.Errorf("second phone without replace: %v, want ErrConflict (phone-active)", err)
		}
		req.Replace = true
		second, err := c.IssuePhone(ctx, NewIdempotencyKey(), req)
		if err != nil || second.Replaced != first.ID {
			t.Fatalf("replacement: %+v, %v", second, err)
		}
		if old, err := c.Phone(ctx, first.ID); err != nil || old.State != api.CertRevoked {
			t.Errorf("replaced phone: %+v, %v", old.State, err)
		}
		bad, _ := request(t, vendor, "com.example.unknown", "device-3")
		bad.Replace = true
		if _, err := c.IssuePhone(ctx, NewIdempotencyKey(), bad); !errors.Is(err, ErrRejected) || Code(err) != api.CodeAttestation {
			t.Errorf("unapproved app: %v, want ErrRejected (attestation-not-allowed)", err)
		}
		if ps, err := c.Phones(ctx, serial); err != nil || len(ps) != 2 || ps[1].ID != second.ID {
			t.Errorf("phones: %+v, %v", ps, err)
		}
		if p, err := c.SuspendPhone(ctx, NewIdempotencyKey(), second.ID); err != nil || p.State != api.CertSuspended {
			t.Errorf("suspend phone: %+v, %v", p.State, err)
		}
		if _, err := c.SuspendPhone(ctx, NewIdempotencyKey(), second.ID); !errors.Is(err, ErrConflict) || Code(err) != api.CodeCertState {
			t.Errorf("suspend twice: %v, want ErrConflict (cert-state)", err)
		}
		if p, err := c.LiftPhone(ctx, NewIdempotencyKey(), second.ID); err != nil || p.State != api.CertGood {
			t.Errorf("lift phone: %+v, %v", p.State, err)
		}
		ns, err := c.PhoneNotices(ctx, second.ID, 0)
		if err != nil || len(ns) != 2 || ns[0].Code != api.NoticeSuspended || ns[1].Code != api.NoticeResumed {
			t.Errorf("notices: %+v, %v", ns, err)
		}
		if len(ns) == 2 {
			if rest, err := c.PhoneNotices(ctx, second.ID, ns[0].ID); err != nil || len(rest) != 1 || rest[0].ID != ns[1].ID {
				t.Errorf("notices after %d: %+v, %v", ns[0].ID, rest, err)
			}
		}

		// An mdoc for a key of the phone, verified under the IACA root.
		mdocKey := func() (phone.Attestation, api.MdocRequest) {
			t.Helper()
			ch, err := c.ChallengePhone(ctx, NewIdempotencyKey())
			if err != nil {
				t.Fatal(err)
			}
			att, err := ph.GenerateKey(ctx, phone.PurposeMdoc, ch.Challenge)
			if err != nil {
				t.Fatal(err)
			}
			return att, api.MdocRequest{DeviceKey: att.SPKI, Attestation: att.Raw, Challenge: ch.Challenge}
		}
		att, mreq := mdocKey()
		md, err := c.IssueMdoc(ctx, NewIdempotencyKey(), second.ID, mreq)
		if err != nil || md.DocType != api.MdocDocType || !md.ValidUntil.Equal(second.Certificate.NotAfter) {
			t.Fatalf("mdoc: %+v, %v", md.DocType, err)
		}
		iacaPEM, _ := os.ReadFile(r.init.IACA.Cert)
		roots := x509.NewCertPool()
		roots.AddCert(parsePEMCert(t, iacaPEM))
		v, err := mdoc.Verify(md.IssuerSigned, roots, time.Now())
		if err != nil || !v.DeviceKey.Equal(att.PublicKey) {
			t.Fatalf("mdoc verify: %v", err)
		}
		rec, err := c.Card(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		if name, _ := v.Element("full_name_unicode"); name != rec.Holder.Name {
			t.Errorf("full_name_unicode %v, want the record's %s", name, rec.Holder.Name)
		}
		if _, ok := v.Element("individual_number_unicode"); ok {
			t.Error("the individual number went into the mdoc")
		}
		offer, err := c.CreateOffer(ctx, NewIdempotencyKey(), second.ID, api.OfferRequest{})
		if err != nil || !strings.HasPrefix(offer.OfferURI, "openid-credential-offer://?credential_offer=") || len(offer.TxCode) != 6 {
			t.Errorf("offer: %+v, %v", offer, err)
		}

		if p, err := c.RevokePhone(ctx, NewIdempotencyKey(), second.ID); err != nil || p.State != api.CertRevoked {
			t.Errorf("revoke phone: %+v, %v", p.State, err)
		}
		_, mreq = mdocKey()
		if _, err := c.IssueMdoc(ctx, NewIdempotencyKey(), second.ID, mreq); !errors.Is(err, ErrConflict) || Code(err) != api.CodeCertState {
			t.Errorf("mdoc for a revoked phone: %v, want ErrConflict (cert-state)", err)
		}
		if _, err := c.Phone(ctx, "nosuchphone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown phone: %v, want ErrNotFound", err)
		}
	})

	step("revoke, CRL", func(t *testing.T) {
		st, err := c.Revoke(ctx, NewIdempotencyKey(), CertSerial(authCert), api.Revocation{Reason: "keyCompromise"})
		if err != nil || st.State != api.CertRevoked {
			t.Fatalf("revoke: %+v, %v", st, err)
		}
		crl, err := FetchCRL(ctx, r.run.PublicURL, api.CAAuth)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(authCA); err != nil {
			t.Errorf("CRL signature: %v", err)
		}
		found := false
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(authCert.SerialNumber) == 0 {
				found = true
				if e.ReasonCode != 1 { // keyCompromise
					t.Errorf("CRL reason %d, want 1 (keyCompromise)", e.ReasonCode)
				}
			}
		}
		if !found {
			t.Errorf("CRL does not list %s", CertSerial(authCert))
		}
		if o := ocspStatus(t); o.Status != ocsp.Revoked || o.RevocationReason != ocsp.KeyCompromise {
			t.Errorf("OCSP after revocation: status %d reason %d", o.Status, o.RevocationReason)
		}
		if _, err := c.Lift(ctx, NewIdempotencyKey(), CertSerial(authCert)); !errors.Is(err, ErrConflict) {
			t.Errorf("lifting a revoked certificate: %v, want ErrConflict", err)
		}
		if _, err := FetchCRL(ctx, r.run.PublicURL, "nosuchca"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown CA: %v, want ErrNotFound", err)
		}
	})

	step("20 concurrent duplicates make one certificate", func(t *testing.T) {
		req := newCardKey(t).request(t, serial, api.CASign)
		key := NewIdempotencyKey()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			serials  = map[string]int{}
			replayed int
		)
		for range 20 {
			wg.Go(func() {
				var info ResponseInfo
				cert, err := c.IssueCertificate(WithResponseInfo(ctx, &info), key, serial, req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("duplicate: %v", err)
					return
				}
				serials[cert.Serial]++
				if info.Replayed {
					replayed++
				}
			})
		}
		wg.Wait()
		if len(serials) != 1 || replayed != 19 {
			t.Errorf("serials %v, %d replayed; want one serial, 19 replays", serials, replayed)
		}
		card, err := c.Card(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, cs := range card.Certificates {
			if cs.Purpose == api.CASign {
				n++
			}
		}
		if n != 1 {
			t.Errorf("card has %d signature certificates, want 1", n)
		}
	})

	step("events", func(t *testing.T) {
		now := time.Now()
		ev := api.Events{Events: []api.Event{{ID: "e1", Type: "issuance", At: now}, {ID: "e2", Type: "issuance", At: now}}}
		res, err := c.SendEvents(ctx, NewIdempotencyKey(), ev)
		if err != nil || res.Accepted != 2 || res.Duplicates != 0 {
			t.Errorf("first batch: %+v, %v", res, err)
		}
		ev.Events = append(ev.Events, api.Event{ID: "e3", Type: "renewal", At: now, Data: map[string]any{"step": "done"}})
		res, err = c.SendEvents(ctx, NewIdempotencyKey(), ev)
		if err != nil || res.Accepted != 1 || res.Duplicates != 2 {
			t.Errorf("second batch: %+v, %v", res, err)
		}
	})
}

func TestReferenceServerFaults(t *testing.T) {
	r := startSim(t, 0)
	ctx := t.Context()
	r.newCard(t, "FAULT0000001", api.StateIssued)

	t.Run("dropped after commit: the retry gets the first answer", func(t *testing.T) {
		r.run.SetFaults(sim.Faults{DropAfterCommitRate: 1})
		defer r.run.SetFaults(sim.Faults{})
		var info ResponseInfo
		res, err := r.c.SendEvents(WithResponseInfo(ctx, &info), NewIdempotencyKey(), api.Events{Events: []api.Event{{ID: "f1", Type: "t", At: time.Now()}}})
		if err != nil {
			t.Fatal(err)
		}
		// The server stored the answer (accepted 1) before dropping the
		// connection; the retry replays it instead of counting a duplicate.
		if !info.Replayed || res.Accepted != 1 || res.Duplicates != 0 {
			t.Errorf("result %+v, info %+v; want the first answer replayed", res, info)
		}
	})
	t.Run("duplicated delivery", func(t *testing.T) {
		r.run.SetFaults(sim.Faults{DuplicateRate: 1})
		defer r.run.SetFaults(sim.Faults{})
		cert, err := r.c.IssueCertificate(ctx, NewIdempotencyKey(), "FAULT0000001", newCardKey(t).request(t, "FAULT0000001", api.CAAuth))
		if err != nil {
			t.Fatal(err)
		}
		card, err := r.c.Card(ctx, "FAULT0000001")
		if err != nil {
			t.Fatal(err)
		}
		if len(card.Certificates) != 1 || card.Certificates[0].Serial != cert.Serial {
			t.Errorf("certificates %+v, want only %s", card.Certificates, cert.Serial)
		}
	})
	t.Run("503 every time: unreachable after three attempts", func(t *testing.T) {
		r.run.SetFaults(sim.Faults{ErrorRate: 1})
		defer r.run.SetFaults(sim.Faults{})
		var info ResponseInfo
		_, err := r.c.Health(WithResponseInfo(ctx, &info))
		if !errors.Is(err, ErrUnreachable) || Code(err) != api.CodeUnavailable || info.Attempts != MaxAttempts {
			t.Errorf("err %v, info %+v; want ErrUnreachable after %d attempts", err, info, MaxAttempts)
		}
	})
	t.Run("latency beyond the deadline", func(t *testing.T) {
		r.run.SetFaults(sim.Faults{LatencyMs: 2000})
		defer r.run.SetFaults(sim.Faults{})
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.c.Health(dctx)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want ErrUnreachable and DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v", d)
		}
	})
}

func TestReferenceServerTrust(t *testing.T) {
	r := startSim(t, 0)
	strangers := jlistest.NewPKI(t)
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"terminal certificate from another CA", Config{CertFile: strangers.CertFile, KeyFile: strangers.KeyFile, CAFile: r.init.RootCA}, ErrUnauthorised},
		{"server not under our CA file", Config{CertFile: r.init.TerminalCert, KeyFile: r.init.TerminalKey, CAFile: strangers.CAFile}, ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.BaseURL = r.run.URL
			c, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Health(t.Context()); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("revoked terminal", func(t *testing.T) {
		pemData, err := os.ReadFile(r.init.TerminalCert)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.run.RevokeTerminal(parsePEMCert(t, pemData)); err != nil {
			t.Fatal(err)
		}
		_, err = r.c.Health(t.Context())
		if !errors.Is(err, ErrUnauthorised) || Code(err) != api.CodeForbidden {
			t.Errorf("err = %v, want ErrUnauthorised (forbidden)", err)
		}
	})
}

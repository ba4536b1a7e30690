package simcard

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/card/tlv"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/jlis/sim"
)

// rig is the reference server over mutual TLS with a client for its first
// terminal.
type rig struct {
	dir string
	run *sim.Running
	c   *jlis.Client
}

func startRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	ir, err := sim.Init(dir)
	if err != nil {
		t.Fatalf("sim.Init: %v", err)
	}
	run, err := sim.Start(context.Background(), sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", RateLimit: 1000})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { run.Close() })
	c, err := jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("jlis.New: %v", err)
	}
	t.Cleanup(c.Close)
	return &rig{dir: dir, run: run, c: c}
}

// open puts a card state into a virtual slot and opens it with the driver.
func open(t *testing.T, st *cardsim.State) *card.Card {
	t.Helper()
	engine, err := cardsim.New(st, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := card.Open(context.Background(), cardsim.NewSlot(engine), card.Options{})
	if err != nil {
		t.Fatalf("card.Open: %v", err)
	}
	if c.Serial() != st.Serial {
		t.Fatalf("card serial %q, state %q", c.Serial(), st.Serial)
	}
	return c
}

// authorise relays a challenge of the application aid to the central
// system and the cryptogram back to the card, as a terminal does.
func (r *rig) authorise(t *testing.T, c *card.Card, aid []byte, op string, ref uint16, content []byte) {
	t.Helper()
	ctx := context.Background()
	chal, err := c.Challenge(ctx, aid)
	if err != nil {
		t.Fatal(err)
	}
	req := api.AuthoriseRequest{Operation: op, Ref: ref, Challenge: chal}
	if content != nil {
		d := card.Digest(content)
		req.Digest = d[:]
	}
	a, err := r.c.Authorise(ctx, jlis.NewIdempotencyKey(), c.Serial(), req)
	if err != nil {
		t.Fatalf("authorise %s %04X: %v", op, ref, err)
	}
	if err := c.Authorise(ctx, a.Cryptogram); err != nil {
		t.Fatalf("the card refused the central cryptogram for %s %04X: %v", op, ref, err)
	}
}

func TestMakeBlankCard(t *testing.T) {
	ctx := context.Background()
	r := startRig(t)
	st, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{Blank: true})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.c.Card(ctx, st.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != api.StateDelivered || rec.Profile != "current" || rec.Holder.Name != cardsim.DemoHolder.Name {
		t.Fatalf("record: %+v", rec)
	}
	c := open(t, st)
	if c.Profile() != card.Current {
		t.Fatalf("profile %s", c.Profile().Name)
	}
	// No PIN is set: VERIFY answers 6985 (conditions of use), not a count.
	for kind, v := range map[card.PINKind]string{card.PINAuth: "1234", card.PINSign: "MADOGUCHI1", card.PINInputAssist: "1234", card.PINResident: "1234"} {
		var se *card.StatusError
		if err := c.Verify(ctx, kind, secret.NewPIN(v)); !errors.As(err, &se) || se.SW != 0x6985 {
			t.Errorf("VERIFY %s on a blank card: %v", kind, err)
		}
	}
	for _, s := range card.Current.PINs {
		for _, a := range st.Apps {
			if bytes.Equal(a.AID, s.AID) && len(a.PINs[s.Ref].Hash) != 0 {
				t.Errorf("%s is set on a blank card", s.Kind)
			}
		}
	}
	if av, err := c.CertAvailability(ctx); err != nil || av.Auth || av.Sign {
		t.Fatalf("certificates on a blank card: %+v %v", av, err)
	}
	// The card's management key is the central system's: its cryptogram
	// lets the terminal set the first PIN.
	r.authorise(t, c, card.AIDJPKI, api.OpSetPIN, card.PINRefAuth, nil)
	if err := c.SetPIN(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatal(err)
	}
}

// birthDateFor is a birth date (1985) whose birthday is days from now.
func birthDateFor(days int) string {
	b := time.Now().In(jpki.JST).AddDate(0, 0, days)
	if b.Month() == time.February && b.Day() == 29 {
		b = b.AddDate(0, 0, 1)
	}
	return fmt.Sprintf("1985%02d%02d", int(b.Month()), b.Day())
}

func TestMakeBackDatedCard(t *testing.T) {
	ctx := context.Background()
	r := startRig(t)
	// Issued 4 years 10 months ago, birthday in 45 days: the certificates
	// run to the 5th birthday after issue, 45 days from now — inside the
	// 3-month renewal window.
	issued := time.Now().AddDate(-4, -10, 0)
	h := cardsim.Holder{Name: "期限　近子", Address: "デモ県デモ市東町一丁目１番１号", BirthDate: birthDateFor(45), Sex: "2"}
	st, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{Holder: h, Issued: issued})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.c.Card(ctx, st.Serial)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := cardsim.ValidityFor(card.Current, h.BirthDate, issued)
	if rec.State != api.StateIssued || rec.Holder.Name != h.Name || rec.CardExpiry != v.Card.In(jpki.JST).Format("20060102") {
		t.Fatalf("record: %+v, want issued with card expiry %s", rec, v.Card.Format("20060102"))
	}
	if len(rec.History) != 2 || rec.History[0].To != api.StateDelivered || rec.History[1].To != api.StateIssued {
		t.Fatalf("history: %+v", rec.History)
	}
	c := open(t, st)
	now := time.Now()
	check := func(what string, cert *x509.Certificate, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !cert.NotAfter.After(now) || cert.NotAfter.After(now.AddDate(0, 3, 0)) {
			t.Errorf("%s expires %s, want within 3 months of %s", what, cert.NotAfter, now)
		}
	}
	auth, err := c.AuthCertificate(ctx)
	check("authentication certificate", auth, err)
	if err := c.Verify(ctx, card.PINSign, secret.NewPIN(cardsim.DemoPINs.Sign)); err != nil {
		t.Fatal(err)
	}
	sign, err := c.SignCertificate(ctx)
	check("signature certificate", sign, err)
	// The central system knows the certificates the card left the factory
	// with: the record lists both, and the card's are good.
	if len(rec.Certificates) != 2 {
		t.Fatalf("record lists %d certificates, want the factory's 2: %+v", len(rec.Certificates), rec.Certificates)
	}
	for _, cert := range []*x509.Certificate{auth, sign} {
		cs, err := r.c.CertificateStatus(ctx, jlis.CertSerial(cert))
		if err != nil || cs.State != api.CertGood || cs.CardSerial != st.Serial {
			t.Errorf("status of %s: %+v %v", jlis.CertSerial(cert), cs, err)
		}
	}
	// The demo PINs work, and the individual number is DemoHolder's.
	if err := c.Verify(ctx, card.PINInputAssist, secret.NewPIN(cardsim.DemoPINs.InputAssist)); err != nil {
		t.Fatal(err)
	}
	mn, err := c.MyNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = mn.Reveal(func(b []byte) error {
		if string(b) != cardsim.DemoHolder.IndividualNumber {
			t.Error("individual number is not DemoHolder's")
		}
		return nil
	})
}

// issueSign makes a signature key on the card and has the central system
// certify it (proof of possession), then writes the certificate; it
// returns the certificate and its issuing CA's.
func (r *rig) issueSign(t *testing.T, c *card.Card) (cert, ca *x509.Certificate) {
	t.Helper()
	ctx := context.Background()
	r.authorise(t, c, card.AIDJPKI, api.OpGenerateKey, card.KeySign, nil)
	pub, err := c.GenerateKey(ctx, card.PINSign)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	if err := c.Verify(ctx, card.PINSign, secret.NewPIN(cardsim.DemoPINs.Sign)); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(api.PoPMessage(c.Serial(), api.CASign, spki))
	proof, err := c.Sign(ctx, card.PINSign, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := r.c.IssueCertificate(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.CertRequest{Purpose: api.CASign, PublicKey: spki, Proof: proof})
	if err != nil {
		t.Fatal(err)
	}
	r.authorise(t, c, card.AIDJPKI, api.OpWriteCert, card.EFSignCert, issued.DER)
	if err := c.WriteCertificate(ctx, card.PINSign, issued.DER); err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(issued.DER); err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(issued.Chain[0]); err != nil {
		t.Fatal(err)
	}
	return cert, ca
}

func TestChangeDetailsEndToEnd(t *testing.T) {
	ctx := context.Background()
	r := startRig(t)
	st, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, st)
	prof := c.Profile()
	iss, err := sim.CardIssuer(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []card.IssuerKey{{ID: iss.CVRootID, Key: iss.CVRootPublicKey()}}

	// A signature certificate from the central system, with the old details.
	signCert, signCA := r.issueSign(t, c)
	signSerial := jlis.CertSerial(signCert)

	// The terminal reads DF31 of the card's integrity record (the
	// individual number's digest) and the individual number itself, only
	// to check the new record against it below.
	if err := c.Verify(ctx, card.PINInputAssist, secret.NewPIN(cardsim.DemoPINs.InputAssist)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MyNumber(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyInputAssist(ctx, trusted); err != nil {
		t.Fatalf("the card's data before the change: %v", err)
	}
	old, err := c.ReadFile(ctx, prof.InputAssist, prof.IntegrityEF)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := tlv.First(old, 0xFF30)
	if err != nil {
		t.Fatal(err)
	}
	kids, err := outer.Children()
	if err != nil {
		t.Fatal(err)
	}
	df31 := kids[0xDF31].Value

	h := cardsim.DemoHolder
	change := api.DetailsChange{
		Holder:         api.Holder{Name: h.Name, Address: "デモ県デモ市西町九丁目８番７号", BirthDate: h.BirthDate, Sex: h.Sex},
		MyNumberDigest: df31,
	}
	key := jlis.NewIdempotencyKey()
	td, err := r.c.ChangeDetails(ctx, key, c.Serial(), change)
	if err != nil {
		t.Fatal(err)
	}
	if td.Card.Holder != change.Holder || td.Card.State != api.StateIssued {
		t.Fatalf("record after the change: %+v", td.Card)
	}
	if last := td.Card.History[len(td.Card.History)-1]; last.From != api.StateIssued || last.To != api.StateIssued || last.Reason != api.ReasonDetailsChanged || last.Terminal != "terminal-01" {
		t.Fatalf("history entry: %+v", last)
	}
	if len(td.RevokedSign) != 1 || td.RevokedSign[0] != signSerial {
		t.Fatalf("revoked %v, want [%s]", td.RevokedSign, signSerial)
	}
	if bytes.Contains(td.BasicFour, []byte(h.IndividualNumber)) {
		t.Fatal("the individual number is in EF 0002")
	}

	// The terminal writes both EFs under the central system's grants.
	for _, w := range []struct {
		ef      uint16
		content []byte
	}{{prof.BasicFourEF, td.BasicFour}, {prof.IntegrityEF, td.Integrity}} {
		r.authorise(t, c, prof.InputAssist, api.OpWriteText, w.ef, w.content)
		if err := c.WriteFile(ctx, prof.InputAssist, w.ef, w.content); err != nil {
			t.Fatalf("write %04X: %v", w.ef, err)
		}
	}
	bf, err := c.BasicFour(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bf.Address != change.Holder.Address || bf.Name != h.Name || bf.BirthDate != h.BirthDate || bf.Sex != h.Sex {
		t.Fatalf("basic four on the card: %+v", bf)
	}
	// The new record verifies under the issuer's CV root, the individual
	// number (read above) included.
	if err := c.VerifyInputAssist(ctx, trusted); err != nil {
		t.Fatalf("the new data fails its integrity check: %v", err)
	}
	other, err := cardsim.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyInputAssist(ctx, []card.IssuerKey{{ID: other.CVRootID, Key: other.CVRootPublicKey()}}); err == nil {
		t.Fatal("the new data verifies under another issuer")
	}

	// The old signature certificate is revoked: status, OCSP and CRL.
	cs, err := r.c.CertificateStatus(ctx, signSerial)
	if err != nil || cs.State != api.CertRevoked || cs.Reason != "affiliationChanged" {
		t.Fatalf("signature certificate: %+v %v", cs, err)
	}
	resp, err := jlis.OCSP(ctx, r.run.PublicURL, signCert, signCA)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.AffiliationChanged {
		t.Fatalf("OCSP: status %d reason %d", resp.Status, resp.RevocationReason)
	}
	crl, err := jlis.FetchCRL(ctx, r.run.PublicURL, api.CASign)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		listed = listed || (e.SerialNumber.Cmp(signCert.SerialNumber) == 0 && e.ReasonCode == ocsp.AffiliationChanged)
	}
	if !listed {
		t.Fatal("the CRL does not list the signature certificate as affiliationChanged")
	}

	// The same key replays the first answer; no second history entry.
	var info jlis.ResponseInfo
	again, err := r.c.ChangeDetails(jlis.WithResponseInfo(ctx, &info), key, c.Serial(), change)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Replayed || !bytes.Equal(again.BasicFour, td.BasicFour) || !bytes.Equal(again.Integrity, td.Integrity) || len(again.RevokedSign) != 1 {
		t.Fatalf("replay: replayed=%v", info.Replayed)
	}
	if n, err := r.run.Transitions(ctx, c.Serial()); err != nil || n != len(td.Card.History) {
		t.Fatalf("%d history entries after the replay, want %d (%v)", n, len(td.Card.History), err)
	}
	// The same key with another body is refused.
	change2 := change
	change2.Holder.Address = "デモ県デモ市別町"
	if _, err := r.c.ChangeDetails(ctx, key, c.Serial(), change2); !errors.Is(err, jlis.ErrConflict) || jlis.Code(err) != api.CodeIdempotencyReused {
		t.Fatalf("same key, other body: %v", err)
	}
	// A second change with nothing left to revoke.
	td2, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), c.Serial(), change2)
	if err != nil || len(td2.RevokedSign) != 0 || td2.Card.Holder.Address != change2.Holder.Address {
		t.Fatalf("second change: %+v %v", td2, err)
	}

	// Malformed requests.
	bad := change
	bad.MyNumberDigest = df31[:16]
	if _, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), c.Serial(), bad); jlis.Code(err) != api.CodeBadRequest {
		t.Fatalf("short digest: %v", err)
	}
	bad = change
	bad.Holder.Name = ""
	if _, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), c.Serial(), bad); jlis.Code(err) != api.CodeBadRequest {
		t.Fatalf("no name: %v", err)
	}
	if _, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), "NOSUCHCARD", change); !errors.Is(err, jlis.ErrNotFound) {
		t.Fatalf("unknown card: %v", err)
	}

	// A card that is not issued is refused.
	blank, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{Blank: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), blank.Serial, change); !errors.Is(err, jlis.ErrConflict) || jlis.Code(err) != api.CodeCardState {
		t.Fatalf("delivered card: %v", err)
	}
}

// TestNextGenerationDetails: a next-generation card (input-assist data in
// the JPKI application, opened by the auth PIN) takes the new data too.
func TestNextGenerationDetails(t *testing.T) {
	ctx := context.Background()
	r := startRig(t)
	st, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{Profile: card.Next})
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, st)
	prof := c.Profile()
	if prof != card.Next {
		t.Fatalf("profile %s", prof.Name)
	}
	if rec, err := r.c.Card(ctx, st.Serial); err != nil || rec.Profile != "next" || rec.State != api.StateIssued {
		t.Fatalf("record: %+v %v", rec, err)
	}
	iss, _ := sim.CardIssuer(r.dir)
	trusted := []card.IssuerKey{{ID: iss.CVRootID, Key: iss.CVRootPublicKey()}}
	if err := c.Verify(ctx, card.PINAuth, secret.NewPIN(cardsim.DemoPINs.Auth)); err != nil {
		t.Fatal(err)
	}
	rec, err := c.ReadFile(ctx, prof.InputAssist, prof.IntegrityEF)
	if err != nil {
		t.Fatal(err)
	}
	outer, _ := tlv.First(rec, 0xFF30)
	kids, _ := outer.Children()
	h := cardsim.DemoHolder
	td, err := r.c.ChangeDetails(ctx, jlis.NewIdempotencyKey(), st.Serial, api.DetailsChange{
		Holder: api.Holder{Name: "窓口　花", Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex}, MyNumberDigest: kids[0xDF31].Value})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		ef      uint16
		content []byte
	}{{prof.BasicFourEF, td.BasicFour}, {prof.IntegrityEF, td.Integrity}} {
		r.authorise(t, c, prof.InputAssist, api.OpWriteText, w.ef, w.content)
		if err := c.WriteFile(ctx, prof.InputAssist, w.ef, w.content); err != nil {
			t.Fatalf("write %04X: %v", w.ef, err)
		}
	}
	if bf, err := c.BasicFour(ctx); err != nil || bf.Name != "窓口　花" {
		t.Fatalf("basic four: %+v %v", bf, err)
	}
	if err := c.VerifyInputAssist(ctx, trusted); err != nil {
		t.Fatal(err)
	}
}

// TestFactoryCertificatesChecked: the central system records only
// certificates the card issuer's CA of that purpose signed.
func TestFactoryCertificatesChecked(t *testing.T) {
	ctx := context.Background()
	r := startRig(t)
	st, err := MakeCard(ctx, r.dir, r.c, FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	auth, sign := st.Certificates()
	if auth == nil || sign == nil {
		t.Fatal("an issued card without its certificates")
	}
	nc := func(serial string, fc ...api.FactoryCertificate) api.NewCard {
		return api.NewCard{Serial: serial, Profile: "current", Holder: api.Holder{Name: "検査　太郎", BirthDate: "19800101"}, Certificates: fc}
	}
	for name, tc := range map[string]api.NewCard{
		"auth declared as sign": nc("ZZ0000000001", api.FactoryCertificate{Purpose: api.CASign, DER: auth}),
		"not a certificate":     nc("ZZ0000000002", api.FactoryCertificate{Purpose: api.CAAuth, DER: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}),
		"unknown purpose":       nc("ZZ0000000003", api.FactoryCertificate{Purpose: "phone", DER: auth}),
	} {
		_, err := r.c.RegisterCard(ctx, jlis.NewIdempotencyKey(), tc)
		var ae *jlis.ProblemError
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Errorf("%s: %v, want a 400 refusal", name, err)
		}
		if _, err := r.c.Card(ctx, tc.Serial); err == nil {
			t.Errorf("%s: the card was registered anyway", name)
		}
	}
}

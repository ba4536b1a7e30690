package sim

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis/api"
)

// TestCentralAuthorisesTheCard runs the issuance backbone end to end: a
// blank virtual card whose management key is diversified from this
// server's master key; the terminal relays the card's challenges and the
// server's cryptograms to set a PIN, generate a key, certify it (proof of
// possession signed by the card) and write the certificate. The terminal
// never holds the card-management key.
func TestCentralAuthorisesTheCard(t *testing.T) {
	ctx := context.Background()
	r := startRig(t, Options{RateLimit: 1000})
	iss, err := cardsim.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cardsim.Generate(iss, cardsim.Options{Holder: cardsim.DemoHolder, Blank: true})
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := os.ReadFile(r.init.MasterKey)
	master, _ := hex.DecodeString(strings.TrimSpace(string(mk)))
	st.MgmtKey = card.DiversifyKey(master, st.Serial) // as the card factory would
	engine, err := cardsim.New(st, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := card.Open(ctx, cardsim.NewSlot(engine), card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := cardsim.DemoHolder
	if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards", newKey(), api.NewCard{Serial: c.Serial(), Profile: "current", Municipality: "99999",
		Holder: api.Holder{Name: h.Name, Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex}}, nil); code != 201 {
		t.Fatalf("register: %d %+v", code, p)
	}
	if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+c.Serial()+"/transitions", newKey(), api.Transition{To: api.StateDelivered}, nil); code != 200 {
		t.Fatalf("deliver: %d %+v", code, p)
	}
	authorise := func(op string, ref uint16, digest []byte) {
		t.Helper()
		chal, err := c.Challenge(ctx, card.AIDJPKI)
		if err != nil {
			t.Fatal(err)
		}
		var a api.Authorisation
		if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+c.Serial()+"/authorisations", newKey(), api.AuthoriseRequest{Operation: op, Ref: ref, Digest: digest, Challenge: chal}, &a); code != 201 {
			t.Fatalf("authorise %s: %d %+v", op, code, p)
		}
		if err := c.Authorise(ctx, a.Cryptogram); err != nil {
			t.Fatalf("card refused the central cryptogram for %s: %v", op, err)
		}
		// The same challenge is never answered twice.
		if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+c.Serial()+"/authorisations", newKey(), api.AuthoriseRequest{Operation: op, Ref: ref, Digest: digest, Challenge: chal}, nil); code != 409 || p.Code != api.CodeChallengeReused {
			t.Fatalf("challenge answered twice: %d %+v", code, p)
		}
	}
	authorise(api.OpSetPIN, card.PINRefAuth, nil)
	if err := c.SetPIN(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatal(err)
	}
	authorise(api.OpGenerateKey, card.KeyAuth, nil)
	pub, err := c.GenerateKey(ctx, card.PINAuth)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	if err := c.Verify(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(api.PoPMessage(c.Serial(), "auth", spki))
	proof, err := c.Sign(ctx, card.PINAuth, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var cert api.Certificate
	if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+c.Serial()+"/certificates", newKey(), api.CertRequest{Purpose: "auth", PublicKey: spki, Proof: proof}, &cert); code != 201 {
		t.Fatalf("certify: %d %+v", code, p)
	}
	d := card.Digest(cert.DER)
	authorise(api.OpWriteCert, card.EFAuthCert, d[:])
	if err := c.WriteCertificate(ctx, card.PINAuth, cert.DER); err != nil {
		t.Fatal(err)
	}
	onCard, err := c.AuthCertificate(ctx)
	if err != nil || onCard.SerialNumber.Text(16) != strings.ToLower(cert.Serial) {
		t.Fatalf("certificate on the card: %v", err)
	}
	// A cryptogram for another card does not open this one.
	other, _ := cardsim.Generate(iss, cardsim.Options{Holder: cardsim.DemoHolder, Blank: true})
	chal, _ := c.Challenge(ctx, card.AIDJPKI)
	g := card.Grant{Op: card.OpSetPIN, Ref: card.PINRefSign}
	forged := card.Cryptogram(g, card.CryptogramMAC(card.DiversifyKey(master, other.Serial), other.Serial, chal, g))
	if err := c.Authorise(ctx, forged); err == nil {
		t.Fatal("a cryptogram for another card was accepted")
	}
}

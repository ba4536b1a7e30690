package flow

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/mdoc"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// phoneRig adds phones to the step rig: an issued card (through Issue, so
// the central system knows its certificates) and virtual phones of the
// approved vendor or of another.
type phoneRig struct {
	*stepRig
	card   *card.Card
	vendor *phonesim.Vendor
}

func newPhoneRig(t *testing.T) *phoneRig {
	t.Helper()
	r := newStepRig(t)
	ctx := context.Background()
	_, c := r.newCard("blank")
	if _, err := r.ports.Issue(ctx, c, IssueInput{Visit: adult(), PINs: adultPINs("auth", "5307", "sign", "PASSWORD7", "input-assist", "5307", "resident", "5307")}); err != nil {
		t.Fatal(err)
	}
	v, err := phonesim.LoadOrCreateVendor(filepath.Join(r.simDir, phonesim.VendorFile), phonesim.DefaultVendorName)
	if err != nil {
		t.Fatal(err)
	}
	return &phoneRig{stepRig: r, card: c, vendor: v}
}

func (r *phoneRig) phone(t *testing.T, v *phonesim.Vendor, auto bool) (*phonesim.Phone, *phone.Phone) {
	t.Helper()
	sp, err := phonesim.New(phonesim.Options{Vendor: v, SecureElement: phonesim.DefaultSecureElement, App: phonesim.DefaultApp, Model: "Test Phone", AutoApprove: auto})
	if err != nil {
		t.Fatal(err)
	}
	p, err := phone.Open(context.Background(), phonesim.NewSlot(sp))
	if err != nil {
		t.Fatal(err)
	}
	return sp, p
}

func (r *phoneRig) holder(t *testing.T) PhoneHolder {
	t.Helper()
	rec, _ := r.ports.Central.Card(context.Background(), r.card.Serial())
	check := checkB(t, rec)
	h, err := r.ports.PhoneCard(context.Background(), r.card, PhoneCardInput{Visit: adult(), SignPIN: secret.NewPIN("PASSWORD7"), FaceCheck: secret.NewPIN(check)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkB is the demo holder's 照合番号B: Shōwa 60 (1985), April 1st, the
// card's expiry year, the security code.
func checkB(t *testing.T, rec api.Card) string {
	t.Helper()
	return "600401" + rec.CardExpiry[:4] + "1234"
}

// TestPhoneStore stores both credentials on an approved phone, checks
// them on the phone and at the central system, and verifies the mdoc with
// the central system's IACA root.
func TestPhoneStore(t *testing.T) {
	ctx := context.Background()
	r := newPhoneRig(t)
	h := r.holder(t)
	if len(h.Portrait) == 0 {
		t.Fatal("no portrait read from the card")
	}
	sp, p := r.phone(t, r.vendor, true)
	res, err := r.ports.PhoneStore(ctx, p, PhoneStoreInput{Holder: h, Mdoc: true, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if res.PhoneID == "" || res.Receipt.Number == "" || res.Expiry.Auth.IsZero() || res.PhoneTaps != 1 {
		t.Fatalf("result: %+v", res)
	}
	creds := sp.Credentials()
	if len(creds) != 2 {
		t.Fatalf("%d credentials on the phone, want 2", len(creds))
	}
	var md []byte
	for _, c := range creds {
		if c.Type == phone.CredentialMdoc {
			md = c.Data
		}
	}
	iacaPEM, err := os.ReadFile(filepath.Join(r.simDir, "pki", "iaca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(iacaPEM)
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	v, err := mdoc.Verify(md, pool, time.Now())
	if err != nil {
		t.Fatalf("mdoc: %v", err)
	}
	ns := v.Elements["org.iso.23220.1.jp"]
	if ns["full_name_unicode"] != "窓口　花子" || ns["portrait"] == nil {
		t.Errorf("mdoc elements: %v", ns)
	}
	if _, ok := ns["individual_number_unicode"]; ok {
		t.Error("the mdoc carries the individual number")
	}
	phones, err := r.ports.Central.Phones(ctx, r.card.Serial())
	if err != nil || len(phones) != 1 || phones[0].State != api.CertGood {
		t.Fatalf("phones at the central system: %+v %v", phones, err)
	}
}

// TestPhoneRefusals: an unapproved secure element is refused; the phone
// signs nothing without the holder's approval; a second phone needs the
// clerk's confirmation, then revokes the first, which learns it at its
// next tap; revoking the card's certificate revokes the phone.
func TestPhoneRefusals(t *testing.T) {
	ctx := context.Background()
	r := newPhoneRig(t)
	h := r.holder(t)

	other, _ := phonesim.NewVendor("Unknown SE Vendor")
	_, bad := r.phone(t, other, true)
	_, err := r.ports.PhoneStore(ctx, bad, PhoneStoreInput{Holder: h})
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepCertify || jlis.Code(err) != api.CodeAttestation {
		t.Fatalf("unapproved phone: %v", err)
	}

	sp, noApproval := r.phone(t, r.vendor, false)
	_, err = r.ports.PhoneStore(ctx, noApproval, PhoneStoreInput{Holder: h, ApprovalWait: 700 * time.Millisecond})
	if !errors.Is(err, ErrNoApproval) {
		t.Fatalf("without approval: %v", err)
	}
	if len(sp.Credentials()) != 0 {
		t.Fatal("a credential was stored without the holder's approval")
	}
	// The holder approves on the phone: the same tap goes through.
	go func() { time.Sleep(300 * time.Millisecond); sp.Approve() }()
	first, err := r.ports.PhoneStore(ctx, noApproval, PhoneStoreInput{Holder: h, ApprovalWait: 5 * time.Second})
	if err != nil {
		t.Fatalf("after approval: %v", err)
	}

	// Device change.
	sp2, p2 := r.phone(t, r.vendor, true)
	if _, err := r.ports.PhoneStore(ctx, p2, PhoneStoreInput{Holder: h}); !errors.Is(err, ErrPhoneExists) {
		t.Fatalf("second phone without confirmation: %v", err)
	}
	second, err := r.ports.PhoneStore(ctx, p2, PhoneStoreInput{Holder: h, Replace: true})
	if err != nil || second.Replaced != first.PhoneID {
		t.Fatalf("device change: %+v %v", second, err)
	}
	if err := r.ports.DeliverNotices(ctx, noApproval); err != nil {
		t.Fatal(err)
	}
	st, _ := noApproval.Status(ctx)
	if len(st) != 1 || st[0].State != phone.StateRevoked || len(sp.Inbox()) == 0 || sp.Inbox()[0].Code != phone.NoticeRevoked {
		t.Fatalf("the old phone after the change: %+v inbox %+v", st, sp.Inbox())
	}

	// The card's authentication certificate revoked: the phone follows.
	auth, _ := r.card.AuthCertificate(ctx)
	if _, err := r.ports.Central.Revoke(ctx, jlis.NewIdempotencyKey(), auth.SerialNumber.Text(16), api.Revocation{Reason: "keyCompromise"}); err != nil {
		t.Fatal(err)
	}
	if err := r.ports.DeliverNotices(ctx, p2); err != nil {
		t.Fatal(err)
	}
	st, _ = p2.Status(ctx)
	if len(st) != 1 || st[0].State != phone.StateRevoked || len(sp2.Inbox()) == 0 {
		t.Fatalf("the phone after the card's certificate was revoked: %+v", st)
	}
}

package phone_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"madoguchi/drivers/mdoc/mdoctest"
	"math/big"
	"sync"
	"testing"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/phone"
	"madoguchi/drivers/phone/sim"
)

var (
	vendorOnce sync.Once
	vendor     *sim.Vendor
)

func testVendor(t testing.TB) *sim.Vendor {
	t.Helper()
	vendorOnce.Do(func() {
		var err error
		if vendor, err = sim.NewVendor(sim.DefaultVendorName); err != nil {
			panic(err)
		}
	})
	return vendor
}

func roots(v *sim.Vendor) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(v.RootCert())
	return p
}

// clock is an injectable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newSim(t testing.TB, o sim.Options) (*sim.Phone, *sim.Slot) {
	t.Helper()
	if o.Vendor == nil {
		o.Vendor = testVendor(t)
	}
	ph, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return ph, sim.NewSlot(ph)
}

func open(t testing.TB, tr card.Transceiver) *phone.Phone {
	t.Helper()
	p, err := phone.Open(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func challenge(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestOpenAndInfo(t *testing.T) {
	ph, slot := newSim(t, sim.Options{Model: "Pixel Test", SecureElement: "Test SE", App: "Test Wallet", AppVersion: "2.3.4", OS: "Android 16"})
	p := open(t, slot)
	d := p.Info()
	want := ph.Device()
	if !bytes.Equal(d.ID, want.ID) || len(d.ID) != phone.DeviceIDLen || d.Model != "Pixel Test" || d.SecureElement != "Test SE" ||
		d.App != "Test Wallet" || d.AppVersion != "2.3.4" || d.OS != "Android 16" {
		t.Fatalf("info %+v, want %+v", d, want)
	}
	if p.APDUCount() != 2 {
		t.Fatalf("Open sent %d APDUs, want 2 (SELECT, GET DEVICE INFO)", p.APDUCount())
	}
	// Defaults, and a device id that differs per phone.
	ph2, slot2 := newSim(t, sim.Options{})
	d2 := open(t, slot2).Info()
	if d2.SecureElement != sim.DefaultSecureElement || d2.App != sim.DefaultApp || bytes.Equal(d2.ID, d.ID) {
		t.Fatalf("defaults %+v", d2)
	}
	_ = ph2
}

// fixed answers every APDU with the same bytes.
type fixed []byte

func (f fixed) Transmit(context.Context, []byte) ([]byte, error) { return f, nil }

func TestOpenNotWallet(t *testing.T) {
	for _, r := range [][]byte{{0x6A, 0x82}, {0x6D, 0x00}, {0x6E, 0x00}} {
		if _, err := phone.Open(context.Background(), fixed(r)); !errors.Is(err, phone.ErrNotWallet) {
			t.Fatalf("%X: %v, want ErrNotWallet", r, err)
		}
	}
	if _, err := phone.Open(context.Background(), fixed{0x90}); !errors.Is(err, phone.ErrMalformed) {
		t.Fatalf("1-byte answer: %v", err)
	}
	var se *phone.StatusError
	if _, err := phone.Open(context.Background(), fixed{0x6F, 0x00}); !errors.As(err, &se) || se.SW != 0x6F00 {
		t.Fatalf("6F00: %v", err)
	}
}

func TestOpenRemoved(t *testing.T) {
	_, slot := newSim(t, sim.Options{})
	slot.Remove()
	if _, err := phone.Open(context.Background(), slot); !errors.Is(err, card.ErrCardRemoved) {
		t.Fatalf("%v, want ErrCardRemoved", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slot.Insert()
	if _, err := phone.Open(ctx, slot); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestGenerateKey(t *testing.T) {
	ph, slot := newSim(t, sim.Options{})
	p := open(t, slot)
	ctx := context.Background()
	for _, purpose := range []phone.Purpose{phone.PurposeAuth, phone.PurposeMdoc} {
		for _, n := range []int{phone.MinChallenge, phone.MaxChallenge} {
			ch := challenge(n)
			before := p.APDUCount()
			a, err := p.GenerateKey(ctx, purpose, ch)
			if err != nil {
				t.Fatal(err)
			}
			if p.APDUCount()-before < 2 {
				t.Errorf("the attestation (%d bytes) should need GET RESPONSE", len(a.Raw))
			}
			if err := a.VerifyChallenge(roots(testVendor(t)), ch); err != nil {
				t.Fatal(err)
			}
			if a.SecureElement != sim.DefaultSecureElement || a.App != sim.DefaultApp || a.AppVersion != sim.DefaultAppVersion || len(a.KeyID) != 8 {
				t.Fatalf("attestation %+v", a)
			}
			if !bytes.Equal(a.Certificate.Raw, ph.AttestationCert().Raw) {
				t.Fatal("attestation certificate differs from the phone's")
			}
			if err := a.VerifyChallenge(roots(testVendor(t)), challenge(n)); !errors.Is(err, phone.ErrAttestationChallenge) {
				t.Fatalf("other challenge: %v", err)
			}
		}
	}
	if ph.KeyCount() != 4 {
		t.Fatalf("%d keys", ph.KeyCount())
	}
	n := p.APDUCount()
	for _, bad := range []struct {
		purpose phone.Purpose
		ch      []byte
	}{{phone.PurposeAuth, challenge(15)}, {phone.PurposeAuth, challenge(65)}, {3, challenge(32)}, {0, challenge(32)}} {
		if _, err := p.GenerateKey(ctx, bad.purpose, bad.ch); !errors.Is(err, phone.ErrInvalid) {
			t.Fatalf("%v %d: %v", bad.purpose, len(bad.ch), err)
		}
	}
	if p.APDUCount() != n {
		t.Fatal("invalid arguments were sent")
	}
	for range phone.MaxKeys - 4 {
		if _, err := p.GenerateKey(ctx, phone.PurposeAuth, challenge(16)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.GenerateKey(ctx, phone.PurposeAuth, challenge(16)); !errors.Is(err, phone.ErrFull) {
		t.Fatalf("key %d: %v", phone.MaxKeys+1, err)
	}
}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestSignNeedsApproval(t *testing.T) {
	clk := &clock{now: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	ph, slot := newSim(t, sim.Options{Now: clk.Now})
	p := open(t, slot)
	ctx := context.Background()
	a, err := p.GenerateKey(ctx, phone.PurposeAuth, challenge(32))
	if err != nil {
		t.Fatal(err)
	}
	d := digest("hello")

	// No approval: refused, and the phone shows the prompt.
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, phone.ErrNeedsApproval) {
		t.Fatalf("without approval: %v", err)
	}
	if !ph.SignatureRequested() {
		t.Fatal("the phone did not record the request")
	}

	// One approval, one signature.
	ph.Approve()
	if ph.SignatureRequested() {
		t.Fatal("the prompt stays after approval")
	}
	// An unknown key does not use the approval up.
	if _, err := p.Sign(ctx, []byte("12345678"), d); !errors.Is(err, phone.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	clk.Add(59 * time.Second)
	sig, err := p.Sign(ctx, a.KeyID, d)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(a.PublicKey, d, sig) {
		t.Fatal("the signature does not verify with the attested key")
	}
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, phone.ErrNeedsApproval) {
		t.Fatalf("second signature on one approval: %v", err)
	}

	// An approval expires after 60 s, and an expired one is gone.
	ph.Approve()
	clk.Add(60 * time.Second)
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, phone.ErrNeedsApproval) {
		t.Fatalf("after 60 s: %v", err)
	}
	clk.Add(-30 * time.Second)
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, phone.ErrNeedsApproval) {
		t.Fatalf("expired approval came back: %v", err)
	}

	// An approval survives the phone leaving the reader (NFC session).
	ph.Approve()
	slot.Remove()
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, card.ErrCardRemoved) {
		t.Fatalf("removed: %v", err)
	}
	slot.Insert()
	p = open(t, slot)
	if _, err := p.Sign(ctx, a.KeyID, d); err != nil {
		t.Fatalf("after re-tap: %v", err)
	}

	// Bad arguments are refused before sending.
	for _, c := range []struct{ id, d []byte }{{a.KeyID[:7], d}, {a.KeyID, d[:31]}, {nil, nil}} {
		if _, err := p.Sign(ctx, c.id, c.d); !errors.Is(err, phone.ErrInvalid) {
			t.Fatalf("%d/%d: %v", len(c.id), len(c.d), err)
		}
	}
}

func TestSignAutoApprove(t *testing.T) {
	_, slot := newSim(t, sim.Options{AutoApprove: true})
	p := open(t, slot)
	ctx := context.Background()
	a, err := p.GenerateKey(ctx, phone.PurposeMdoc, challenge(16))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d := digest(fmt.Sprint(i))
		sig, err := p.Sign(ctx, a.KeyID, d)
		if err != nil || !ecdsa.VerifyASN1(a.PublicKey, d, sig) {
			t.Fatalf("signature %d: %v", i, err)
		}
	}
}

// issueChain certifies pub under a throwaway CA: leaf, CA.
func issueChain(t testing.TB, pub any, notAfter time.Time) []byte {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "holder",
		OrganizationalUnit: []string{string(bytes.Repeat([]byte("x"), 300))}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	leaf, err := x509.CreateCertificate(rand.Reader, leafT, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return append(leaf, caDER...)
}

func TestCredentials(t *testing.T) {
	ph, slot := newSim(t, sim.Options{})
	p := open(t, slot)
	ctx := context.Background()
	auth, err := p.GenerateKey(ctx, phone.PurposeAuth, challenge(32))
	if err != nil {
		t.Fatal(err)
	}
	mdocKey, err := p.GenerateKey(ctx, phone.PurposeMdoc, challenge(32))
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Date(2031, 3, 31, 14, 59, 59, 0, time.UTC)
	chain := issueChain(t, auth.PublicKey, notAfter)
	certCred := phone.Credential{ID: "jpki-auth-1", Type: phone.CredentialCertChain, KeyID: auth.KeyID, NotAfter: notAfter, Data: chain}

	before := p.APDUCount()
	if err := p.PutCredential(ctx, certCred); err != nil {
		t.Fatal(err)
	}
	wire := len(phone.EncodeCredential(certCred))
	if got, want := p.APDUCount()-before, (wire+254)/255; got != want || want < 3 {
		t.Fatalf("%d-byte credential went in %d APDUs, want %d", wire, got, want)
	}
	mdoc := mdoctest.Bound(t, mdocKey.PublicKey, 5000)
	mdocCred := phone.Credential{ID: "mdoc-1", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, NotAfter: notAfter.AddDate(-1, 0, 0), Data: mdoc}
	if err := p.PutCredential(ctx, mdocCred); err != nil {
		t.Fatal(err)
	}
	stored := ph.Credentials()
	if len(stored) != 2 || !bytes.Equal(stored[0].Data, chain) || !bytes.Equal(stored[1].Data, mdoc) || !stored[1].NotAfter.Equal(mdocCred.NotAfter) {
		t.Fatalf("stored %d credentials", len(stored))
	}

	list, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "jpki-auth-1" || list[0].Type != phone.CredentialCertChain || !bytes.Equal(list[0].KeyID, auth.KeyID) ||
		list[0].State != phone.StateActive || !list[0].NotAfter.Equal(notAfter) || list[1].ID != "mdoc-1" || list[1].Type != phone.CredentialMdoc {
		t.Fatalf("status %+v", list)
	}

	// Refusals.
	if err := p.PutCredential(ctx, certCred); !errors.Is(err, phone.ErrExists) {
		t.Fatalf("same id again: %v", err)
	}
	other := certCred
	other.ID, other.KeyID = "x", mdocKey.KeyID
	if err := p.PutCredential(ctx, other); !errors.Is(err, phone.ErrRejected) {
		t.Fatalf("certificate of another key: %v", err)
	}
	other.KeyID = []byte("nokey!!!")
	if err := p.PutCredential(ctx, other); !errors.Is(err, phone.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	other = certCred
	other.ID, other.Data = "garbage", []byte("not a certificate")
	if err := p.PutCredential(ctx, other); !errors.Is(err, phone.ErrRejected) {
		t.Fatalf("not a certificate: %v", err)
	}
	n := p.APDUCount()
	for _, c := range []phone.Credential{
		{ID: "", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, NotAfter: notAfter, Data: mdoc},
		{ID: "has space", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, NotAfter: notAfter, Data: mdoc},
		{ID: "a", Type: 9, KeyID: mdocKey.KeyID, NotAfter: notAfter, Data: mdoc},
		{ID: "a", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID[:4], NotAfter: notAfter, Data: mdoc},
		{ID: "a", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, Data: mdoc},
		{ID: "a", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, NotAfter: notAfter},
		{ID: "a", Type: phone.CredentialMdoc, KeyID: mdocKey.KeyID, NotAfter: notAfter, Data: make([]byte, phone.MaxCredentialSize+1)},
	} {
		if err := p.PutCredential(ctx, c); !errors.Is(err, phone.ErrInvalid) {
			t.Fatalf("%q: %v", c.ID, err)
		}
	}
	if p.APDUCount() != n {
		t.Fatal("invalid credentials were sent")
	}
	if len(ph.Credentials()) != 2 {
		t.Fatal("a refused credential was stored")
	}

	// States.
	for _, s := range []phone.State{phone.StateSuspended, phone.StateSuspended, phone.StateActive, phone.StateRevoked, phone.StateRevoked} {
		if err := p.SetState(ctx, "mdoc-1", s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for _, s := range []phone.State{phone.StateActive, phone.StateSuspended} {
		if err := p.SetState(ctx, "mdoc-1", s); !errors.Is(err, phone.ErrRefused) {
			t.Fatalf("revoked -> %s: %v", s, err)
		}
	}
	if err := p.SetState(ctx, "nothing", phone.StateRevoked); !errors.Is(err, phone.ErrNotFound) {
		t.Fatalf("unknown credential: %v", err)
	}
	if err := p.SetState(ctx, "mdoc-1", 7); !errors.Is(err, phone.ErrInvalid) {
		t.Fatalf("state 7: %v", err)
	}
	if list, _ = p.Status(ctx); list[1].State != phone.StateRevoked || list[0].State != phone.StateActive {
		t.Fatalf("status %+v", list)
	}

	// Delete.
	if err := p.Delete(ctx, "mdoc-1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "mdoc-1"); !errors.Is(err, phone.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
	if list, _ = p.Status(ctx); len(list) != 1 || list[0].ID != "jpki-auth-1" {
		t.Fatalf("status %+v", list)
	}
	if err := p.Delete(ctx, "jpki-auth-1"); err != nil {
		t.Fatal(err)
	}
	if list, err = p.Status(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty status %+v %v", list, err)
	}
	// The key stays: a new credential can be put for it.
	if err := p.PutCredential(ctx, certCred); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialLimit(t *testing.T) {
	_, slot := newSim(t, sim.Options{})
	p := open(t, slot)
	ctx := context.Background()
	a, err := p.GenerateKey(ctx, phone.PurposeMdoc, challenge(16))
	if err != nil {
		t.Fatal(err)
	}
	c := phone.Credential{Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Now().AddDate(1, 0, 0), Data: mdoctest.Bound(t, a.PublicKey, 0)}
	for i := range phone.MaxCredentials {
		c.ID = fmt.Sprint("c", i)
		if err := p.PutCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c.ID = "one-too-many"
	if err := p.PutCredential(ctx, c); !errors.Is(err, phone.ErrFull) {
		t.Fatalf("credential %d: %v", phone.MaxCredentials+1, err)
	}
}

// flaky removes the phone after a number of APDUs.
type flaky struct {
	slot *sim.Slot
	left int
}

func (f *flaky) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if f.left == 0 {
		f.slot.Remove()
	}
	f.left--
	return f.slot.Transmit(ctx, cmd)
}

func TestPutCredentialInterrupted(t *testing.T) {
	ph, slot := newSim(t, sim.Options{})
	ctx := context.Background()
	p := open(t, slot)
	a, err := p.GenerateKey(ctx, phone.PurposeMdoc, challenge(16))
	if err != nil {
		t.Fatal(err)
	}
	c := phone.Credential{ID: "mdoc", Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Now().AddDate(1, 0, 0), Data: mdoctest.Bound(t, a.PublicKey, 0)}
	f := &flaky{slot: slot, left: 4}
	p = open(t, f)
	if err := p.PutCredential(ctx, c); !errors.Is(err, card.ErrCardRemoved) {
		t.Fatalf("pulled mid-chain: %v", err)
	}
	if len(ph.Credentials()) != 0 {
		t.Fatal("half a credential was stored")
	}
	slot.Insert()
	p = open(t, slot)
	if err := p.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := ph.Credentials(); len(got) != 1 || !bytes.Equal(got[0].Data, c.Data) {
		t.Fatal("credential not stored after the retry")
	}
}

func TestNotices(t *testing.T) {
	ph, slot := newSim(t, sim.Options{})
	p := open(t, slot)
	ctx := context.Background()
	day := time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC)
	if err := p.PutNotice(ctx, phone.Notice{Code: phone.NoticeRevoked, Date: day, CredentialID: "jpki-auth-1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.PutNotice(ctx, phone.Notice{Code: phone.NoticeRenew, Date: day.AddDate(0, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	in := ph.Inbox()
	if len(in) != 2 || in[0].Code != phone.NoticeRevoked || !in[0].Date.Equal(day) || in[0].CredentialID != "jpki-auth-1" ||
		in[1].Code != phone.NoticeRenew || in[1].CredentialID != "" {
		t.Fatalf("inbox %+v", in)
	}
	for _, n := range []phone.Notice{{Code: 0, Date: day}, {Code: 99, Date: day}, {Code: phone.NoticeRevoked}, {Code: phone.NoticeRevoked, Date: day, CredentialID: "a b"}} {
		if err := p.PutNotice(ctx, n); !errors.Is(err, phone.ErrInvalid) {
			t.Fatalf("%+v: %v", n, err)
		}
	}
	for i := range phone.MaxInbox {
		if err := p.PutNotice(ctx, phone.Notice{Code: phone.NoticeIssued, Date: day.AddDate(0, 0, i)}); err != nil {
			t.Fatal(err)
		}
	}
	if in = ph.Inbox(); len(in) != phone.MaxInbox || in[0].Code != phone.NoticeIssued || !in[len(in)-1].Date.Equal(day.AddDate(0, 0, phone.MaxInbox-1)) {
		t.Fatalf("full inbox: %d notices, first %+v", len(in), in[0])
	}
}

package card_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/sim"
)

var issuer *sim.Issuer

func TestMain(m *testing.M) {
	var err error
	if issuer, err = sim.NewIssuer(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func newCard(t testing.TB, o sim.Options) (*sim.Slot, *sim.Card) {
	t.Helper()
	if o.Holder.Name == "" {
		o.Holder = sim.DemoHolder
	}
	if o.PINs.Auth == "" {
		o.PINs = sim.DemoPINs
	}
	st, err := sim.Generate(issuer, o)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "card.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := sim.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sim.NewSlot(c), c
}

func open(t testing.TB, tr card.Transceiver, ext bool) *card.Card {
	t.Helper()
	c, err := card.Open(context.Background(), tr, card.Options{Extended: &ext})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pin(s string) secret.Value { return secret.NewPIN(s) }

var trusted = func() []card.IssuerKey { return []card.IssuerKey{{ID: issuer.CVRootID, Key: issuer.CVRootPublicKey()}} }

func TestReadEverythingCurrent(t *testing.T) {
	ctx := context.Background()
	for _, ext := range []bool{false, true} {
		slot, _ := newCard(t, sim.Options{})
		c := open(t, slot, ext)
		if c.Profile() != card.Current || c.TokenLabel() != card.LabelCard || c.Serial() == "" {
			t.Fatalf("identified as %s %q %q", c.Profile().Name, c.TokenLabel(), c.Serial())
		}
		auth, err := c.AuthCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		authCA, signCA, err := c.CACertificates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := card.CheckChain(auth, authCA, time.Now()); err != nil {
			t.Errorf("auth chain: %v", err)
		}
		if err := card.CheckChain(auth, signCA, time.Now()); err == nil {
			t.Error("auth certificate chained to the signature CA")
		}
		if len(auth.Subject.CommonName) != 23 || auth.ExtKeyUsage[0].String() == "" {
			t.Errorf("auth certificate profile: CN %q", auth.Subject.CommonName)
		}
		av, err := c.CertAvailability(ctx)
		if err != nil || !av.Auth || !av.Sign {
			t.Fatalf("availability %+v %v", av, err)
		}
		if _, err := c.SignCertificate(ctx); !errors.Is(err, card.ErrSecurityStatus) {
			t.Fatalf("sign certificate without password: %v", err)
		}
		if err := c.Verify(ctx, card.PINSign, secret.NewPassword("madoguchi1")); err != nil { // lower case is upper-cased
			t.Fatal(err)
		}
		signCert, err := c.SignCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := card.CheckChain(signCert, signCA, time.Now()); err != nil {
			t.Errorf("sign chain: %v", err)
		}
		if err := c.Verify(ctx, card.PINInputAssist, pin("1234")); err != nil {
			t.Fatal(err)
		}
		bf, err := c.BasicFour(ctx)
		if err != nil || bf != (card.BasicFour{Name: sim.DemoHolder.Name, Address: sim.DemoHolder.Address, BirthDate: "19850401", Sex: "2"}) {
			t.Fatalf("basic four %+v %v", bf, err)
		}
		num, err := c.MyNumber(ctx)
		if err != nil || !card.CheckDigitOK(num) || secret.MaskIndividualNumber(num) != "****-****-9018" {
			t.Fatalf("my number: %v", err)
		}
		if err := c.VerifyInputAssist(ctx, trusted()); err != nil {
			t.Fatalf("integrity: %v", err)
		}
		face, err := c.Face(ctx, num)
		if err != nil {
			t.Fatal(err)
		}
		if len(face.Photo) < 1000 || string(face.Photo[4:8]) != "jP  " || face.BirthDate != "19850401" || len(face.Expiry) != 8 {
			t.Fatalf("face: photo %d bytes, birth %q expiry %q", len(face.Photo), face.BirthDate, face.Expiry)
		}
		tries, err := c.AllTries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[card.PINKind]int{card.PINAuth: 3, card.PINSign: 5, card.PINInputAssist: 3, card.PINResident: 3}
		for k, v := range want {
			if tries[k] != v {
				t.Errorf("tries %s = %d, want %d", k, tries[k], v)
			}
		}
	}
}

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	for _, p := range []*card.Profile{card.Current, card.Next} {
		slot, _ := newCard(t, sim.Options{Profile: p})
		c := open(t, slot, false)
		h, hash := crypto.SHA256, sha256.Sum256([]byte("申請書"))
		digest := hash[:]
		if p == card.Next {
			s := sha512.Sum384([]byte("申請書"))
			h, digest = crypto.SHA384, s[:]
		}
		if _, err := c.Sign(ctx, card.PINAuth, digest, h); !errors.Is(err, card.ErrSecurityStatus) {
			t.Fatalf("%s: sign without PIN: %v", p.Name, err)
		}
		if err := c.Verify(ctx, card.PINAuth, pin("1234")); err != nil {
			t.Fatal(err)
		}
		sig, err := c.Sign(ctx, card.PINAuth, digest, h)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := c.AuthCertificate(ctx)
		if err := card.VerifySignature(cert, digest, h, sig); err != nil {
			t.Fatalf("%s: auth signature does not verify: %v", p.Name, err)
		}
		if err := c.Verify(ctx, card.PINSign, secret.NewPassword("MADOGUCHI1")); err != nil {
			t.Fatal(err)
		}
		sig, err = c.Sign(ctx, card.PINSign, digest, h)
		if err != nil {
			t.Fatal(err)
		}
		scert, err := c.SignCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := card.VerifySignature(scert, digest, h, sig); err != nil {
			t.Fatalf("%s: sign signature: %v", p.Name, err)
		}
		// Selecting another application logs out (ref §2).
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sign(ctx, card.PINSign, digest, h); !errors.Is(err, card.ErrSecurityStatus) {
			t.Fatalf("%s: sign after logout: %v", p.Name, err)
		}
	}
}

func TestWrongPINUntilBlocked(t *testing.T) {
	ctx := context.Background()
	slot, _ := newCard(t, sim.Options{})
	c := open(t, slot, false)
	// A malformed PIN costs nothing.
	var fe *card.PINFormatError
	if err := c.Verify(ctx, card.PINAuth, pin("12a4")); !errors.As(err, &fe) {
		t.Fatalf("malformed: %v", err)
	}
	if err := c.Verify(ctx, card.PINSign, pin("AB1")); !errors.As(err, &fe) {
		t.Fatalf("short password: %v", err)
	}
	for left := 2; left >= 0; left-- {
		if n, _ := c.Tries(ctx, card.PINAuth); n != left+1 {
			t.Fatalf("tries before attempt = %d, want %d", n, left+1)
		}
		err := c.Verify(ctx, card.PINAuth, pin("9999"))
		var we *card.WrongPINError
		if !errors.As(err, &we) || we.Remaining != left || we.PIN != card.PINAuth {
			t.Fatalf("wrong PIN: %v, want %d left", err, left)
		}
		if errors.Is(err, card.ErrBlocked) != (left == 0) {
			t.Fatalf("ErrBlocked with %d left: %v", left, errors.Is(err, card.ErrBlocked))
		}
	}
	// Blocked: even the right PIN is refused with 6984, and the count stays.
	err := c.Verify(ctx, card.PINAuth, pin("1234"))
	var be *card.BlockedError
	if !errors.As(err, &be) || !errors.Is(err, card.ErrBlocked) {
		t.Fatalf("blocked PIN: %v", err)
	}
	if n, _ := c.Tries(ctx, card.PINAuth); n != 0 {
		t.Fatalf("tries of a blocked PIN = %d", n)
	}
	// A correct entry resets the count of another PIN.
	_ = c.Verify(ctx, card.PINSign, pin("WRONG1"))
	if n, _ := c.Tries(ctx, card.PINSign); n != 4 {
		t.Fatalf("sign tries = %d", n)
	}
	if err := c.Verify(ctx, card.PINSign, pin("MADOGUCHI1")); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Tries(ctx, card.PINSign); n != 5 {
		t.Fatalf("sign tries after success = %d", n)
	}
}

func TestChangePIN(t *testing.T) {
	ctx := context.Background()
	slot, _ := newCard(t, sim.Options{})
	c := open(t, slot, false)
	if err := c.ChangePIN(ctx, card.PINInputAssist, pin("1234"), pin("5678")); err != nil {
		t.Fatal(err)
	}
	_ = c.Logout(ctx)
	var we *card.WrongPINError
	if err := c.Verify(ctx, card.PINInputAssist, pin("1234")); !errors.As(err, &we) {
		t.Fatalf("old PIN still works: %v", err)
	}
	if err := c.Verify(ctx, card.PINInputAssist, pin("5678")); err != nil {
		t.Fatal(err)
	}
}

func TestStatePersistsAcrossRemoval(t *testing.T) {
	ctx := context.Background()
	slot, sc := newCard(t, sim.Options{})
	c := open(t, slot, false)
	_ = c.Verify(ctx, card.PINAuth, pin("0000"))
	slot.Remove()
	if _, err := c.AuthCertificate(ctx); !errors.Is(err, card.ErrCardRemoved) || !card.IsGone(err) {
		t.Fatalf("read after removal: %v", err)
	}
	// Another process loads the same state file: the failed try is there.
	path := filepath.Join(t.TempDir(), "copy.json")
	if err := sc.State().Save(path); err != nil {
		t.Fatal(err)
	}
	other, err := sim.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := open(t, sim.NewSlot(other), false)
	if n, _ := c2.Tries(ctx, card.PINAuth); n != 2 {
		t.Fatalf("tries after reload = %d, want 2", n)
	}
	slot.Insert()
	c3 := open(t, slot, false)
	if _, err := c3.AuthCertificate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNotACard(t *testing.T) {
	other := transceiverFunc(func(cmd []byte) []byte { return []byte{0x6A, 0x82} })
	if _, err := card.Open(context.Background(), other, card.Options{}); !errors.Is(err, card.ErrNotMyNumberCard) {
		t.Fatalf("Open(other card) = %v", err)
	}
}

type transceiverFunc func([]byte) []byte

func (f transceiverFunc) Transmit(_ context.Context, cmd []byte) ([]byte, error) { return f(cmd), nil }

func TestIntegrityDetectsTampering(t *testing.T) {
	ctx := context.Background()
	slot, sc := newCard(t, sim.Options{})
	c := open(t, slot, false)
	if err := c.Verify(ctx, card.PINInputAssist, pin("1234")); err != nil {
		t.Fatal(err)
	}
	rec, _ := c.ReadFile(ctx, card.AIDInputAssist, card.EFIntegrity)
	cv, _ := c.ReadFile(ctx, card.AIDInputAssist, card.EFCVCert)
	bf, _ := c.ReadFile(ctx, card.AIDInputAssist, card.EFBasicFour)
	if err := card.CheckIntegrity(rec, cv, bf, nil, trusted()); err != nil {
		t.Fatal(err)
	}
	// The address changed without the issuer.
	h := sim.DemoHolder
	h.Address = "デモ県デモ市中央九丁目"
	forged, _ := sim.BasicFourEF(h)
	if err := card.CheckIntegrity(rec, cv, forged, nil, trusted()); !errors.Is(err, card.ErrIntegrity) {
		t.Fatalf("forged basic four: %v", err)
	}
	// An untrusted issuer.
	other, _ := sim.NewIssuer()
	if err := card.CheckIntegrity(rec, cv, bf, nil, []card.IssuerKey{{ID: issuer.CVRootID, Key: other.CVRootPublicKey()}}); !errors.Is(err, card.ErrIntegrity) {
		t.Fatalf("wrong trust anchor: %v", err)
	}
	_ = sc
}

func TestPrivilegedSetOnBlankCard(t *testing.T) {
	ctx := context.Background()
	slot, sc := newCard(t, sim.Options{Blank: true})
	c := open(t, slot, false)
	serial := sc.State().Serial
	if c.Serial() != serial {
		t.Fatalf("serial %q vs %q", c.Serial(), serial)
	}
	authorise := func(aid []byte, g card.Grant) {
		t.Helper()
		chal, err := c.Challenge(ctx, aid)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Authorise(ctx, issuer.Authorise(serial, chal, g)); err != nil {
			t.Fatal(err)
		}
	}
	// Without authorisation nothing is written.
	if err := c.SetPIN(ctx, card.PINAuth, pin("4321")); !errors.Is(err, card.ErrAuthorisation) {
		t.Fatalf("SetPIN without grant: %v", err)
	}
	// A cryptogram for another operation, or forged, is refused.
	chal, _ := c.Challenge(ctx, card.AIDJPKI)
	bad := issuer.Authorise(serial, chal, card.Grant{Op: card.OpSetPIN, Ref: card.PINRefAuth})
	bad[len(bad)-1] ^= 1
	if err := c.Authorise(ctx, bad); !errors.Is(err, card.ErrAuthorisation) {
		t.Fatalf("forged cryptogram: %v", err)
	}
	authorise(card.AIDJPKI, card.Grant{Op: card.OpSetPIN, Ref: card.PINRefSign})
	if err := c.SetPIN(ctx, card.PINAuth, pin("4321")); !errors.Is(err, card.ErrAuthorisation) {
		t.Fatalf("SetPIN with another PIN's grant: %v", err)
	}
	authorise(card.AIDJPKI, card.Grant{Op: card.OpSetPIN, Ref: card.PINRefAuth})
	if err := c.SetPIN(ctx, card.PINAuth, pin("4321")); err != nil {
		t.Fatal(err)
	}
	// The grant was used up.
	if err := c.SetPIN(ctx, card.PINAuth, pin("1111")); err == nil {
		t.Fatal("grant reused")
	}
	// Key generation and certificate writing.
	authorise(card.AIDJPKI, card.Grant{Op: card.OpGenerateKey, Ref: card.KeyAuth})
	pub, err := c.GenerateKey(ctx, card.PINAuth)
	if err != nil {
		t.Fatal(err)
	}
	der, err := issuer.AuthCert(pub, time.Now().Add(-time.Minute), time.Now().AddDate(5, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	authorise(card.AIDJPKI, card.Grant{Op: card.OpWriteCert, Ref: card.EFAuthCert, Digest: card.Digest(der[:len(der)-1])})
	if err := c.WriteCertificate(ctx, card.PINAuth, der); !errors.Is(err, card.ErrAuthorisation) {
		t.Fatalf("certificate other than authorised: %v", err)
	}
	authorise(card.AIDJPKI, card.Grant{Op: card.OpWriteCert, Ref: card.EFAuthCert, Digest: card.Digest(der)})
	if err := c.WriteCertificate(ctx, card.PINAuth, der); err != nil {
		t.Fatal(err)
	}
	cert, err := c.AuthCertificate(ctx)
	if err != nil || !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatalf("written certificate: %v", err)
	}
	if err := c.Verify(ctx, card.PINAuth, pin("4321")); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	sig, err := c.Sign(ctx, card.PINAuth, digest[:], crypto.SHA256)
	if err != nil || card.VerifySignature(cert, digest[:], crypto.SHA256, sig) != nil {
		t.Fatalf("signature with the generated key: %v", err)
	}
	// PIN reset after a block.
	for i := 0; i < 3; i++ {
		_ = c.Verify(ctx, card.PINAuth, pin("0000"))
	}
	authorise(card.AIDJPKI, card.Grant{Op: card.OpResetPIN, Ref: card.PINRefAuth})
	if err := c.ResetPIN(ctx, card.PINAuth, pin("2468")); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Tries(ctx, card.PINAuth); n != 3 {
		t.Fatalf("tries after reset = %d", n)
	}
	if err := c.Verify(ctx, card.PINAuth, pin("2468")); err != nil {
		t.Fatal(err)
	}
}

func TestPUKUnlock(t *testing.T) {
	ctx := context.Background()
	slot, _ := newCard(t, sim.Options{Profile: card.Next})
	c := open(t, slot, false)
	if !c.Profile().HasPUK || c.Profile().Keys != card.ECDSAP384 {
		t.Fatal("next profile capabilities")
	}
	for i := 0; i < 3; i++ {
		_ = c.Verify(ctx, card.PINAuth, pin("0000"))
	}
	if err := c.Verify(ctx, card.PINAuth, pin("1234")); !errors.Is(err, card.ErrBlocked) {
		t.Fatalf("not blocked: %v", err)
	}
	var we *card.WrongPINError
	if err := c.UnblockWithPUK(ctx, pin("87654321"), pin("1357")); !errors.As(err, &we) || we.PIN != card.PUK || we.Remaining != 9 {
		t.Fatalf("wrong PUK: %v", err)
	}
	if err := c.UnblockWithPUK(ctx, pin("12345678"), pin("1357")); err != nil {
		t.Fatal(err)
	}
	tries, _ := c.AllTries(ctx)
	if tries[card.PINAuth] != 3 || tries[card.PUK] != 10 {
		t.Fatalf("tries after unlock %v", tries)
	}
	if err := c.Verify(ctx, card.PINAuth, pin("1357")); err != nil {
		t.Fatal(err)
	}
	// The next generation's 4-digit PIN also opens the input-assist data.
	bf, err := c.BasicFour(ctx)
	if err != nil || bf.Name != sim.DemoHolder.Name {
		t.Fatalf("basic four on next: %+v %v", bf, err)
	}
	// The current card has no PUK.
	cur, _ := newCard(t, sim.Options{})
	if err := open(t, cur, false).UnblockWithPUK(ctx, pin("12345678"), pin("1357")); !errors.Is(err, card.ErrNoSuchPIN) {
		t.Fatalf("PUK on current card: %v", err)
	}
}

func TestUnder15HasNoSignatureCertificate(t *testing.T) {
	ctx := context.Background()
	h := sim.DemoHolder
	h.BirthDate = time.Now().AddDate(-12, 0, 0).Format("20060102")
	slot, _ := newCard(t, sim.Options{Holder: h})
	c := open(t, slot, false)
	av, err := c.CertAvailability(ctx)
	if err != nil || !av.Auth || av.Sign {
		t.Fatalf("availability for a 12-year-old: %+v %v", av, err)
	}
}

// TestSummaryAPDUCount pins the minimum derived in docs/BENCHMARKS.md.
func TestSummaryAPDUCount(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		p    *card.Profile
		ext  bool
		kind card.PINKind
		want int
	}{
		// Current card: SELECT JPKI + token info, the certificate, 2 tries,
		// SELECT 住基 + tries, SELECT 入力補助 + tries, VERIFY + READ.
		{card.Current, false, card.PINInputAssist, 10},
		{card.Current, true, card.PINInputAssist, 11},
		// Next generation: one failed SELECT of the current AID, SELECT +
		// token info, the certificate, 3 tries, VERIFY + READ.
		{card.Next, false, card.PINAuth, 8},
	} {
		slot, _ := newCard(t, sim.Options{Profile: tc.p})
		c := open(t, slot, tc.ext)
		var seen map[card.PINKind]int
		s, err := c.ReadSummary(ctx, func(_ context.Context, tries map[card.PINKind]int) (card.PINKind, secret.Value, bool, error) {
			seen = tries
			return tc.kind, pin("1234"), true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.BasicFour == nil || s.AuthCert == nil || len(seen) != len(tc.p.PINs) {
			t.Fatalf("%s: summary incomplete: %+v", tc.p.Name, s)
		}
		want := tc.want
		if !tc.ext {
			want += (len(s.AuthCert.Raw) + 255) / 256 // short READ BINARYs of the certificate
		}
		if c.APDUCount() != want {
			t.Errorf("%s ext=%v: %d APDUs, want %d (certificate %d bytes)", tc.p.Name, tc.ext, c.APDUCount(), want, len(s.AuthCert.Raw))
		}
	}
}

// TestTextUpdateAfterChangeOfAddress writes new basic four items and their
// integrity record (issued by the central system) under OpWriteText grants.
func TestTextUpdateAfterChangeOfAddress(t *testing.T) {
	ctx := context.Background()
	slot, sc := newCard(t, sim.Options{})
	c := open(t, slot, false)
	serial := sc.State().Serial
	h := sim.DemoHolder
	h.Address = "デモ県デモ市北町三丁目４番５号"
	bf, err := sim.BasicFourEF(h)
	if err != nil {
		t.Fatal(err)
	}
	myNumber := append(append([]byte{0xFF, 0x10, 0x0C}, h.IndividualNumber...), 0xFF, 0xFF)
	rec, err := issuer.IntegrityRecord(myNumber, bf)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		fid     uint16
		content []byte
	}{{card.EFBasicFour, bf}, {card.EFIntegrity, rec}} {
		chal, err := c.Challenge(ctx, card.AIDInputAssist)
		if err != nil {
			t.Fatal(err)
		}
		g := card.Grant{Op: card.OpWriteText, Ref: w.fid, Digest: card.Digest(w.content)}
		if err := c.Authorise(ctx, issuer.Authorise(serial, chal, g)); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(ctx, card.AIDInputAssist, w.fid, w.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Verify(ctx, card.PINInputAssist, pin("1234")); err != nil {
		t.Fatal(err)
	}
	got, err := c.BasicFour(ctx)
	if err != nil || got.Address != h.Address {
		t.Fatalf("address after update: %q %v", got.Address, err)
	}
	if _, err := c.MyNumber(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyInputAssist(ctx, trusted()); err != nil {
		t.Fatalf("integrity after update: %v", err)
	}
}

package phone_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"madoguchi/drivers/phone"
	"madoguchi/drivers/phone/sim"
)

func attestation(t *testing.T) (phone.Attestation, []byte) {
	t.Helper()
	_, slot := newSim(t, sim.Options{})
	ch := challenge(32)
	a, err := open(t, slot).GenerateKey(context.Background(), phone.PurposeAuth, ch)
	if err != nil {
		t.Fatal(err)
	}
	return a, ch
}

func TestAttestationGood(t *testing.T) {
	a, ch := attestation(t)
	b, err := phone.ParseAttestation(a.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(roots(testVendor(t))); err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyChallenge(roots(testVendor(t)), ch); err != nil {
		t.Fatal(err)
	}
	// The signature covers exactly the TLVs 80 to 86 as sent.
	body := phone.AttestationBody(b.SecureElement, b.App, b.AppVersion, b.SPKI, b.Challenge, b.KeyID, b.Certificate.Raw)
	if string(body) != string(b.Signed) || string(phone.EncodeAttestation(body, b.Signature)) != string(a.Raw) {
		t.Fatal("the signed part is not the concatenated 80..86")
	}
	// A value built by hand (no Signed) verifies too.
	b.Signed, b.Raw = nil, nil
	if err := b.Verify(roots(testVendor(t))); err != nil {
		t.Fatalf("without Signed: %v", err)
	}
}

func TestAttestationWrongRoot(t *testing.T) {
	a, _ := attestation(t)
	other, err := sim.NewVendor("Another Vendor")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(roots(other)); !errors.Is(err, phone.ErrAttestationUntrusted) {
		t.Fatalf("other vendor: %v", err)
	}
	if err := a.Verify(nil); !errors.Is(err, phone.ErrAttestationUntrusted) {
		t.Fatalf("nil roots: %v", err)
	}
	if err := a.Verify(x509.NewCertPool()); !errors.Is(err, phone.ErrAttestationUntrusted) {
		t.Fatalf("empty roots: %v", err)
	}
	// A phone of the other vendor is trusted with its root and not with ours.
	_, slot := newSim(t, sim.Options{Vendor: other})
	b, err := open(t, slot).GenerateKey(context.Background(), phone.PurposeMdoc, challenge(16))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(roots(other)); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(roots(testVendor(t))); !errors.Is(err, phone.ErrAttestationUntrusted) {
		t.Fatalf("other vendor's phone: %v", err)
	}
}

func TestAttestationTampered(t *testing.T) {
	a, _ := attestation(t)
	pool := roots(testVendor(t))
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	// Another key swapped in, the phone's signature kept.
	forged := phone.EncodeAttestation(phone.AttestationBody(a.SecureElement, a.App, a.AppVersion, spki, a.Challenge, a.KeyID, a.Certificate.Raw), a.Signature)
	b, err := phone.ParseAttestation(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(pool); !errors.Is(err, phone.ErrAttestationSignature) {
		t.Fatalf("swapped SPKI: %v", err)
	}
	// Another app name.
	forged = phone.EncodeAttestation(phone.AttestationBody(a.SecureElement, "Evil Wallet", a.AppVersion, a.SPKI, a.Challenge, a.KeyID, a.Certificate.Raw), a.Signature)
	if b, err = phone.ParseAttestation(forged); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(pool); !errors.Is(err, phone.ErrAttestationSignature) {
		t.Fatalf("other app: %v", err)
	}
	// Fields changed after parsing.
	c := a
	c.PublicKey = &k.PublicKey
	if err := c.Verify(pool); !errors.Is(err, phone.ErrAttestationSignature) {
		t.Fatalf("PublicKey changed: %v", err)
	}
	c = a
	c.SecureElement = "Other SE"
	if err := c.Verify(pool); !errors.Is(err, phone.ErrAttestationSignature) {
		t.Fatalf("SecureElement changed: %v", err)
	}
	// Any flipped bit: refused by the parser or by Verify.
	for i := range a.Raw {
		raw := append([]byte(nil), a.Raw...)
		raw[i] ^= 0x01
		b, err := phone.ParseAttestation(raw)
		if err != nil {
			if !errors.Is(err, phone.ErrAttestationFormat) {
				t.Fatalf("byte %d: %v", i, err)
			}
			continue
		}
		if b.Verify(pool) == nil {
			t.Fatalf("byte %d flipped still verifies", i)
		}
	}
}

func TestAttestationTruncated(t *testing.T) {
	a, _ := attestation(t)
	for n := range len(a.Raw) {
		if _, err := phone.ParseAttestation(a.Raw[:n]); !errors.Is(err, phone.ErrAttestationFormat) {
			t.Fatalf("%d of %d bytes: %v", n, len(a.Raw), err)
		}
	}
	if _, err := phone.ParseAttestation(append(append([]byte(nil), a.Raw...), 0x00)); !errors.Is(err, phone.ErrAttestationFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
	var zero phone.Attestation
	if err := zero.Verify(roots(testVendor(t))); !errors.Is(err, phone.ErrAttestationFormat) {
		t.Fatalf("zero value: %v", err)
	}
}

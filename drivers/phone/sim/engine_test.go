package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"madoguchi/drivers/mdoc/mdoctest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/phone"
)

func testPhone(t *testing.T, o Options) *Phone {
	t.Helper()
	if o.Vendor == nil {
		v, err := NewVendor("")
		if err != nil {
			t.Fatal(err)
		}
		o.Vendor = v
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func send(t *testing.T, p *Phone, c apdu.Command) apdu.Response {
	t.Helper()
	raw, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r, err := apdu.ParseResponse(p.Process(raw))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var selectWallet = apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: phone.AID, Le: 256}

func TestSelect(t *testing.T) {
	p := testPhone(t, Options{})
	status := apdu.Command{CLA: 0x80, INS: 0xCA, P1: 0x7F, P2: 0x52, Le: 256}
	if r := send(t, p, status); r.SW != apdu.SWConditionsOfUse {
		t.Fatalf("before SELECT: %04X", r.SW)
	}
	r := send(t, p, selectWallet)
	if r.SW != apdu.SWOK || !bytes.Equal(r.Data, phone.EncodeFCI()) {
		t.Fatalf("SELECT: %04X %X", r.SW, r.Data)
	}
	if r := send(t, p, status); r.SW != apdu.SWOK {
		t.Fatalf("after SELECT: %04X", r.SW)
	}
	// Another AID deselects the wallet.
	if r := send(t, p, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01}}); r.SW != apdu.SWFileNotFound {
		t.Fatalf("JPKI AID: %04X", r.SW)
	}
	if r := send(t, p, status); r.SW != apdu.SWConditionsOfUse {
		t.Fatalf("after another SELECT: %04X", r.SW)
	}
	// P2 0C: no FCI.
	if r := send(t, p, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: phone.AID}); r.SW != apdu.SWOK || len(r.Data) != 0 {
		t.Fatalf("SELECT P2 0C: %04X %X", r.SW, r.Data)
	}
	// Reset (the phone leaves the field) deselects too.
	p.Reset()
	if r := send(t, p, status); r.SW != apdu.SWConditionsOfUse {
		t.Fatalf("after Reset: %04X", r.SW)
	}
}

func TestStatusWords(t *testing.T) {
	p := testPhone(t, Options{})
	send(t, p, selectWallet)
	for _, c := range []struct {
		name string
		raw  []byte
		sw   uint16
	}{
		{"too short", []byte{0x80, 0xCA}, apdu.SWWrongLength},
		{"logical channel", []byte{0x81, 0xCA, 0x7F, 0x52, 0x00}, apdu.SWLogicalChannel},
		{"secure messaging", []byte{0x8C, 0xCA, 0x7F, 0x52, 0x00}, apdu.SWSecureMessaging},
		{"ISO class for a wallet command", []byte{0x00, 0xCA, 0x7F, 0x52, 0x00}, apdu.SWCLANotSupported},
		{"wallet class for SELECT", append([]byte{0x80, 0xA4, 0x04, 0x00, 0x0A}, phone.AID...), apdu.SWCLANotSupported},
		{"unknown INS", []byte{0x80, 0xB0, 0x00, 0x00, 0x00}, apdu.SWINSNotSupported},
		{"chaining outside PUT", []byte{0x90, 0xCA, 0x7F, 0x52, 0x00}, apdu.SWChainingNotSupported},
		{"unknown GET DATA", []byte{0x80, 0xCA, 0x7F, 0x53, 0x00}, apdu.SWReferenceNotFound},
		{"GET DATA with data", []byte{0x80, 0xCA, 0x7F, 0x52, 0x01, 0x00}, apdu.SWWrongLength},
		{"GET RESPONSE with nothing", []byte{0x00, 0xC0, 0x00, 0x00, 0x00}, apdu.SWConditionsOfUse},
		{"GENERATE KEY purpose 03", append([]byte{0x80, 0x46, 0x03, 0x00, 0x10}, make([]byte, 16)...), apdu.SWWrongP1P2},
		{"GENERATE KEY short challenge", append([]byte{0x80, 0x46, 0x01, 0x00, 0x0F}, make([]byte, 15)...), apdu.SWWrongLength},
		{"SIGN P2 9A", []byte{0x80, 0x2A, 0x9E, 0x9A, 0x01, 0x00}, apdu.SWWrongP1P2},
		{"SIGN bad template", []byte{0x80, 0x2A, 0x9E, 0xAC, 0x02, 0x85, 0x00}, apdu.SWWrongData},
		{"SIGN unknown key", append([]byte{0x80, 0x2A, 0x9E, 0xAC, 0x2C}, phone.EncodeSignInput(make([]byte, 8), make([]byte, 32))...), apdu.SWReferenceNotFound},
		{"PUT type 03", []byte{0x80, 0xDA, 0x03, 0x00, 0x02, 0x70, 0x00}, apdu.SWWrongP1P2},
		{"PUT garbage", []byte{0x80, 0xDA, 0x01, 0x00, 0x02, 0x70, 0x00}, apdu.SWWrongData},
		{"DELETE unknown", append([]byte{0x80, 0xE4, 0x00, 0x00, 0x03}, phone.EncodeID("a")...), apdu.SWReferenceNotFound},
		{"SET STATE 04", append([]byte{0x80, 0x44, 0x04, 0x00, 0x03}, phone.EncodeID("a")...), apdu.SWWrongP1P2},
		{"NOTICE garbage", []byte{0x80, 0xE2, 0x00, 0x00, 0x01, 0x00}, apdu.SWWrongData},
	} {
		r, err := apdu.ParseResponse(p.Process(c.raw))
		if err != nil || r.SW != c.sw {
			t.Errorf("%s: %04X %v, want %04X", c.name, r.SW, err, c.sw)
		}
	}
}

func TestLongAnswers(t *testing.T) {
	p := testPhone(t, Options{})
	send(t, p, selectWallet)
	gen := apdu.Command{CLA: 0x80, INS: 0x46, P1: 0x01, Data: make([]byte, 32)}
	// Extended Le: the whole attestation at once.
	gen.Le = 65536
	r := send(t, p, gen)
	if r.SW != apdu.SWOK || len(r.Data) <= 256 {
		t.Fatalf("extended: %04X, %d bytes", r.SW, len(r.Data))
	}
	if _, err := phone.ParseAttestation(r.Data); err != nil {
		t.Fatal(err)
	}
	// Short Le: 61xx and GET RESPONSE in pieces.
	gen.Le = 256
	r = send(t, p, gen)
	all := r.Data
	for r.SW1() == 0x61 {
		r = send(t, p, apdu.Command{CLA: 0x00, INS: 0xC0, Le: 100})
		all = append(all, r.Data...)
	}
	if r.SW != apdu.SWOK {
		t.Fatalf("GET RESPONSE: %04X", r.SW)
	}
	if _, err := phone.ParseAttestation(all); err != nil {
		t.Fatal(err)
	}
}

func TestChaining(t *testing.T) {
	p := testPhone(t, Options{})
	send(t, p, selectWallet)
	a := generateKey(t, p, 0x02)
	c := phone.Credential{ID: "m", Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Now().Add(time.Hour), Data: mdoctest.Bound(t, a.PublicKey, 0)}
	wire := phone.EncodeCredential(c)
	put := func(cla, p1 byte, b []byte) uint16 {
		return send(t, p, apdu.Command{CLA: cla, INS: 0xDA, P1: p1, Data: b}).SW
	}
	// An interrupted chain (another command in between) is dropped: the
	// last chunk alone does not parse.
	if sw := put(0x90, 0x02, wire[:255]); sw != apdu.SWOK {
		t.Fatalf("chunk: %04X", sw)
	}
	send(t, p, apdu.Command{CLA: 0x80, INS: 0xCA, P1: 0x7F, P2: 0x52, Le: 256})
	if sw := put(0x80, 0x02, wire[255:]); sw != apdu.SWWrongData {
		t.Fatalf("tail after an interruption: %04X", sw)
	}
	// P1 changed mid-chain.
	put(0x90, 0x02, wire[:255])
	if sw := put(0x80, 0x01, wire[255:]); sw != apdu.SWWrongP1P2 {
		t.Fatalf("P1 changed: %04X", sw)
	}
	// Whole in one extended APDU.
	if sw := put(0x80, 0x02, wire); sw != apdu.SWOK {
		t.Fatalf("extended PUT: %04X", sw)
	}
	// Too large.
	for off := 0; off < phone.MaxCredentialSize+1024; off += 255 {
		if sw := put(0x90, 0x02, make([]byte, 255)); sw != apdu.SWOK {
			if sw != apdu.SWNotEnoughMemory {
				t.Fatalf("oversized chain: %04X", sw)
			}
			if len(p.Credentials()) != 1 {
				t.Fatal("oversized chain stored")
			}
			return
		}
	}
	t.Fatal("an endless chain was accepted")
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	vpath := filepath.Join(dir, "central-sim", VendorFile)
	v, err := LoadOrCreateVendor(vpath, DefaultVendorName)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{vpath} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	v2, err := LoadOrCreateVendor(vpath, "ignored")
	if err != nil || !v2.RootCert().Equal(v.RootCert()) || v2.Name != DefaultVendorName {
		t.Fatalf("reloaded vendor: %v", err)
	}
	blk, _ := pem.Decode(v.RootPEM())
	if c, err := x509.ParseCertificate(blk.Bytes); err != nil || !c.Equal(v.RootCert()) || !c.IsCA {
		t.Fatalf("RootPEM: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateVendor(filepath.Join(dir, "bad.json"), ""); err == nil {
		t.Fatal("an empty vendor file loaded")
	}

	path := filepath.Join(dir, "phone.json")
	p, err := Open(path, Options{Vendor: v, Model: "M1"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi.Mode(), err)
	}
	send(t, p, selectWallet)
	a := generateKey(t, p, 0x01)
	c := phone.Credential{ID: "m", Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Data: mdoctest.Bound(t, a.PublicKey, 0)}
	if r := send(t, p, apdu.Command{CLA: 0x80, INS: 0xDA, P1: 0x02, Data: phone.EncodeCredential(c)}); r.SW != apdu.SWOK {
		t.Fatalf("PUT: %04X", r.SW)
	}
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	if r := send(t, p, apdu.Command{CLA: 0x80, INS: 0xE2, Data: phone.EncodeNotice(phone.Notice{Code: phone.NoticeIssued, Date: day})}); r.SW != apdu.SWOK {
		t.Fatalf("NOTICE: %04X", r.SW)
	}
	p.Approve()
	if p.SaveError() != nil {
		t.Fatal(p.SaveError())
	}

	q, err := Open(path, Options{Vendor: v, Model: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Device().ID, p.Device().ID) || q.Device().Model != "M1" || q.KeyCount() != 1 ||
		len(q.Credentials()) != 1 || !q.Credentials()[0].NotAfter.Equal(c.NotAfter) || len(q.Inbox()) != 1 || !q.Inbox()[0].Date.Equal(day) {
		t.Fatalf("reloaded phone: %+v %d keys %+v %+v", q.Device(), q.KeyCount(), q.Credentials(), q.Inbox())
	}
	// The key still signs after the reload; an approval did not survive.
	send(t, q, selectWallet)
	sign := apdu.Command{CLA: 0x80, INS: 0x2A, P1: 0x9E, P2: 0xAC, Data: phone.EncodeSignInput(a.KeyID, make([]byte, 32)), Le: 256}
	if r := send(t, q, sign); r.SW != apdu.SWSecurityStatus {
		t.Fatalf("approval persisted: %04X", r.SW)
	}
	q.Approve()
	if r := send(t, q, sign); r.SW != apdu.SWOK {
		t.Fatalf("SIGN after reload: %04X", r.SW)
	}

	// A new vendor (fresh central simulator): the attestation key is
	// recertified so that the demo goes on.
	v3, err := NewVendor("")
	if err != nil {
		t.Fatal(err)
	}
	q, err = Open(path, Options{Vendor: v3})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.AttestationCert().CheckSignatureFrom(v3.RootCert()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Device().ID, p.Device().ID) {
		t.Fatal("device id changed with the vendor")
	}
}

func TestSlot(t *testing.T) {
	p := testPhone(t, Options{})
	s := NewSlot(p)
	ctx := context.Background()
	raw, _ := selectWallet.Bytes()
	if out, err := s.Transmit(ctx, raw); err != nil || !bytes.HasSuffix(out, []byte{0x90, 0x00}) {
		t.Fatalf("%X %v", out, err)
	}
	s.Remove()
	if _, err := s.Transmit(ctx, raw); err == nil || s.Present() {
		t.Fatal("removed phone answered")
	}
	s.Insert()
	status := []byte{0x80, 0xCA, 0x7F, 0x52, 0x00}
	if out, _ := s.Transmit(ctx, status); !bytes.Equal(out, []byte{0x69, 0x85}) {
		t.Fatalf("after re-insert the wallet must be selected again: %X", out)
	}
}

// TestMdocMustFitItsKey: the wallet refuses an mdoc bound to a device key
// it does not hold, and bytes that are no mdoc.
func TestMdocMustFitItsKey(t *testing.T) {
	p := testPhone(t, Options{})
	send(t, p, selectWallet)
	a := generateKey(t, p, 0x02)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"another key's mdoc": mdoctest.Bound(t, &other.PublicKey, 0),
		"not an mdoc":        bytes.Repeat([]byte{1}, 600),
	} {
		c := phone.Credential{ID: "m", Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Now().Add(time.Hour), Data: data}
		if sw := send(t, p, apdu.Command{CLA: 0x80, INS: 0xDA, P1: 0x02, Data: phone.EncodeCredential(c)}).SW; sw != apdu.SWWrongData {
			t.Errorf("%s: %04X, want 6A80", name, sw)
		}
	}
	if len(p.Credentials()) != 0 {
		t.Fatalf("stored: %+v", p.Credentials())
	}
	c := phone.Credential{ID: "m", Type: phone.CredentialMdoc, KeyID: a.KeyID, NotAfter: time.Now().Add(time.Hour), Data: mdoctest.Bound(t, a.PublicKey, 0)}
	if sw := send(t, p, apdu.Command{CLA: 0x80, INS: 0xDA, P1: 0x02, Data: phone.EncodeCredential(c)}).SW; sw != apdu.SWOK {
		t.Fatalf("its own mdoc: %04X", sw)
	}
}

// generateKey makes a key of purpose (P1) on the phone and returns its
// attestation.
func generateKey(t *testing.T, p *Phone, purpose byte) phone.Attestation {
	t.Helper()
	r := send(t, p, apdu.Command{CLA: 0x80, INS: 0x46, P1: purpose, Data: make([]byte, 16), Le: 65536})
	a, err := phone.ParseAttestation(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

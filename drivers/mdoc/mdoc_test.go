package mdoc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

type fixture struct {
	roots  *x509.CertPool
	iaca   *x509.Certificate
	ds     *x509.Certificate
	dsKey  *ecdsa.PrivateKey
	device *ecdsa.PrivateKey
	now    time.Time
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	iaca, iacaKey, err := NewIACA("Test IACA", now.Add(-time.Hour), now.AddDate(10, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ds, dsKey, err := NewDocumentSigner(iaca, iacaKey, "Test DS", now.Add(-time.Hour), now.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	roots := x509.NewCertPool()
	roots.AddCert(iaca)
	return fixture{roots: roots, iaca: iaca, ds: ds, dsKey: dsKey, device: dev, now: now}
}

func (f fixture) input() IssueInput {
	return IssueInput{
		DocType:   DocTypeMNC,
		Namespace: NamespaceJP,
		Elements: map[string]any{
			"full_name_unicode":        "窓口　花子",
			"resident_address_unicode": "デモ県デモ市中央一丁目２番３号",
			"local_gov_code_unicode":   "99999",
			"portrait":                 []byte{0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50},
			"sex_unicode":              "女",
			"birth_date_unicode":       "1985年4月1日",
		},
		More: map[string]map[string]any{NamespaceISO23220: {
			"sex": uint(2), "age_over_20": true, "age_in_years": uint(41), "birth_date": FullDate("1985-04-01"),
		}},
		DeviceKey:   &f.device.PublicKey,
		ValidFrom:   f.now,
		ValidUntil:  f.now.AddDate(1, 0, 0),
		Signed:      f.now,
		SignerKey:   f.dsKey,
		SignerChain: [][]byte{f.ds.Raw},
	}
}

func TestIssueVerify(t *testing.T) {
	f := newFixture(t)
	b, err := Issue(f.input())
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(b, f.roots, f.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v.DocType != DocTypeMNC || !v.DeviceKey.Equal(&f.device.PublicKey) || !v.Signer.Equal(f.ds) || len(v.Chain) != 2 {
		t.Fatalf("verified %+v", v)
	}
	if n := len(v.Names()); n != 10 {
		t.Fatalf("%d elements: %v", n, v.Names())
	}
	for name, want := range map[string]any{
		"full_name_unicode": "窓口　花子", "age_over_20": true, "age_in_years": uint64(41), "sex": uint64(2),
		"birth_date": FullDate("1985-04-01"), "portrait": []byte{0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50},
	} {
		if got, ok := v.Element(name); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	if _, ok := v.Elements[NamespaceISO23220]["age_over_20"]; !ok {
		t.Error("age_over_20 not in the ISO 23220-2 namespace")
	}
	if !v.ValidUntil.Equal(f.now.AddDate(1, 0, 0)) || !v.ValidFrom.Equal(f.now) {
		t.Errorf("validity %v – %v", v.ValidFrom, v.ValidUntil)
	}
}

// TestBoundKey: a wallet reads the device key an mdoc is bound to without
// the issuer's roots; bytes that are no mdoc are refused as malformed.
func TestBoundKey(t *testing.T) {
	f := newFixture(t)
	b, err := Issue(f.input())
	if err != nil {
		t.Fatal(err)
	}
	k, err := BoundKey(b)
	if err != nil || !k.Equal(&f.device.PublicKey) {
		t.Fatalf("bound key %v %v", k, err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, b[:len(b)/2]} {
		if _, err := BoundKey(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("BoundKey(%d bytes): %v, want ErrMalformed", len(bad), err)
		}
	}
}

func TestSelectiveDisclosure(t *testing.T) {
	f := newFixture(t)
	b, err := Issue(f.input())
	if err != nil {
		t.Fatal(err)
	}
	d, err := Disclose(b, []string{"birth_date", "age_over_20"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(d, []byte("窓口")) || bytes.Contains(d, []byte("age_in_years")) {
		t.Fatal("undisclosed elements left in")
	}
	v, err := Verify(d, f.roots, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Names(); !reflect.DeepEqual(got, []string{NamespaceISO23220 + "/age_over_20", NamespaceISO23220 + "/birth_date"}) {
		t.Fatalf("disclosed %v", got)
	}
	if _, err := Disclose(b, []string{"individual_number_unicode"}); !errors.Is(err, ErrNotPresent) {
		t.Fatalf("absent element: %v", err)
	}
	// Nothing disclosed: the signature still verifies, no elements.
	none, _ := Disclose(b, nil)
	if v, err := Verify(none, f.roots, f.now); err != nil || len(v.Names()) != 0 {
		t.Fatalf("none: %v %v", v.Names(), err)
	}
}

// mutate decodes the IssuerSigned, lets fn change it, and encodes it.
func mutate(t *testing.T, b []byte, fn func(is *issuerSigned)) []byte {
	t.Helper()
	var is issuerSigned
	if err := decMode.Unmarshal(b, &is); err != nil {
		t.Fatal(err)
	}
	fn(&is)
	out, err := encMode.Marshal(is)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	b, err := Issue(f.input())
	if err != nil {
		t.Fatal(err)
	}
	other := newFixture(t)

	// An element swapped for another value under the same digest ID.
	forged := mutate(t, b, func(is *issuerSigned) {
		items := is.NameSpaces[NamespaceISO23220]
		for i, raw := range items {
			it, _ := decodeItem(raw)
			if it.ElementIdentifier == "age_over_20" {
				it.ElementValue, _ = encMode.Marshal(false)
				inner, _ := encMode.Marshal(it)
				items[i], _ = wrap24(inner)
			}
		}
	})
	if _, err := Verify(forged, f.roots, f.now); !errors.Is(err, ErrDigest) {
		t.Errorf("forged element: %v", err)
	}
	// Another issuer's root.
	if _, err := Verify(b, other.roots, f.now); !errors.Is(err, ErrChain) {
		t.Errorf("foreign root: %v", err)
	}
	// Expired, and not yet valid.
	if _, err := Verify(b, f.roots, f.now.AddDate(1, 0, 1)); !errors.Is(err, ErrValidity) {
		t.Errorf("expired: %v", err)
	}
	if _, err := Verify(b, f.roots, f.now.Add(-30*time.Minute)); !errors.Is(err, ErrValidity) {
		t.Errorf("not yet valid: %v", err)
	}
	// A broken signature.
	broken := mutate(t, b, func(is *issuerSigned) {
		var m cose.UntaggedSign1Message
		if err := m.UnmarshalCBOR(is.IssuerAuth); err != nil {
			t.Fatal(err)
		}
		m.Signature[3] ^= 1
		is.IssuerAuth, _ = m.MarshalCBOR()
	})
	if _, err := Verify(broken, f.roots, f.now); !errors.Is(err, ErrSignature) {
		t.Errorf("broken signature: %v", err)
	}
	// Signed by another document signer whose certificate claims to be ours.
	in := f.input()
	in.SignerKey = other.dsKey
	if _, err := Issue(in); err == nil {
		t.Error("Issue took a key that is not the certificate's")
	}
	// A certificate that is not a document signer.
	in = f.input()
	plain, plainKey := plainCert(t, f)
	in.SignerKey, in.SignerChain = plainKey, [][]byte{plain.Raw}
	nb, err := Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(nb, f.roots, f.now); !errors.Is(err, ErrChain) {
		t.Errorf("not a document signer: %v", err)
	}
	// Garbage.
	if _, err := Verify([]byte{0xa0}, f.roots, f.now); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty map: %v", err)
	}
}

// plainCert is a certificate under the IACA without the DS usage.
func plainCert(t *testing.T, f fixture) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	// Reuse NewDocumentSigner's shape but drop the EKU: build by hand.
	iaca, iacaKey, _ := NewIACA("Plain IACA", f.now.Add(-time.Hour), f.now.AddDate(1, 0, 0))
	f.roots.AddCert(iaca)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: randomSerial(), NotBefore: f.now.Add(-time.Hour), NotAfter: f.now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iaca, &k.PublicKey, iacaKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

// TestWireForm checks the encoding against ISO 18013-5 with the CBOR
// library alone: tag 24 around items and MSO, tdate tags, the COSE_Key,
// full-date, the x5chain in the unprotected header.
func TestWireForm(t *testing.T) {
	f := newFixture(t)
	b, err := Issue(f.input())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]cbor.RawMessage
	if err := cbor.Unmarshal(b, &top); err != nil || len(top) != 2 || top["nameSpaces"] == nil || top["issuerAuth"] == nil {
		t.Fatalf("top level %v %v", top, err)
	}
	var auth []cbor.RawMessage
	if err := cbor.Unmarshal(top["issuerAuth"], &auth); err != nil || len(auth) != 4 {
		t.Fatalf("issuerAuth is not an untagged 4-array: %v", err)
	}
	var unprot map[int]any
	cbor.Unmarshal(auth[1], &unprot)
	if der, ok := unprot[33].([]byte); !ok || !bytes.Equal(der, f.ds.Raw) {
		t.Fatalf("x5chain %T", unprot[33])
	}
	var payload []byte
	cbor.Unmarshal(auth[2], &payload)
	var tag cbor.RawTag
	if err := cbor.Unmarshal(payload, &tag); err != nil || tag.Number != 24 {
		t.Fatalf("MSO not in tag 24: %v", err)
	}
	var msoBytes []byte
	cbor.Unmarshal(tag.Content, &msoBytes)
	var mso map[string]cbor.RawMessage
	cbor.Unmarshal(msoBytes, &mso)
	var vi map[string]cbor.RawTag
	if err := cbor.Unmarshal(mso["validityInfo"], &vi); err != nil || vi["validUntil"].Number != 0 {
		t.Fatalf("validityInfo %v", err)
	}
	var dki map[string]map[int]any
	cbor.Unmarshal(mso["deviceKeyInfo"], &dki)
	k := dki["deviceKey"]
	if k[1] != uint64(2) || k[-1] != uint64(1) || len(k[-2].([]byte)) != 32 || len(k[-3].([]byte)) != 32 {
		t.Fatalf("COSE_Key %v", k)
	}
	var spaces map[string][]cbor.RawTag
	cbor.Unmarshal(top["nameSpaces"], &spaces)
	found := false
	for _, it := range spaces[NamespaceISO23220] {
		var inner []byte
		cbor.Unmarshal(it.Content, &inner)
		var item map[string]cbor.RawMessage
		cbor.Unmarshal(inner, &item)
		var name string
		cbor.Unmarshal(item["elementIdentifier"], &name)
		if name == "birth_date" {
			var d cbor.RawTag
			cbor.Unmarshal(item["elementValue"], &d)
			var s string
			cbor.Unmarshal(d.Content, &s)
			found = d.Number == 1004 && s == "1985-04-01"
		}
	}
	if !found {
		t.Fatal("birth_date is not a full-date (tag 1004)")
	}
	// A tagged COSE_Sign1 (tag 18) verifies too.
	tagged := mutate(t, b, func(is *issuerSigned) {
		var m cose.UntaggedSign1Message
		m.UnmarshalCBOR(is.IssuerAuth)
		is.IssuerAuth, _ = (*cose.Sign1Message)(&m).MarshalCBOR()
	})
	if _, err := Verify(tagged, f.roots, f.now); err != nil {
		t.Fatalf("tagged COSE_Sign1: %v", err)
	}
}

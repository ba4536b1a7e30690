package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/mdoc"
	"madoguchi/drivers/phone"
)

// testPortrait stands for the card's face photo: a JP2 signature box and
// some bytes.
var testPortrait = append([]byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A}, bytes.Repeat([]byte{0x5A}, 300)...)

func (r *rig) iacaCert() *x509.Certificate {
	r.t.Helper()
	b, err := os.ReadFile(r.init.IACA.Cert)
	if err != nil {
		r.t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// mdocRig: an issued demo card (窓口　花子, born 1985-04-01, female,
// municipality 99999) with an active phone and an mdoc device key made
// on the phone over a fresh challenge.
func mdocRig(t *testing.T) (*rig, api.Phone, *testPhone, mdocKey) {
	r := startRig(t, Options{RateLimit: 1000})
	card, _ := r.issuedCard(0)
	tp := r.approvedPhone()
	ph := r.newPhone(card, tp, false)
	return r, ph, tp, r.mdocKey(tp)
}

// mdocKey is a device key made on a phone for an mdoc, its attestation
// and the challenge it signs (usable once).
type mdocKey struct {
	att       phone.Attestation
	challenge []byte
}

func (r *rig) mdocKey(tp *testPhone) mdocKey {
	r.t.Helper()
	ch := r.challenge()
	att, err := tp.drv.GenerateKey(context.Background(), phone.PurposeMdoc, ch)
	if err != nil {
		r.t.Fatal(err)
	}
	return mdocKey{att: att, challenge: ch}
}

// request asks for an mdoc bound to the key.
func (k mdocKey) request(portrait []byte) api.MdocRequest {
	return api.MdocRequest{DeviceKey: k.att.SPKI, Portrait: portrait, Attestation: k.att.Raw, Challenge: k.challenge}
}

func (r *rig) mdoc(ph api.Phone, k mdocKey, portrait []byte) api.Mdoc {
	r.t.Helper()
	var m api.Mdoc
	if st, p, _, err := r.do(r.hc, "POST", "/v1/phones/"+ph.ID+"/mdoc", newKey(), k.request(portrait), &m); st != 201 || err != nil {
		r.t.Fatalf("mdoc: %d %+v %v", st, p, err)
	}
	return m
}

// TestMdocVerifiedIndependently decodes the mdoc the endpoint issues with
// the CBOR library alone, recomputes every digest, and verifies the
// COSE_Sign1 with go-cose against the document signer's certificate,
// which it chains to the IACA root itself — without drivers/mdoc.
func TestMdocVerifiedIndependently(t *testing.T) {
	r, ph, _, k := mdocRig(t)
	att := k.att
	m := r.mdoc(ph, k, testPortrait)
	if m.DocType != "org.iso.23220.1.jp.mnc" || !m.ValidUntil.Equal(ph.Certificate.NotAfter) {
		t.Fatalf("answer: %s until %v, want until %v", m.DocType, m.ValidUntil, ph.Certificate.NotAfter)
	}

	// IssuerSigned = {"nameSpaces": …, "issuerAuth": COSE_Sign1}
	var top struct {
		NameSpaces map[string][]cbor.RawMessage `cbor:"nameSpaces"`
		IssuerAuth cbor.RawMessage              `cbor:"issuerAuth"`
	}
	if err := cbor.Unmarshal(m.IssuerSigned, &top); err != nil {
		t.Fatal(err)
	}
	var sign1 cose.UntaggedSign1Message
	if err := sign1.UnmarshalCBOR(top.IssuerAuth); err != nil {
		t.Fatalf("issuerAuth: %v", err)
	}
	if alg, err := sign1.Headers.Protected.Algorithm(); err != nil || alg != cose.AlgorithmES256 {
		t.Fatalf("alg %v %v", alg, err)
	}
	dsDER, ok := sign1.Headers.Unprotected[cose.HeaderLabelX5Chain].([]byte)
	if !ok {
		t.Fatalf("x5chain in the unprotected header: %T", sign1.Headers.Unprotected[cose.HeaderLabelX5Chain])
	}
	ds, err := x509.ParseCertificate(dsDER)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(r.iacaCert())
	if _, err := ds.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("document signer does not chain to the IACA: %v", err)
	}
	dsPub, ok := ds.PublicKey.(*ecdsa.PublicKey)
	if !ok || dsPub.Curve != elliptic.P256() {
		t.Fatal("document signer key is not P-256")
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmES256, dsPub)
	if err != nil {
		t.Fatal(err)
	}
	if err := (*cose.Sign1Message)(&sign1).Verify(nil, verifier); err != nil {
		t.Fatalf("COSE_Sign1: %v", err)
	}

	// The payload is #6.24(bstr .cbor MobileSecurityObject).
	var msoTag cbor.RawTag
	if err := cbor.Unmarshal(sign1.Payload, &msoTag); err != nil || msoTag.Number != 24 {
		t.Fatalf("payload tag: %d %v", msoTag.Number, err)
	}
	var msoBytes []byte
	if err := cbor.Unmarshal(msoTag.Content, &msoBytes); err != nil {
		t.Fatal(err)
	}
	var mso struct {
		Version         string                       `cbor:"version"`
		DigestAlgorithm string                       `cbor:"digestAlgorithm"`
		ValueDigests    map[string]map[uint64][]byte `cbor:"valueDigests"`
		DeviceKeyInfo   struct {
			DeviceKey map[int]any `cbor:"deviceKey"`
		} `cbor:"deviceKeyInfo"`
		DocType      string                 `cbor:"docType"`
		ValidityInfo map[string]cbor.RawTag `cbor:"validityInfo"`
	}
	if err := cbor.Unmarshal(msoBytes, &mso); err != nil {
		t.Fatal(err)
	}
	if mso.Version != "1.0" || mso.DigestAlgorithm != "SHA-256" || mso.DocType != "org.iso.23220.1.jp.mnc" {
		t.Fatalf("MSO %s %s %s", mso.Version, mso.DigestAlgorithm, mso.DocType)
	}
	tdate := func(name string) time.Time {
		t.Helper()
		tag := mso.ValidityInfo[name]
		var s string
		if tag.Number != 0 || cbor.Unmarshal(tag.Content, &s) != nil {
			t.Fatalf("%s is not a tdate", name)
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := time.Now()
	if from, until := tdate("validFrom"), tdate("validUntil"); from.After(now) || !until.Equal(ph.Certificate.NotAfter) || tdate("signed").After(from) {
		t.Fatalf("validity %v – %v", from, until)
	}
	dk := mso.DeviceKeyInfo.DeviceKey
	x, _ := dk[-2].([]byte)
	y, _ := dk[-3].([]byte)
	if dk[1] != uint64(2) || dk[-1] != uint64(1) || new(big.Int).SetBytes(x).Cmp(att.PublicKey.X) != 0 || new(big.Int).SetBytes(y).Cmp(att.PublicKey.Y) != 0 {
		t.Fatalf("device key %v is not the phone's mdoc key", dk)
	}

	// Every item's digest, recomputed over IssuerSignedItemBytes.
	got := map[string]any{}
	for ns, items := range top.NameSpaces {
		for _, raw := range items {
			var tag cbor.RawTag
			if err := cbor.Unmarshal(raw, &tag); err != nil || tag.Number != 24 {
				t.Fatalf("item not in tag 24: %v", err)
			}
			var inner []byte
			cbor.Unmarshal(tag.Content, &inner)
			var item struct {
				DigestID          uint64 `cbor:"digestID"`
				Random            []byte `cbor:"random"`
				ElementIdentifier string `cbor:"elementIdentifier"`
				ElementValue      any    `cbor:"elementValue"`
			}
			if err := cbor.Unmarshal(inner, &item); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(raw)
			if want := mso.ValueDigests[ns][item.DigestID]; !bytes.Equal(want, sum[:]) {
				t.Errorf("%s/%s: digest mismatch", ns, item.ElementIdentifier)
			}
			if len(item.Random) < 16 {
				t.Errorf("%s: salt of %d bytes", item.ElementIdentifier, len(item.Random))
			}
			got[ns+"/"+item.ElementIdentifier] = item.ElementValue
		}
	}
	age := uint64(jpki.AgeAt("19850401", time.Now()))
	want := map[string]any{
		"org.iso.23220.1.jp/full_name_unicode":        "窓口　花子",
		"org.iso.23220.1.jp/resident_address_unicode": "デモ県デモ市中央一丁目２番３号",
		"org.iso.23220.1.jp/local_gov_code_unicode":   "99999",
		"org.iso.23220.1.jp/portrait":                 testPortrait,
		"org.iso.23220.1.jp/sex_unicode":              "女",
		"org.iso.23220.1.jp/birth_date_unicode":       "1985年4月1日",
		"org.iso.23220.1/sex":                         uint64(2),
		"org.iso.23220.1/birth_date":                  cbor.Tag{Number: 1004, Content: "1985-04-01"},
		"org.iso.23220.1/age_in_years":                age,
		"org.iso.23220.1/age_over_20":                 true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("elements\n got %v\nwant %v", got, want)
	}
	for name := range got {
		if bytes.Contains([]byte(name), []byte("individual_number")) {
			t.Fatal("the individual number is in the mdoc")
		}
	}
}

// TestMdocSelectiveDisclosure: a verifier given only birth_date and
// age_over_20 verifies exactly those, with drivers/mdoc.
func TestMdocSelectiveDisclosure(t *testing.T) {
	r, ph, _, k := mdocRig(t)
	att := k.att
	m := r.mdoc(ph, k, nil)
	roots := x509.NewCertPool()
	roots.AddCert(r.iacaCert())
	all, err := mdoc.Verify(m.IssuerSigned, roots, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all.Element("portrait"); ok || len(all.Names()) != 9 {
		t.Fatalf("without a portrait: %v", all.Names())
	}
	shown, err := mdoc.Disclose(m.IssuerSigned, []string{"birth_date", "age_over_20"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := mdoc.Verify(shown, roots, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Names(); !reflect.DeepEqual(got, []string{"org.iso.23220.1/age_over_20", "org.iso.23220.1/birth_date"}) {
		t.Fatalf("verified %v", got)
	}
	if bd, _ := v.Element("birth_date"); bd != mdoc.FullDate("1985-04-01") {
		t.Fatalf("birth_date %v", bd)
	}
	if !v.DeviceKey.Equal(att.PublicKey) || v.DocType != api.MdocDocType {
		t.Fatal("device key or docType")
	}
	if bytes.Contains(shown, []byte("窓口")) {
		t.Fatal("the name went to a verifier that asked for the age")
	}
	// The attestation's challenge was used up by this mdoc.
	st, p, _, _ := r.do(r.hc, "POST", "/v1/phones/"+ph.ID+"/mdoc", newKey(), k.request(nil), nil)
	wantRefusal(t, "a used challenge", st, p, 422, api.CodeAttestation, "challenge")
}

func TestMdocRefusals(t *testing.T) {
	r, ph, tp, k := mdocRig(t)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaSPKI, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	path := "/v1/phones/" + ph.ID + "/mdoc"
	req := k.request(nil)
	req.DeviceKey = rsaSPKI
	st, p, _, _ := r.do(r.hc, "POST", path, newKey(), req, nil)
	wantRefusal(t, "RSA device key", st, p, 400, api.CodeBadRequest, "P-256")
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), k.request([]byte("GIF89a")), nil)
	wantRefusal(t, "a GIF portrait", st, p, 400, api.CodeBadRequest, "JPEG 2000")
	// The device key must be attested, over a fresh challenge, by the
	// secure element and app of the phone credential.
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), api.MdocRequest{DeviceKey: k.att.SPKI}, nil)
	wantRefusal(t, "no attestation", st, p, 400, api.CodeBadRequest, "attestation")
	ch := make([]byte, 32)
	rand.Read(ch)
	unissued, err := tp.drv.GenerateKey(context.Background(), phone.PurposeMdoc, ch)
	if err != nil {
		t.Fatal(err)
	}
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), mdocKey{att: unissued, challenge: ch}.request(nil), nil)
	wantRefusal(t, "a challenge never issued", st, p, 422, api.CodeAttestation, "challenge")
	other := r.mdocKey(tp)
	req = other.request(nil)
	req.DeviceKey = k.att.SPKI
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), req, nil)
	wantRefusal(t, "another key's attestation", st, p, 422, api.CodeAttestation, "publicKey")
	// A phone of another approved pair: its key is not this credential's.
	foreign := newTestPhone(t, r.vendor(), "Other SE", "")
	r.run.s.allow = append(r.run.s.allow, allowEntry{SecureElement: "Other SE", App: r.run.s.allow[0].App, Vendor: r.run.s.allow[0].Vendor, roots: r.run.s.allow[0].roots})
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), r.mdocKey(foreign).request(nil), nil)
	wantRefusal(t, "a key from another secure element", st, p, 422, api.CodeAttestation, "phone credential")
	st, p, _, _ = r.do(r.hc, "POST", "/v1/phones/nosuch/mdoc", newKey(), r.mdocKey(tp).request(nil), nil)
	wantRefusal(t, "unknown phone", st, p, 404, api.CodeNotFound, "")
	r.do(r.hc, "POST", "/v1/phones/"+ph.ID+"/suspension", newKey(), nil, nil)
	st, p, _, _ = r.do(r.hc, "POST", path, newKey(), r.mdocKey(tp).request(nil), nil)
	wantRefusal(t, "suspended phone", st, p, 409, api.CodeCertState, "suspended")
	var n int
	r.run.s.db.DB.QueryRow(`SELECT count(*) FROM phone_mdocs`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d mdocs recorded for refusals", n)
	}
}

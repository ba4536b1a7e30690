// Package jpki holds the JPKI certificate profile and validity rules
// shared by the central system's certificate authority (drivers/jlis/sim)
// and the virtual card's demo issuer (drivers/card/sim): subject forms,
// extensions and OIDs (shared/card-reference.md §10) and the validity of
// cards and e-certificates (domain.md §1, card-reference.md §12–§13).
package jpki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// OIDs of the profile (ref §10).
var (
	OIDAuthPolicy = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 3, 30}
	OIDSignPolicy = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 1, 20}
	// OIDPhonePolicy is Madoguchi's policy for smartphone authentication
	// certificates (the real one is not public).
	OIDPhonePolicy = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 3, 99}
	OIDSAN         = asn1.ObjectIdentifier{2, 5, 29, 17}
	// OIDAttr is the arc of the signature certificate's otherName
	// attributes: .1 name, .2 name (substitute characters), .3 sex, .4
	// date of birth (era digit + YYYYMMDD), .5 address, .6 address
	// (substitute characters).
	OIDAttr = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5}
)

// Holder is what the signature certificate carries.
type Holder struct {
	Name, Address, BirthDate, Sex string // BirthDate YYYYMMDD, Sex ISO 5218
}

// RandomSerial is a positive 63-bit serial number.
func RandomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	return n.Add(n, big.NewInt(1))
}

// OpaqueID is a 23-character subject CN like the real certificates'
// (ref §10: e.g. 840444E37PAFHN08220003A).
func OpaqueID() string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	r := make([]byte, 23)
	_, _ = rand.Read(r)
	for i := range r {
		r[i] = alphabet[int(r[i])%len(alphabet)]
	}
	return string(r)
}

// Endpoints are the revocation URLs written into certificates.
type Endpoints struct {
	CRL  string // CRL distribution point (http)
	OCSP string // OCSP responder (http)
}

func (e Endpoints) apply(t *x509.Certificate) {
	if e.CRL != "" {
		t.CRLDistributionPoints = []string{e.CRL}
	}
	if e.OCSP != "" {
		t.OCSPServer = []string{e.OCSP}
	}
}

// AuthTemplate is a 利用者証明用 certificate: subject C=JP and an opaque
// CN (no personal data); KeyUsage digitalSignature (critical); EKU
// clientAuth; policy 1.2.392.200149.8.5.1.3.30.
func AuthTemplate(notBefore, notAfter time.Time, ep Endpoints) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber: RandomSerial(),
		Subject:      pkix.Name{Country: []string{"JP"}, CommonName: OpaqueID()},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:    []x509.OID{oid(OIDAuthPolicy)},
	}
	ep.apply(t)
	return t
}

// PhoneTemplate is a smartphone authentication certificate: like the
// card's, with its own policy.
func PhoneTemplate(notBefore, notAfter time.Time, ep Endpoints) *x509.Certificate {
	t := AuthTemplate(notBefore, notAfter, ep)
	t.Policies = []x509.OID{oid(OIDPhonePolicy)}
	return t
}

// SignTemplate is a 署名用 certificate carrying the basic four items as
// subjectAltName otherName entries (ref §10).
func SignTemplate(h Holder, notBefore, notAfter time.Time, ep Endpoints) (*x509.Certificate, error) {
	san, err := SAN(h)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: RandomSerial(),
		Subject:      pkix.Name{Country: []string{"JP"}, CommonName: OpaqueID()},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		Policies:        []x509.OID{oid(OIDSignPolicy)},
		ExtraExtensions: []pkix.Extension{{Id: OIDSAN, Value: san}},
	}
	ep.apply(t)
	return t, nil
}

func oid(o asn1.ObjectIdentifier) x509.OID {
	u := make([]uint64, len(o))
	for i, v := range o {
		u[i] = uint64(v)
	}
	x, err := x509.OIDFromInts(u)
	if err != nil {
		panic(err) // only the constant OIDs above
	}
	return x
}

type otherName struct {
	TypeID asn1.ObjectIdentifier
	Value  asn1.RawValue // [0] EXPLICIT, built by hand: Marshal ignores tag parameters on a RawValue
}

// SAN encodes GeneralNames with one otherName per attribute, each value a
// [0] EXPLICIT UTF8String.
func SAN(h Holder) ([]byte, error) {
	attrs := []struct {
		n int
		v string
	}{{1, h.Name}, {3, h.Sex}, {4, EraBirthDate(h.BirthDate)}, {5, h.Address}}
	var names []asn1.RawValue
	for _, a := range attrs {
		o := append(append(asn1.ObjectIdentifier{}, OIDAttr...), a.n)
		utf8, err := asn1.MarshalWithParams(a.v, "utf8")
		if err != nil {
			return nil, err
		}
		on, err := asn1.Marshal(otherName{TypeID: o, Value: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: utf8}})
		if err != nil {
			return nil, err
		}
		on[0] = 0xA0 // GeneralName otherName is [0] IMPLICIT
		names = append(names, asn1.RawValue{FullBytes: on})
	}
	return asn1.Marshal(names)
}

// Attributes reads the basic four items back from a signature
// certificate's subjectAltName.
func Attributes(cert *x509.Certificate) (Holder, error) {
	var h Holder
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(OIDSAN) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err != nil {
			return h, fmt.Errorf("subjectAltName: %w", err)
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 {
				continue
			}
			var typeID asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(n.Bytes, &typeID)
			if err != nil {
				return h, fmt.Errorf("otherName: %w", err)
			}
			if len(typeID) != len(OIDAttr)+1 || !typeID[:len(OIDAttr)].Equal(OIDAttr) {
				continue
			}
			var wrapper asn1.RawValue // [0] EXPLICIT
			if _, err := asn1.Unmarshal(rest, &wrapper); err != nil {
				return h, fmt.Errorf("otherName value: %w", err)
			}
			var s string
			if _, err := asn1.Unmarshal(wrapper.Bytes, &s); err != nil {
				return h, fmt.Errorf("attribute: %w", err)
			}
			switch typeID[len(OIDAttr)] {
			case 1:
				h.Name = s
			case 3:
				h.Sex = s
			case 4:
				if len(s) == 9 {
					s = s[1:]
				}
				h.BirthDate = s
			case 5:
				h.Address = s
			}
		}
		return h, nil
	}
	return h, fmt.Errorf("no subjectAltName")
}

// EraBirthDate writes a birth date as the profile does: one era digit (1
// 明治 … 5 令和) and the Gregorian YYYYMMDD (ref §10, ZKM ⚠).
func EraBirthDate(ymd string) string {
	era := "5"
	switch {
	case ymd < "19120730":
		era = "1"
	case ymd < "19261225":
		era = "2"
	case ymd < "19890108":
		era = "3"
	case ymd < "20190501":
		era = "4"
	}
	return era + ymd
}

// JST is Japan Standard Time.
var JST = time.FixedZone("JST", 9*3600)

// Validity is a card's and its certificates' last valid instant.
type Validity struct{ Card, Certs time.Time }

// ValidityFor computes expiry from the birth date and the issue date: the
// card until the 10th birthday after issue (5th if under 18 at issue), the
// e-certificates until the 5th birthday after issue or the card's expiry if
// sooner; with tenYearCerts (next generation) the certificates run as long
// as the card. Expiry is the end of that birthday in Japan.
func ValidityFor(birth string, issued time.Time, tenYearCerts bool) (Validity, error) {
	b, err := time.ParseInLocation("20060102", birth, JST)
	if err != nil {
		return Validity{}, fmt.Errorf("birth date %q: %w", birth, err)
	}
	issued = issued.In(JST)
	nth := func(n int) time.Time {
		first := time.Date(issued.Year(), b.Month(), b.Day(), 0, 0, 0, 0, JST)
		if !first.After(issued) {
			first = first.AddDate(1, 0, 0)
		}
		return first.AddDate(n-1, 0, 0).Add(24*time.Hour - time.Second)
	}
	years := 10
	if AgeAt(birth, issued) < 18 {
		years = 5
	}
	v := Validity{Card: nth(years), Certs: nth(5)}
	if tenYearCerts || v.Certs.After(v.Card) {
		v.Certs = v.Card
	}
	return v, nil
}

// AgeAt returns the age in whole years on day t.
func AgeAt(birth string, t time.Time) int {
	b, err := time.ParseInLocation("20060102", birth, JST)
	if err != nil {
		return 0
	}
	t = t.In(JST)
	age := t.Year() - b.Year()
	if t.Month() < b.Month() || (t.Month() == b.Month() && t.Day() < b.Day()) {
		age--
	}
	return age
}

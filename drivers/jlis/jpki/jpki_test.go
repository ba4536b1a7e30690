package jpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

func TestValidity(t *testing.T) {
	day := func(s string) time.Time {
		d, _ := time.ParseInLocation("2006-01-02", s, JST)
		return d.Add(10 * time.Hour)
	}
	for _, tc := range []struct {
		birth, issued string
		ten           bool
		card, certs   string
	}{
		// Adult: card to the 10th birthday after issue, certificates the 5th.
		{"19850401", "2026-11-22", false, "2036-04-01", "2031-04-01"},
		// Issued on the birthday itself: the first birthday "after" is next year's.
		{"19850401", "2026-04-01", false, "2036-04-01", "2031-04-01"},
		// Under 18: card to the 5th birthday; certificates the same.
		{"20100601", "2026-11-22", false, "2031-06-01", "2031-06-01"},
		// Next generation: certificates as long as the card.
		{"19850401", "2026-11-22", true, "2036-04-01", "2036-04-01"},
	} {
		v, err := ValidityFor(tc.birth, day(tc.issued), tc.ten)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Card.Format("2006-01-02"); got != tc.card {
			t.Errorf("%+v: card %s, want %s", tc, got, tc.card)
		}
		if got := v.Certs.Format("2006-01-02"); got != tc.certs {
			t.Errorf("%+v: certs %s, want %s", tc, got, tc.certs)
		}
		if v.Certs.Hour() != 23 || v.Certs.UTC().Hour() != 14 {
			t.Errorf("expiry is not the end of the day in Japan: %v", v.Certs)
		}
	}
	if AgeAt("20111123", day("2026-11-22")) != 14 || AgeAt("20111122", day("2026-11-22")) != 15 {
		t.Error("AgeAt around a birthday")
	}
}

func TestSignCertificateAttributesRoundTrip(t *testing.T) {
	h := Holder{Name: "窓口　花子", Address: "デモ県デモ市中央一丁目２番３号", BirthDate: "19850401", Sex: "2"}
	tmpl, err := SignTemplate(h, time.Now(), time.Now().Add(time.Hour), Endpoints{CRL: "http://x/crl/sign.crl", OCSP: "http://x/ocsp"})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	got, err := Attributes(c)
	if err != nil || got != h {
		t.Fatalf("attributes %+v %v", got, err)
	}
	if EraBirthDate("19850401") != "319850401" || EraBirthDate("20190501") != "520190501" || EraBirthDate("20190430") != "420190430" {
		t.Fatal("era digit")
	}
	if len(c.Subject.CommonName) != 23 || c.CRLDistributionPoints[0] != "http://x/crl/sign.crl" {
		t.Fatalf("subject %q", c.Subject.CommonName)
	}
}

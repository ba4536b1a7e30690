package receipt

import (
	"testing"
	"time"

	"madoguchi/app/i18n"
)

func TestNumberRoundTrip(t *testing.T) {
	day := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC) // already the 23rd in Japan
	for _, tc := range []struct {
		terminal string
		seq      int
		want     string
	}{
		{"DEMO-01", 7, "DEMO-01-20261123-0007"},
		{"KIOSK", 12345, "KIOSK-20261123-12345"},
		{"a-b-c", 1, "a-b-c-20261123-0001"},
	} {
		n := FormatNumber(tc.terminal, day, tc.seq)
		if n != tc.want {
			t.Errorf("FormatNumber = %q, want %q", n, tc.want)
		}
		term, d, seq, err := ParseNumber(n)
		if err != nil || term != tc.terminal || seq != tc.seq || d.Format("20060102") != "20261123" || d.Location() != i18n.Japan {
			t.Errorf("ParseNumber(%q) = %q %v %d %v", n, term, d, seq, err)
		}
		if LooksLikeIndividualNumber(n) {
			t.Errorf("receipt number %q looks like an individual number", n)
		}
	}
	for _, bad := range []string{"", "DEMO", "DEMO-20261122", "-20261122-0001", "DEMO-2026112-0001", "DEMO-20261122-x", "DEMO-20261122-0000"} {
		if _, _, _, err := ParseNumber(bad); err == nil {
			t.Errorf("ParseNumber(%q) accepted", bad)
		}
	}
}

func TestQRPayload(t *testing.T) {
	p := QRPayload("DEMO-01-20261122-0001", "ABCDEFGHIJKLMNOP")
	if p != "MDGR1:DEMO-01-20261122-0001:ABCDEFGHIJKLMNOP" {
		t.Fatalf("payload %q", p)
	}
	for _, in := range []string{p, "  " + p + "\n", "mdgr1:DEMO-01-20261122-0001:ABCDEFGHIJKLMNOP"} {
		n, c, err := ParseQR(in)
		if err != nil || n != "DEMO-01-20261122-0001" || c != "ABCDEFGHIJKLMNOP" {
			t.Errorf("ParseQR(%q) = %q %q %v", in, n, c, err)
		}
	}
	for _, bad := range []string{"", "MDGR1", "MDGR1:", "MDGR1:x:", "MDGR1::y", "https://example.com", "MDGR2:a:b"} {
		if _, _, err := ParseQR(bad); err == nil {
			t.Errorf("ParseQR(%q) accepted", bad)
		}
	}
}

func TestLooksLikeIndividualNumber(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"123456789018", true},
		{"番号123456789018です", true},
		{"1234 5678 9018", true},
		{"1234-5678-9018", true},
		{"１２３４５６７８９０１８", true}, // full-width digits
		{"１２３４ ５６７８ ９０１８", true},
		{"12345678901", false},
		{"2026-11-22", false},
		{"DEMO-01-20261122-0001", false},
		{"SUS-20261122-0042", false},
		{"窓口　花子", false},
		{"", false},
	} {
		if got := LooksLikeIndividualNumber(tc.s); got != tc.want {
			t.Errorf("LooksLikeIndividualNumber(%q) = %v", tc.s, got)
		}
	}
}

func TestDataCheck(t *testing.T) {
	ok := Data{Procedure: Issuance, Lang: "en", Details: Details{HolderName: "窓口　花子", CardLast4: "7C2A"}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]Data{
		"unknown procedure": {Procedure: "teleport", Lang: "ja"},
		"no language":       {Procedure: Issuance},
		"number as name":    {Procedure: Issuance, Lang: "ja", Details: Details{HolderName: "123456789018"}},
		"number as ref":     {Procedure: Suspension, Lang: "ja", Details: Details{Reference: "1234 5678 9018"}},
		"whole card serial": {Procedure: Issuance, Lang: "ja", Details: Details{CardLast4: "0123456789ABCDEF"}},
	} {
		if err := d.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, p := range Procedures() {
		if !p.Valid() {
			t.Errorf("procedure %q", p)
		}
	}
}

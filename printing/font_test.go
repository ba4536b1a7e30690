package printing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"madoguchi/app/receipt"
)

func TestFontCoverage(t *testing.T) {
	cov, err := FontCoverage()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    rune
		want bool
	}{
		{'A', true}, {'7', true}, {'あ', true}, {'ア', true}, {'窓', true}, {'髙', true},
		{Missing, true}, {'（', true}, {'～', true}, {'〓', true},
		{'𠮷', false},      // outside the BMP: fpdf cannot embed it
		{'\uE000', false}, // private use
		{-1, false},
	} {
		if got := cov.Has(tc.r); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.r, got, tc.want)
		}
	}
	if got := cov.MissingIn("窓口\n𠮷田𠮷"); len(got) != 1 || got[0] != '𠮷' {
		t.Errorf("MissingIn = %q", got)
	}
	if _, err := parseCoverage([]byte("not a font")); err == nil {
		t.Error("parseCoverage accepted garbage")
	}
}

// TestEveryLocaleHasItsGlyphs: every message of every locale that a
// receipt may print, and every composed receipt, uses only characters the
// embedded font has. A new locale with another script fails here until a
// font for it is added.
func TestEveryLocaleHasItsGlyphs(t *testing.T) {
	b := bundle(t)
	cov, err := FontCoverage()
	if err != nil {
		t.Fatal(err)
	}
	prefixes := []string{"receipt.", "era.", "date.", "month."}
	for _, lang := range b.Languages() {
		if pl := PrintLanguage(b, lang.Tag); pl != lang.Tag {
			// A script the font lacks: the receipt prints English beside
			// Japanese, and that must really be the case.
			if pl != "en" {
				t.Errorf("%s prints as %s", lang.Tag, pl)
			}
			r := Compose(b, Sample(receipt.PINReset, lang.Tag, testOrigin, testNow), Options{Sample: true})
			if r.Lang != "en" {
				t.Errorf("%s: composed in %s, want en", lang.Tag, r.Lang)
			}
			t.Logf("%s: printed in English beside Japanese (the font lacks its script)", lang.Tag)
			continue
		}
		cat := b.Catalog(lang.Tag)
		n := 0
		for id, msg := range cat.Messages {
			for _, p := range prefixes {
				if strings.HasPrefix(id, p) {
					n++
					if m := cov.MissingIn(plainRuby(msg)); len(m) > 0 {
						t.Errorf("%s: %s: the font lacks %q", lang.Tag, id, m)
					}
				}
			}
		}
		if n < 50 {
			t.Errorf("%s: only %d receipt messages found", lang.Tag, n)
		}
		for _, p := range receipt.Procedures() {
			r := Compose(b, Sample(p, lang.Tag, testOrigin, testNow), Options{MunicipalityCopy: true, Sample: true})
			if m := cov.MissingIn(r.Text()); len(m) > 0 {
				t.Errorf("%s: %s receipt: the font lacks %q", lang.Tag, p, m)
			}
		}
	}
}

// TestShippedFontIsTheOriginal: the embedded TTF is IPAex Gothic as
// Debian ships it, unmodified (the IPA Font License treats a modified font
// as a derived program), and its licence is beside it.
func TestShippedFontIsTheOriginal(t *testing.T) {
	sums, err := os.ReadFile("fonts/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ipaexGothic)
	line := hex.EncodeToString(sum[:]) + "  ipaexg.ttf"
	if !bytes.Contains(sums, []byte(line)) {
		t.Errorf("fonts/ipaexg.ttf is not the file recorded in fonts/SHA256SUMS (%s)", line)
	}
	if sys, err := os.ReadFile("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"); err == nil && !bytes.Equal(sys, ipaexGothic) {
		t.Log("note: this machine's Debian font differs from the shipped one (another package version)")
	}
	lic, err := os.ReadFile("fonts/IPA_Font_License_Agreement_v1.0.txt")
	if err != nil || !bytes.Contains(lic, []byte("IPA Font License Agreement v1.0")) {
		t.Errorf("the licence is not beside the font: %v", err)
	}
}

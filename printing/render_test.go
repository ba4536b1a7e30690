package printing

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
	"madoguchi/locales"
)

var (
	testNow    = time.Date(2026, 11, 22, 10, 15, 0, 0, i18n.Japan)
	testOrigin = receipt.Origin{Municipality: "デモ市", Counter: "窓口1", Terminal: "DEMO-01"}
)

func bundle(t testing.TB) *i18n.Bundle {
	t.Helper()
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func renderer(t testing.TB) *Renderer {
	t.Helper()
	rd, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// tool finds a poppler or zbar tool, or skips (fails under
// MADOGUCHI_E2E=require).
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("MADOGUCHI_E2E") == "require" {
			t.Fatalf("MADOGUCHI_E2E=require but %s is missing (Debian package %s)", name, pkg)
		}
		t.Skipf("skipped: %s is missing (Debian package %s; build/deps.sh test installs it)", name, pkg)
	}
	return p
}

func writeTemp(t testing.TB, pdf []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(p, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pdfText extracts a PDF's text with poppler's pdftotext.
func pdfText(t testing.TB, pdf []byte) string {
	t.Helper()
	out, err := exec.Command(tool(t, "pdftotext", "poppler-utils"), "-enc", "UTF-8", writeTemp(t, pdf), "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

var twelveDigits = regexp.MustCompile(`\d{12}|\d{4}[ \-]\d{4}[ \-]\d{4}`)

// TestEveryReceipt renders every procedure in every language and layout
// and reads it back: the Japanese and the citizen's title, the receipt
// number and holder, both calendars, every font embedded, no run of twelve
// digits, and a size under 100 KB.
func TestEveryReceipt(t *testing.T) {
	b := bundle(t)
	rd := renderer(t)
	pdffonts := tool(t, "pdffonts", "poppler-utils")
	for _, lang := range b.Languages() {
		for _, p := range receipt.Procedures() {
			for _, l := range Layouts() {
				t.Run(fmt.Sprintf("%s/%s/%s", lang.Tag, p, l), func(t *testing.T) {
					rec := Sample(p, lang.Tag, testOrigin, testNow)
					r := Compose(b, rec, Options{MunicipalityCopy: true})
					out, err := rd.Render(r, l)
					if err != nil {
						t.Fatal(err)
					}
					if len(out.Missing) > 0 {
						t.Errorf("missing glyphs %q", out.Missing)
					}
					if out.Pages != 2 {
						t.Errorf("%d pages, want 2 (citizen and municipality copies)", out.Pages)
					}
					if n := len(out.Bytes); n > 100<<10 {
						t.Errorf("PDF is %d bytes, the goal is under 100 KB", n)
					}
					text := pdfText(t, out.Bytes)
					flat := strings.Join(strings.Fields(text), "")
					want := []string{r.Title.JA, rec.Number, "窓口", "花子", "令和8年11月22日", "2026-11-22",
						b.T("ja", i18n.Key("receipt.footer"), nil)}
					if lang.Tag != "ja" {
						want = append(want, r.Title.Local)
					}
					for _, w := range want {
						if !strings.Contains(flat, strings.Join(strings.Fields(w), "")) {
							t.Errorf("text lacks %q:\n%s", w, text)
						}
					}
					if m := twelveDigits.FindString(text); m != "" {
						t.Errorf("text holds a run of twelve digits %q", m)
					}
					fonts, err := exec.Command(pdffonts, writeTemp(t, out.Bytes)).Output()
					if err != nil {
						t.Fatalf("pdffonts: %v", err)
					}
					checkFontsEmbedded(t, string(fonts))
				})
			}
		}
	}
}

// checkFontsEmbedded reads pdffonts' table: every font row says "yes" in
// its emb column.
func checkFontsEmbedded(t testing.TB, table string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 3 {
		t.Fatalf("pdffonts lists no font:\n%s", table)
	}
	head := lines[0]
	col := strings.Index(head, "emb")
	for _, row := range lines[2:] {
		if len(row) < col+3 || row[col:col+3] != "yes" {
			t.Errorf("font not embedded: %q", row)
		}
		if !strings.Contains(strings.ToLower(row), strings.ToLower(FontName)) {
			t.Errorf("unexpected font %q", row)
		}
	}
}

func TestLayoutGeometry(t *testing.T) {
	b := bundle(t)
	rd := renderer(t)
	rec := Sample(receipt.Issuance, "en", testOrigin, testNow)
	for _, tc := range []struct {
		layout Layout
		width  float64
		media  *regexp.Regexp
	}{
		{Roll80, 80, regexp.MustCompile(`^Custom\.80x\d+mm$`)},
		{A4, 210, regexp.MustCompile(`^A4$`)},
	} {
		out, err := rd.Render(Compose(b, rec, Options{}), tc.layout)
		if err != nil {
			t.Fatal(err)
		}
		if out.Width != tc.width || !tc.media.MatchString(out.Media) || out.Pages != 1 {
			t.Errorf("%s: %gx%g mm, media %q, %d pages", tc.layout, out.Width, out.Height, out.Media, out.Pages)
		}
		if tc.layout == Roll80 && (out.Height < 120 || out.Height > 400) {
			t.Errorf("roll receipt %g mm long", out.Height)
		}
		if tc.layout == A4 && out.Height != 297 {
			t.Errorf("A4 page %g mm high", out.Height)
		}
	}
	if _, err := ParseLayout("letter"); err == nil {
		t.Error("ParseLayout accepted letter")
	}
}

// TestRefusesIndividualNumber: a receipt whose text has an individual
// number's shape is not rendered at all.
func TestRefusesIndividualNumber(t *testing.T) {
	b := bundle(t)
	rd := renderer(t)
	for _, s := range []string{"123456789018", "1234 5678 9018", "1234-5678-9018", "１２３４５６７８９０１８"} {
		rec := Sample(receipt.Issuance, "ja", testOrigin, testNow)
		rec.Details.HolderName = "窓口　花子 " + s
		_, err := rd.Render(Compose(b, rec, Options{}), Roll80)
		if !errors.Is(err, ErrIndividualNumber) {
			t.Errorf("%q: err = %v, want ErrIndividualNumber", s, err)
		}
	}
}

// TestMissingGlyph: a character the font lacks prints as 〓 and is
// reported, and the receipt still renders.
func TestMissingGlyph(t *testing.T) {
	b := bundle(t)
	rd := renderer(t)
	rec := Sample(receipt.Issuance, "ja", testOrigin, testNow)
	rec.Details.HolderName = "𠮷田　花子" // 𠮷 is outside the BMP
	out, err := rd.Render(Compose(b, rec, Options{}), Roll80)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Missing) != 1 || out.Missing[0] != '𠮷' {
		t.Errorf("Missing = %q", out.Missing)
	}
	if text := pdfText(t, out.Bytes); !strings.Contains(text, "〓田") {
		t.Errorf("text lacks 〓田:\n%s", text)
	}
}

// TestQRCodeScans rasterises a receipt and reads its QR code back with
// zbarimg: it carries the receipt number and the verification code.
func TestQRCodeScans(t *testing.T) {
	b := bundle(t)
	rd := renderer(t)
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	zbarimg := tool(t, "zbarimg", "zbar-tools")
	for _, l := range Layouts() {
		rec := Sample(receipt.PINReset, "en", testOrigin, testNow)
		rec.Number, rec.Code = "DEMO-01-20261122-0042", "ABCDEFGHIJKLMNOP"
		out, err := rd.Render(Compose(b, rec, Options{}), l)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pdf := filepath.Join(dir, "r.pdf")
		if err := os.WriteFile(pdf, out.Bytes, 0o600); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command(pdftoppm, "-r", "200", "-png", "-singlefile", pdf, filepath.Join(dir, "r")).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, o)
		}
		var stdout bytes.Buffer
		cmd := exec.Command(zbarimg, "--quiet", "--raw", filepath.Join(dir, "r.png"))
		cmd.Stdout = &stdout // zbarimg's stderr chatters about D-Bus
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: zbarimg found no code: %v", l, err)
		}
		if got := strings.TrimSpace(stdout.String()); got != rec.QRPayload() {
			t.Errorf("%s: QR code says %q, want %q", l, got, rec.QRPayload())
		}
	}
}

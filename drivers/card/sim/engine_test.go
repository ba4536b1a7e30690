package sim

import (
	"bytes"
	"encoding/hex"
	"madoguchi/drivers/jlis/jpki"
	"strings"
	"testing"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/tlv"
)

var testIssuer *Issuer

func issuerForTest(t *testing.T) *Issuer {
	t.Helper()
	if testIssuer == nil {
		var err error
		if testIssuer, err = NewIssuer(); err != nil {
			t.Fatal(err)
		}
	}
	return testIssuer
}

func newEngine(t *testing.T, p *card.Profile) *Card {
	t.Helper()
	st, err := Generate(issuerForTest(t), Options{Profile: p, Holder: DemoHolder, PINs: DemoPINs})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(st, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// exchange sends a command and checks the status word (and data prefix).
func exchange(t *testing.T, c *Card, cmd, wantSW string) []byte {
	t.Helper()
	out := c.Process(hx(cmd))
	if len(out) < 2 {
		t.Fatalf("%s: response %X", cmd, out)
	}
	if got := strings.ToUpper(hex.EncodeToString(out[len(out)-2:])); got != wantSW {
		t.Fatalf("%s: SW %s, want %s", cmd, got, wantSW)
	}
	return out[:len(out)-2]
}

// TestChecklist walks shared/card-reference.md §14 item by item.
func TestChecklist(t *testing.T) {
	c := newEngine(t, card.Current)
	if !bytes.Equal(c.ATR(), hx("3BE000FF8131FE4514")) {
		t.Fatalf("ATR %X", c.ATR())
	}
	// §2: no usable MF; SELECT EF without a DF.
	exchange(t, c, "00A40000", "6A86")
	exchange(t, c, "00A4020C020001", "6986")
	exchange(t, c, "00A4040C0AD3921000310001010499", "6A82")
	// §14.2–3: select the JPKI AP, read the auth certificate as in ref §6.2.
	exchange(t, c, "00A4040C0AD392F000260100000001", "9000")
	exchange(t, c, "00A40000", "9000")
	exchange(t, c, "00A4020C020099", "6A82")
	exchange(t, c, "00B0000007", "6986") // no current EF yet
	exchange(t, c, "00A4020C02000A", "9000")
	head := exchange(t, c, "00B0000007", "9000")
	total, err := tlv.Size(head)
	if err != nil || head[0] != 0x30 || head[1] != 0x82 {
		t.Fatalf("certificate header %X", head)
	}
	var cert []byte
	for off := 0; off < total; off += 256 {
		le := min(256, total-off)
		cert = append(cert, exchange(t, c, hexCmd(0x00, 0xB0, byte(off>>8), byte(off), nil, le), "9000")...)
	}
	if len(cert) != total {
		t.Fatalf("read %d of %d", len(cert), total)
	}
	exchange(t, c, hexCmd(0, 0xB0, byte(total>>8), byte(total), nil, 1), "6B00")
	// Le larger than what is left returns what is left.
	if got := exchange(t, c, hexCmd(0, 0xB0, byte((total-3)>>8), byte(total-3), nil, 256), "9000"); len(got) != 3 {
		t.Fatalf("short tail: %d bytes", len(got))
	}
	// SFI form: token info label and availability (ref §6.1).
	if label := exchange(t, c, "00B0860020", "9000"); !strings.HasPrefix(string(label), "JPKIAPICCTOKEN2 ") || len(label) != 32 {
		t.Fatalf("label %q", label)
	}
	if got := exchange(t, c, "00B0880000", "9000"); !bytes.Equal(got, hx("8F8F00")) {
		t.Fatalf("availability %X", got)
	}
	// §14.7: the signature certificate needs the password.
	exchange(t, c, "00B0810000", "6982")
	// §14.4: the tries query spends nothing; wrong, blocked.
	exchange(t, c, "00200098", "63C3")
	exchange(t, c, "00200098", "63C3")
	exchange(t, c, "002000980431313131", "63C2")
	exchange(t, c, "002000980431313131", "63C1")
	exchange(t, c, "002000980431323334", "9000") // right: count restored
	exchange(t, c, "00200098", "63C3")
	for _, want := range []string{"63C2", "63C1", "63C0"} {
		exchange(t, c, "002000980439393939", want)
	}
	exchange(t, c, "00200098", "63C0")
	exchange(t, c, "002000980431323334", "6984")
	// VERIFY by the current EF (P2 = 80) after SELECT EF.
	exchange(t, c, "00A4020C02001B", "9000")
	exchange(t, c, "00200080", "63C5")
	exchange(t, c, "002000800A4D41444F475543484931AABB", "6700") // malformed length
	exchange(t, c, "002000800A4D41444F475543484931", "9000")
	if got := exchange(t, c, "00B0810000", "9000"); got[0] != 0x30 {
		t.Fatalf("sign certificate after password: %X", got[:4])
	}
	// §2: the security state is cleared by selecting another DF, kept by SELECT EF.
	exchange(t, c, "00A4020C020002", "9000")
	exchange(t, c, "00B0810004", "9000")
	exchange(t, c, "00A4040C0AD3921000310001010408", "9000")
	exchange(t, c, "00A4040C0AD392F000260100000001", "9000")
	exchange(t, c, "00B0810004", "6982")
	// §1: logical channels and secure messaging are refused; unknown INS.
	exchange(t, c, "01A4040C0AD392F000260100000001", "6881")
	exchange(t, c, "0CB0000004", "6882")
	exchange(t, c, "00FE0000", "6D00")
	exchange(t, c, "A0B0000004", "6E00")
	// §8.2: the input-assist AP, My Number with filler, test-vector layout.
	exchange(t, c, "00A4040C0AD3921000310001010408", "9000")
	exchange(t, c, "00B0810011", "6982")
	exchange(t, c, "00200091", "63C3")
	exchange(t, c, "002000910431323334", "9000")
	if got := exchange(t, c, "00B0810011", "9000"); !bytes.Equal(got, append(append(hx("FF100C"), DemoHolder.IndividualNumber...), 0xFF, 0xFF)) {
		t.Fatalf("My Number EF %X", got)
	}
	if got := exchange(t, c, "00B0840000", "9000"); len(got) != 256 || got[0] != 0x7F || got[1] != 0x21 {
		t.Fatalf("CV certificate head %X", got[:4])
	}
	// 照合番号B does not open the My Number EF (ref §8.1).
	c.Reset()
	exchange(t, c, "00A4040C0AD3921000310001010408", "9000")
	b := CheckB(DemoHolder, mustValidity(t).Card)
	exchange(t, c, "0020009"+"5"+"0E"+hex.EncodeToString([]byte(b)), "9000")
	exchange(t, c, "00B0810011", "6982")
	exchange(t, c, "00B0820000", "9000")
}

func mustValidity(t *testing.T) jpki.Validity {
	t.Helper()
	v, err := ValidityFor(card.Current, DemoHolder.BirthDate, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hexCmd(cla, ins, p1, p2 byte, data []byte, le int) string {
	b := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		b = append(b, byte(len(data)))
		b = append(b, data...)
	}
	if le > 0 {
		b = append(b, byte(le))
	}
	return hex.EncodeToString(b)
}

// TestBasicFourLayout checks the generated EF 0002 against the layout of
// the reference's test vector: DF21 offsets that point at DF22..DF25.
func TestBasicFourLayout(t *testing.T) {
	h := DemoHolder
	h.Name, h.Address, h.BirthDate, h.Sex = "黒桐　幹也", "東京都清瀬市観布子南１２－７－２０２", "19800217", "1"
	ef, err := BasicFourEF(h)
	if err != nil {
		t.Fatal(err)
	}
	want := hx("ff2065df2108000e002000590064df220fe9bb92e6a190e38080e5b9b9e4b99fdf2336e69db1e4baace983bde6b885e780ace5b882e8a6b3e5b883e5ad90e58d97efbc91efbc92efbc8defbc97efbc8defbc92efbc90efbc92df24083139383030323137df250131")
	if !bytes.HasPrefix(ef, want) || !isAllFF(ef[len(want):]) {
		t.Fatalf("EF 0002\n got %X\nwant %X", ef, want)
	}
}

func isAllFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

func TestGetResponseChaining(t *testing.T) {
	c := newEngine(t, card.Current)
	exchange(t, c, "00A4040C0AD392F000260100000001", "9000")
	exchange(t, c, "00A4020C02000A", "9000")
	// COMPUTE DIGITAL SIGNATURE with Le 16 is cut with 61xx.
	exchange(t, c, "002000980431323334", "9000")
	digestInfo := "3031300D060960864801650304020105000420" + strings.Repeat("AB", 32)
	out := c.Process(hx("802A00973" + "3" + digestInfo + "10"))
	if len(out) != 18 || out[16] != 0x61 || out[17] != 0xF0 {
		t.Fatalf("cut response %X", out[len(out)-2:])
	}
	rest := exchange(t, c, "00C00000F0", "9000")
	if len(rest) != 240 {
		t.Fatalf("GET RESPONSE gave %d bytes", len(rest))
	}
	exchange(t, c, "00C0000010", "6985")
}

func TestExtendedRead(t *testing.T) {
	c := newEngine(t, card.Current)
	exchange(t, c, "00A4040C0AD392F000260100000001", "9000")
	cert := exchange(t, c, "00B08A00000000", "9000")
	if n, err := tlv.Size(cert); err != nil || n != len(cert) {
		t.Fatalf("one extended read: %d bytes, object %d, %v", len(cert), n, err)
	}
}

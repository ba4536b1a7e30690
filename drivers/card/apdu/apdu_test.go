package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Encodings from shared/card-reference.md §6.2 and ISO 7816-4 §5.1.
func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Command
		want string
	}{
		{"select JPKI AP (case 3)", Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: hx("D392F000260100000001")}, "00A4040C0AD392F000260100000001"},
		{"read 7 (case 2)", Command{INS: 0xB0, Le: 7}, "00B0000007"},
		{"read 256 as 00", Command{INS: 0xB0, P1: 0x01, P2: 0x07, Le: 256}, "00B0010700"},
		{"retry query (case 1)", Command{INS: 0x20, P2: 0x80}, "00200080"},
		{"verify", Command{INS: 0x20, P2: 0x80, Data: []byte("1234")}, "002000800431323334"},
		{"sign (case 4)", Command{CLA: 0x80, INS: 0x2A, P2: 0x80, Data: hx("0102"), Le: 256}, "802A008002010200"},
		{"extended read of 65536", Command{INS: 0xB0, Le: 65536}, "00B00000000000"},
		{"extended read of 1573", Command{INS: 0xB0, Le: 1573}, "00B00000000625"},
		{"forced extended", Command{INS: 0xB0, Le: 16, Extended: true}, "00B00000000010"},
		{"extended case 4", Command{CLA: 0x80, INS: 0xAE, Data: make([]byte, 256), Le: 256}, "80AE0000000100" + hex.EncodeToString(make([]byte, 256)) + "0100"},
	} {
		got, err := tc.c.Bytes()
		if err != nil || !bytes.Equal(got, hx(tc.want)) {
			t.Errorf("%s: %X, %v; want %s", tc.name, got, err, tc.want)
			continue
		}
		back, err := ParseCommand(got)
		if err != nil {
			t.Errorf("%s: parse back: %v", tc.name, err)
			continue
		}
		if back.Data == nil && tc.c.Data != nil {
			back.Data = []byte{}
		}
		norm := tc.c
		norm.Extended = norm.NeedsExtended()
		if len(norm.Data) == 0 {
			norm.Data, back.Data = nil, nil
		}
		if !reflect.DeepEqual(back, norm) {
			t.Errorf("%s: parse back %+v, want %+v", tc.name, back, norm)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, c := range []Command{{Le: 65537}, {Data: make([]byte, 65536)}, {Le: -1}} {
		if _, err := c.Bytes(); !errors.Is(err, ErrEncode) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "00", "00A404", "00A4040C05D392", "00A4040C02D39200FF", "00B000000000", "00B00000000002AA"} {
		if _, err := ParseCommand(hx(s)); !errors.Is(err, ErrParse) {
			t.Errorf("ParseCommand(%s) = %v, want ErrParse", s, err)
		}
	}
}

func TestResponse(t *testing.T) {
	r, err := ParseResponse(hx("30829000"))
	if err != nil || !bytes.Equal(r.Data, hx("3082")) || !r.OK() || r.SW1() != 0x90 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseResponse(hx("90")); err == nil {
		t.Fatal("1-byte response accepted")
	}
	if !bytes.Equal(Response{Data: []byte{1}, SW: 0x63C2}.Bytes(), hx("0163C2")) {
		t.Fatal("Bytes")
	}
	for sw, want := range map[uint16]int{0x63C3: 3, 0x63C0: 0, 0x63CF: 15} {
		if n, ok := Tries(sw); !ok || n != want {
			t.Errorf("Tries(%04X) = %d %v", sw, n, ok)
		}
	}
	if _, ok := Tries(0x6300); ok {
		t.Error("6300 read as 63Cx")
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"00A4040C0AD392F000260100000001", "00B0000007", "00200080", "00B00000000000", "80AE000000000201020000"} {
		f.Add(hx(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes, except that a
		// short-encodable extended command may re-encode extended only if
		// it was extended.
		out, err := c.Bytes()
		if err != nil {
			t.Fatalf("parsed %X but cannot re-encode: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip %X -> %+v -> %X", b, c, out)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add(hx("9000"))
	f.Add(hx("30829000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Bytes(), b) {
			t.Fatalf("round trip %X", b)
		}
	})
}

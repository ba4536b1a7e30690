package tlv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// basicFour is the test-card EF 0002 of the input-assist AP, byte for
// byte (shared/card-reference.md §8.2, from MC text.rs).
const basicFour = "ff2065df2108000e002000590064df220fe9bb92e6a190e38080e5b9b9e4b99fdf2336e69db1e4baace983bde6b885e780ace5b882e8a6b3e5b883e5ad90e58d97efbc91efbc92efbc8defbc97efbc8defbc92efbc90efbc92df24083139383030323137df250131"

func TestBasicFourVector(t *testing.T) {
	b := append(hx(basicFour), 0xFF, 0xFF, 0xFF) // with filler
	outer, err := First(b, 0xFF20)
	if err != nil {
		t.Fatal(err)
	}
	if len(outer.Value) != 0x65 {
		t.Fatalf("outer value %d bytes", len(outer.Value))
	}
	kids, err := outer.Children()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(kids[0xDF22].Value); got != "黒桐　幹也" {
		t.Errorf("name %q", got)
	}
	if got := string(kids[0xDF23].Value); got != "東京都清瀬市観布子南１２－７－２０２" {
		t.Errorf("address %q", got)
	}
	if string(kids[0xDF24].Value) != "19800217" || string(kids[0xDF25].Value) != "1" {
		t.Errorf("birth %q sex %q", kids[0xDF24].Value, kids[0xDF25].Value)
	}
	// The offset table points at DF22..DF25 from the start of the file.
	off := kids[0xDF21].Value
	for i, tag := range []Tag{0xDF22, 0xDF23, 0xDF24, 0xDF25} {
		o := int(off[2*i])<<8 | int(off[2*i+1])
		if !bytes.HasPrefix(b[o:], kids[tag].Raw) {
			t.Errorf("offset %d of %s does not point at it", o, tag)
		}
	}
	objs, err := Parse(b)
	if err != nil || len(objs) != 1 {
		t.Fatalf("Parse with filler: %d objects, %v", len(objs), err)
	}
}

func TestLenientForms(t *testing.T) {
	for _, tc := range []struct {
		in          string
		tag         Tag
		h, n        int
		constructed bool
	}{
		{"FF4082009F", 0xFF40, 5, 159, true}, // superfluous leading zero (MYNA-RS test)
		{"FF100C", 0xFF10, 3, 12, true},      // non-minimal private tag
		{"30820621", 0x30, 4, 0x621, true},   // a certificate header
		{"DF2108", 0xDF21, 3, 8, false},
		{"7F2182023300", 0x7F21, 5, 0x233, true},
		{"5F370100", 0x5F37, 3, 1, false},
		{"0400", 0x04, 2, 0, false},
		{"9F8101058400000005", 0x9F8101, 4, 5, false},
	} {
		tag, h, n, err := Header(hx(tc.in))
		if err != nil || tag != tc.tag || h != tc.h || n != tc.n || tag.Constructed() != tc.constructed {
			t.Errorf("Header(%s) = %s %d %d %v (constructed %v)", tc.in, tag, h, n, err, tag.Constructed())
		}
	}
}

func TestMyNumberEF(t *testing.T) {
	b := append(append(hx("FF100C"), "537686677188"...), 0xFF, 0xFF)
	o, err := First(b, 0xFF10)
	if err != nil || string(o.Value) != "537686677188" {
		t.Fatalf("%q %v", o.Value, err)
	}
	if n, _ := Size(b); n != 15 {
		t.Fatalf("Size = %d, want 15", n)
	}
}

func TestRejects(t *testing.T) {
	for _, s := range []string{"DF", "DF21", "1F8080", "1F818181", "3080", "3085FFFFFFFFFF", "0403AABB", "30840FFFFFFF", "DF2104AABBCCDD0405"} {
		if _, err := Parse(hx(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s) = %v, want ErrMalformed", s, err)
		}
	}
	if _, err := First(hx("DF210100"), 0xDF22); !errors.Is(err, ErrMalformed) {
		t.Error("wrong tag accepted")
	}
	o, _ := First(hx("3006DF2101AADF2101BB"), 0x30)
	if _, err := o.Children(); !errors.Is(err, ErrMalformed) {
		t.Error("repeated child tag accepted")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 1573, 70000} {
		v := bytes.Repeat([]byte{0xA5}, n)
		for _, tag := range []Tag{0x04, 0xDF27, 0xFF20, 0x7F49} {
			o, err := First(Encode(tag, v), tag)
			if err != nil || !bytes.Equal(o.Value, v) {
				t.Fatalf("tag %s n %d: %v", tag, n, err)
			}
		}
	}
}

func TestSimple(t *testing.T) {
	objs, err := ParseSimple(append(hx("011C"), []byte("1234567890123451310120301231")...))
	if err != nil || len(objs) != 1 || objs[0].Tag != 1 || len(objs[0].Value) != 28 {
		t.Fatalf("%+v %v", objs, err)
	}
	long, err := ParseSimple(append(hx("02FF0100"), make([]byte, 256)...))
	if err != nil || len(long[0].Value) != 256 {
		t.Fatalf("long form: %v", err)
	}
	for _, s := range []string{"01", "0105AA", "02FF01"} {
		if _, err := ParseSimple(hx(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSimple(%s) = %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(hx(basicFour))
	f.Add(hx("FF4082009F"))
	f.Add(append(hx("FF100C"), "537686677188\xff\xff"...))
	f.Add(hx("30820621308205"))
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := Parse(b)
		if err != nil {
			return
		}
		total := 0
		for _, o := range objs {
			if !bytes.HasSuffix(o.Raw, o.Value) || len(o.Raw) > len(b) {
				t.Fatalf("object %s: raw/value mismatch", o.Tag)
			}
			total += len(o.Raw)
			if o.Tag.Constructed() {
				_, _ = o.Children() // must not panic
			}
		}
		if total > len(b) || !isFiller(b[total:]) {
			t.Fatalf("parsed %d of %d bytes and the rest is not filler", total, len(b))
		}
	})
}

func FuzzParseSimple(f *testing.F) {
	f.Add(hx("011C31323334"))
	f.Add(hx("02FF000131"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseSimple(b) })
}

package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNeverFormatted(t *testing.T) {
	pin := NewPIN("4711")
	num := NewIndividualNumber("123456789018")
	type holder struct {
		Exported Value
		hidden   Value
	}
	h := holder{Exported: num, hidden: pin}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		for _, arg := range []any{pin, num, h, &h, []Value{pin, num}, map[string]Value{"k": pin}} {
			got := fmt.Sprintf(verb, arg)
			if strings.Contains(got, "4711") || strings.Contains(got, "123456789018") {
				t.Errorf("Sprintf(%q, %T) leaked: %s", verb, arg, got)
			}
		}
	}
	if err := fmt.Errorf("verify failed for %v: %w", pin, errors.New("x")); strings.Contains(err.Error(), "4711") {
		t.Errorf("wrapped error leaked: %v", err)
	}
}

func TestRefusesMarshal(t *testing.T) {
	pin := NewPIN("4711")
	if _, err := json.Marshal(struct{ P Value }{pin}); !errors.Is(err, ErrMarshal) {
		t.Fatalf("json.Marshal = %v, want ErrMarshal", err)
	}
	if _, err := pin.MarshalText(); !errors.Is(err, ErrMarshal) {
		t.Fatalf("MarshalText = %v, want ErrMarshal", err)
	}
}

func TestRevealAndWipe(t *testing.T) {
	src := []byte("ABC123")
	v := FromBytes(KindPassword, src)
	clear(src) // the caller wipes its own copy; the secret keeps its own
	var seen string
	_ = v.Reveal(func(b []byte) error { seen = string(b); return nil })
	if seen != "ABC123" || v.Len() != 6 {
		t.Fatalf("Reveal = %q len %d", seen, v.Len())
	}
	cp := v
	v.Wipe()
	if !cp.Empty() {
		t.Fatal("a copy survived Wipe")
	}
	var zero Value
	zero.Wipe()
	if !zero.Empty() {
		t.Fatal("zero value not empty")
	}
}

func TestMaskIndividualNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"123456789018", "****-****-9018"},
		{"12345678901", "****-****-****"},
		{"12345678901x", "****-****-****"},
		{"", "****-****-****"},
	} {
		if got := MaskIndividualNumber(NewIndividualNumber(tc.in)); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

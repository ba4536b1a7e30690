package card

import (
	"fmt"

	"madoguchi/app/secret"
)

// PINFormatError says why a PIN does not fit its format. The driver checks
// the format before sending anything, so a typo never costs a try.
type PINFormatError struct {
	PIN      PINKind
	Min, Max int
	Charset  Charset
}

func (e *PINFormatError) Error() string {
	cs := "digits"
	if e.Charset == UpperAlnum {
		cs = "letters A–Z and digits"
	}
	if e.Min == e.Max {
		return fmt.Sprintf("card: %s must be %d %s", e.PIN, e.Min, cs)
	}
	return fmt.Sprintf("card: %s must be %d to %d %s", e.PIN, e.Min, e.Max, cs)
}

// Normalize returns the PIN as the card compares it: the signature
// password upper-cased (ref §7: "the signature password is registered in
// uppercase"), or an error if it does not fit the spec. The result is a
// new secret; the caller wipes both.
func (s PINSpec) Normalize(pin secret.Value) (secret.Value, error) {
	var out secret.Value
	err := pin.Reveal(func(b []byte) error {
		bad := &PINFormatError{PIN: s.Kind, Min: s.Min, Max: s.Max, Charset: s.Charset}
		if len(b) < s.Min || len(b) > s.Max {
			return bad
		}
		n := make([]byte, len(b))
		defer clear(n)
		for i, c := range b {
			switch {
			case c >= '0' && c <= '9':
			case s.Charset == UpperAlnum && c >= 'a' && c <= 'z':
				c -= 'a' - 'A'
			case s.Charset == UpperAlnum && c >= 'A' && c <= 'Z':
			default:
				return bad
			}
			n[i] = c
		}
		out = secret.FromBytes(secret.KindPIN, n)
		return nil
	})
	return out, err
}

// Package secret holds values that must never reach a log line, a file, an
// error message or the screen: PINs, PUKs, passwords and the 12-digit
// individual number.
//
// A secret prints as "[REDACTED]" through every fmt verb, through log/slog
// (it is a slog.LogValuer) and refuses JSON and text marshalling. Its bytes
// sit behind a pointer so that even reflection-based printing of a struct
// holding one as an unexported field shows an address, not the value.
// Callers take the plaintext with Reveal for the shortest time an operation
// needs, and Wipe the secret when the operation ends.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
)

// Redacted is what every secret prints as.
const Redacted = "[REDACTED]"

// ErrMarshal is returned when code tries to serialise a secret.
var ErrMarshal = errors.New("secret: refusing to serialise a secret value")

// Kind names what a secret is, for messages such as "PIN redacted".
type Kind uint8

const (
	KindPIN Kind = iota + 1
	KindPUK
	KindPassword
	KindIndividualNumber
)

func (k Kind) String() string {
	switch k {
	case KindPIN:
		return "PIN"
	case KindPUK:
		return "PUK"
	case KindPassword:
		return "password"
	case KindIndividualNumber:
		return "individual number"
	}
	return "secret"
}

// box keeps the bytes behind a pointer; see the package comment.
type box struct{ b []byte }

// Value is a secret of some Kind. The zero Value is empty.
type Value struct {
	kind Kind
	p    *box
}

// New copies s into a new secret of the given kind. The caller should drop
// its own copy of s as soon as it can; Go strings cannot be wiped.
func New(kind Kind, s string) Value { return FromBytes(kind, []byte(s)) }

// FromBytes copies b into a new secret. The caller may wipe b afterwards.
func FromBytes(kind Kind, b []byte) Value {
	c := make([]byte, len(b))
	copy(c, b)
	return Value{kind: kind, p: &box{b: c}}
}

// NewPIN, NewPUK, NewPassword and NewIndividualNumber are shorthands.
func NewPIN(s string) Value              { return New(KindPIN, s) }
func NewPUK(s string) Value              { return New(KindPUK, s) }
func NewPassword(s string) Value         { return New(KindPassword, s) }
func NewIndividualNumber(s string) Value { return New(KindIndividualNumber, s) }

// Kind reports what the secret is.
func (v Value) Kind() Kind { return v.kind }

// Len is the length of the secret in bytes; format checks need it.
func (v Value) Len() int {
	if v.p == nil {
		return 0
	}
	return len(v.p.b)
}

// Empty reports whether the secret holds nothing (or has been wiped).
func (v Value) Empty() bool { return v.Len() == 0 }

// Reveal calls use with the plaintext. The slice is only valid during use
// and must not be retained.
func (v Value) Reveal(use func(b []byte) error) error {
	if v.p == nil {
		return use(nil)
	}
	return use(v.p.b)
}

// Wipe overwrites the secret's bytes with zeros and empties it. Every copy
// of the Value shares the bytes, so all of them are wiped.
func (v Value) Wipe() {
	if v.p == nil {
		return
	}
	clear(v.p.b)
	v.p.b = nil
}

// String implements fmt.Stringer.
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (v Value) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%s %v %q %x %d ...)
// prints the redaction marker.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON refuses: a secret is never persisted or sent as JSON.
func (v Value) MarshalJSON() ([]byte, error) { return nil, ErrMarshal }

// MarshalText refuses, for the same reason.
func (v Value) MarshalText() ([]byte, error) { return nil, ErrMarshal }

// MaskIndividualNumber shows a 12-digit individual number as "****-****-1234"
// style where the law does not require it in full: only the last four digits.
// Anything that is not 12 digits is masked completely.
func MaskIndividualNumber(v Value) string {
	var out string
	_ = v.Reveal(func(b []byte) error {
		if len(b) != 12 {
			out = "****-****-****"
			return nil
		}
		for _, c := range b {
			if c < '0' || c > '9' {
				out = "****-****-****"
				return nil
			}
		}
		out = "****-****-" + string(b[8:])
		return nil
	})
	return out
}

package card

import (
	"errors"
	"fmt"
)

// Errors of the transport and the card. Flows test them with errors.Is
// and errors.As; the UI maps them to localized messages.
var (
	// ErrCardRemoved: the card left the reader (or was reset) during a
	// session. Wait for it to come back, reconnect and identify it again.
	ErrCardRemoved = errors.New("card: card removed")
	// ErrReaderGone: the reader or the PC/SC service is not available.
	ErrReaderGone = errors.New("card: reader not available")
	// ErrNoCard: the reader is there but holds no card.
	ErrNoCard = errors.New("card: no card in the reader")
	// ErrNotMyNumberCard: the card in the reader is not an Individual
	// Number Card (no JPKI application, or an unknown token label).
	ErrNotMyNumberCard = errors.New("card: not an Individual Number Card")
	// ErrSecurityStatus (6982): the PIN guarding the object was not verified.
	ErrSecurityStatus = errors.New("card: security status not satisfied")
	// ErrNotFound (6A82): no such application or file.
	ErrNotFound = errors.New("card: file or application not found")
	// ErrBlocked (6984, or 63C0): the PIN is blocked.
	ErrBlocked = errors.New("card: PIN blocked")
	// ErrMalformed: the card answered with bytes that do not parse.
	ErrMalformed = errors.New("card: malformed response")
)

// WrongPINError is a failed VERIFY (63Cx): Remaining tries are left.
// When Remaining is 0 the PIN is now blocked and errors.Is(err,
// ErrBlocked) is true.
type WrongPINError struct {
	PIN       PINKind
	Remaining int
}

func (e *WrongPINError) Error() string {
	return fmt.Sprintf("card: wrong %s, %d tries left", e.PIN, e.Remaining)
}

// Is makes a wrong PIN that used the last try also ErrBlocked.
func (e *WrongPINError) Is(target error) bool { return target == ErrBlocked && e.Remaining == 0 }

// StatusError is any other status word the driver does not map.
type StatusError struct {
	Command string // e.g. "READ BINARY"
	SW      uint16
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("card: %s: status %04X", e.Command, e.SW)
}

package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card"
)

// Errors of this package that have no counterpart in package card.
var (
	// ErrInUse: another application holds the card (or reader)
	// exclusively (SCARD_E_SHARING_VIOLATION).
	ErrInUse = errors.New("pcsc: card in use by another application")
	// ErrClosed: the Conn or Context was closed.
	ErrClosed = errors.New("pcsc: use of a closed handle")
)

// cardGone lists the PC/SC codes that mean the card left, was reset or
// otherwise lost its session: disconnect, wait for PRESENT, connect and
// identify the card again. On a held handle a removal shows first as
// "Transaction failed." (SCARD_E_NOT_TRANSACTED), then "Card was
// removed.", then "Card was reset.".
var cardGone = []scard.Error{
	scard.ErrRemovedCard,
	scard.ErrResetCard,
	scard.ErrNotTransacted,
	scard.ErrNoSmartcard,
}

// readerGone lists the PC/SC codes that mean the reader or the PC/SC
// service is not available.
var readerGone = []scard.Error{
	scard.ErrReaderUnavailable,
	scard.ErrUnknownReader,
	scard.ErrNoService,
	scard.ErrServiceStopped,
	scard.ErrNoReadersAvailable,
}

// mapErr wraps a PC/SC error with the operation and, where it applies,
// card.ErrCardRemoved or card.ErrReaderGone, keeping the scard.Error
// visible to errors.Is/As as well. noCard is used instead of
// card.ErrCardRemoved for calls that start a session (Connect), where the
// card is not "removed" but absent.
func mapErr(op string, err error, noCard error) error {
	if err == nil {
		return nil
	}
	var code scard.Error
	if !errors.As(err, &code) {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	for _, c := range cardGone {
		if code == c {
			return fmt.Errorf("pcsc: %s: %w (%w)", op, noCard, err)
		}
	}
	for _, c := range readerGone {
		if code == c {
			return fmt.Errorf("pcsc: %s: %w (%w)", op, card.ErrReaderGone, err)
		}
	}
	if code == scard.ErrSharingViolation {
		return fmt.Errorf("pcsc: %s: %w (%w)", op, ErrInUse, err)
	}
	return fmt.Errorf("pcsc: %s: %w", op, err)
}

// serviceGone reports whether err means the PC/SC service (not just a
// reader) went away, so the context must be established again. After a
// pcscd restart the old context keeps answering IsValid() true but every
// call fails, usually with SCARD_E_NO_SERVICE.
func serviceGone(err error) bool {
	var code scard.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrInvalidHandle, scard.ErrCommError, scard.ErrShutdown:
		return true
	}
	return false
}

package pcsc

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card"
)

func TestMapErr(t *testing.T) {
	tests := []struct {
		in   error
		want error // nil: only the scard error itself
	}{
		{scard.ErrRemovedCard, card.ErrCardRemoved},
		{scard.ErrResetCard, card.ErrCardRemoved},
		{scard.ErrNotTransacted, card.ErrCardRemoved},
		{scard.ErrNoSmartcard, card.ErrCardRemoved},
		{scard.ErrReaderUnavailable, card.ErrReaderGone},
		{scard.ErrUnknownReader, card.ErrReaderGone},
		{scard.ErrNoService, card.ErrReaderGone},
		{scard.ErrServiceStopped, card.ErrReaderGone},
		{scard.ErrNoReadersAvailable, card.ErrReaderGone},
		{scard.ErrSharingViolation, ErrInUse},
		{scard.ErrProtoMismatch, nil},
		{scard.ErrUnresponsiveCard, nil},
	}
	all := []error{card.ErrCardRemoved, card.ErrReaderGone, ErrInUse, card.ErrNoCard}
	for _, tt := range tests {
		t.Run(tt.in.Error(), func(t *testing.T) {
			got := mapErr("transmit", tt.in, card.ErrCardRemoved)
			if !errors.Is(got, tt.in) {
				t.Errorf("%v does not wrap the scard error", got)
			}
			if !strings.HasPrefix(got.Error(), "pcsc: transmit: ") {
				t.Errorf("message %q lacks the operation", got)
			}
			for _, sentinel := range all {
				if want := sentinel == tt.want; errors.Is(got, sentinel) != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", got, sentinel, !want, want)
				}
			}
		})
	}
}

func TestMapErrConnect(t *testing.T) {
	// Connect reports an absent card as ErrNoCard, not as removed.
	for _, in := range []error{scard.ErrNoSmartcard, scard.ErrRemovedCard} {
		got := mapErr("connecting", in, card.ErrNoCard)
		if !errors.Is(got, card.ErrNoCard) || errors.Is(got, card.ErrCardRemoved) {
			t.Errorf("mapErr(%v) = %v, want ErrNoCard only", in, got)
		}
	}
}

func TestMapErrOther(t *testing.T) {
	if mapErr("x", nil, card.ErrCardRemoved) != nil {
		t.Error("mapErr(nil) != nil")
	}
	if got := mapErr("x", io.EOF, card.ErrCardRemoved); !errors.Is(got, io.EOF) {
		t.Errorf("mapErr(io.EOF) = %v", got)
	}
}

func TestTransactionFailedIsNotTransacted(t *testing.T) {
	// The build notes name the first error on a pulled card "Transaction
	// failed": that is SCARD_E_NOT_TRANSACTED's text.
	if msg := scard.ErrNotTransacted.Error(); !strings.Contains(msg, "Transaction failed") {
		t.Errorf("ErrNotTransacted = %q", msg)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{
		ReaderAdded: "ReaderAdded", ReaderRemoved: "ReaderRemoved",
		CardInserted: "CardInserted", CardRemoved: "CardRemoved", 0: "EventKind(0)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

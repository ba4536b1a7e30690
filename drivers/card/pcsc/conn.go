package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card"
)

// Conn is an exclusive session with the card in one reader. It implements
// card.Transceiver and card.ExtendedLengthReporter. Its methods are safe
// for concurrent use; APDUs go out one at a time.
type Conn struct {
	reader string
	log    *slog.Logger

	mu       sync.Mutex
	card     *scard.Card // nil after Close
	atr      []byte
	extended bool
}

var (
	_ card.Transceiver            = (*Conn)(nil)
	_ card.ExtendedLengthReporter = (*Conn)(nil)
)

// Reader returns the name of the reader.
func (c *Conn) Reader() string { return c.reader }

// ATR returns the card's Answer To Reset as read at Connect or Reconnect.
func (c *Conn) ATR() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.atr)
}

// ExtendedLength reports whether the reader is configured to accept
// extended-length APDUs (WithExtendedLength or SetExtendedLength; false
// by default, since PC/SC cannot tell reliably).
func (c *Conn) ExtendedLength() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.extended
}

// SetExtendedLength overrides ExtendedLength for this connection.
func (c *Conn) SetExtendedLength(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.extended = on
}

// Transmit sends one command APDU and returns the response APDU (data
// followed by SW1 SW2). If ctx is done before the command is sent it
// returns ctx.Err(); once sent, the exchange runs to completion (PC/SC
// cannot abort it). A card that left the reader or was reset gives an
// error wrapping card.ErrCardRemoved; a vanished reader or PC/SC service,
// card.ErrReaderGone.
func (c *Conn) Transmit(ctx context.Context, command []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil { // waited for the lock
		return nil, err
	}
	op := "transmit"
	if len(command) >= 2 {
		op = fmt.Sprintf("transmit INS %02X", command[1])
	}
	resp, err := c.card.Transmit(command)
	if err != nil {
		return nil, mapErr(op+" to "+c.reader, err, card.ErrCardRemoved)
	}
	if len(resp) == 0 {
		// Every response APDU ends in SW1 SW2; nothing at all means the
		// card did not answer. Seen with pcscd when the card leaves during
		// the exchange, before the removal is reported: treat it as gone,
		// so the caller starts a new session instead of reading garbage.
		return nil, fmt.Errorf("pcsc: %s: no response from the card: %w", op, card.ErrCardRemoved)
	}
	if len(resp) < 2 {
		return nil, fmt.Errorf("pcsc: %s: %w: %d-byte response", op, card.ErrMalformed, len(resp))
	}
	// scard returns a slice of a 64 KiB buffer; keep only what is used.
	return bytes.Clone(resp), nil
}

// Begin starts an exclusive transaction (SCardBeginTransaction): no other
// application's APDUs interleave until End.
func (c *Conn) Begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return ErrClosed
	}
	return mapErr("beginning transaction on "+c.reader, c.card.BeginTransaction(), card.ErrCardRemoved)
}

// End ends the transaction begun by Begin, leaving the card as it is.
func (c *Conn) End() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return ErrClosed
	}
	return mapErr("ending transaction on "+c.reader, c.card.EndTransaction(scard.LeaveCard), card.ErrCardRemoved)
}

// Reconnect re-establishes the session after the card was reset (or
// pulled and put back) and reads the ATR again. Everything the card had
// verified or selected is gone: identify it again.
func (c *Conn) Reconnect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return ErrClosed
	}
	op := "reconnecting to " + c.reader
	if err := c.card.Reconnect(scard.ShareExclusive, scard.ProtocolAny, scard.LeaveCard); err != nil {
		return mapErr(op, err, card.ErrNoCard)
	}
	st, err := c.card.Status()
	if err != nil {
		return mapErr(op+": status", err, card.ErrNoCard)
	}
	c.atr = bytes.Clone(st.Atr)
	c.log.Debug("reconnected", "atr", fmt.Sprintf("% X", st.Atr))
	return nil
}

// Close ends the session and resets the card (SCARD_RESET_CARD), so that
// PINs verified in this session do not outlive it. A card that is already
// gone is not an error.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return nil
	}
	h := c.card
	c.card = nil
	err := mapErr("disconnecting from "+c.reader, h.Disconnect(scard.ResetCard), card.ErrCardRemoved)
	if isGone(err) {
		return nil
	}
	return err
}

// isGone reports whether err means the card, reader or service is gone.
func isGone(err error) bool {
	return err != nil && (errors.Is(err, card.ErrCardRemoved) || errors.Is(err, card.ErrReaderGone) || serviceGone(err))
}

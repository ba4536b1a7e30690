// Package pcsc is the PC/SC transport of the card driver, on pcsc-lite
// (Linux, through github.com/ebfe/scard and cgo), WinSCard or macOS's
// PC/SC framework.
//
//   - Open establishes a Context; Readers lists readers; Connect opens an
//     exclusive Conn, which implements card.Transceiver (Transmit) and
//     card.ExtendedLengthReporter.
//   - Monitor.Watch reports readers and cards coming and going, from
//     SCardGetStatusChange, and survives a pcscd restart.
//   - Snapshot reads every reader's state at once for the status panel.
//
// Errors wrap card.ErrCardRemoved (card pulled or reset: wait for it,
// reconnect and identify it again), card.ErrNoCard (Connect to an empty
// reader), card.ErrReaderGone (reader or PC/SC service gone) or ErrInUse,
// and also keep the scard.Error for errors.Is.
//
// Every I/O call takes a context.Context. PC/SC calls cannot be aborted
// once made, so the context is checked before each call; only the
// Monitor's wait is interrupted (SCardCancel) when its context ends.
//
// Tests run against a private pcscd with a virtual card
// (drivers/card/cardtest and drivers/card/vpcd), never the system's.
package pcsc

package card

import "context"

// Transceiver sends one command APDU and returns the whole response APDU
// (data followed by SW1 SW2). PC/SC, the in-process virtual card and test
// doubles all plug in here. Transport failures are reported as
// ErrCardRemoved or ErrReaderGone (wrapped) so that flows can tell a
// pulled card from a broken terminal.
type Transceiver interface {
	Transmit(ctx context.Context, command []byte) ([]byte, error)
}

// ExtendedLengthReporter is implemented by transceivers that know whether
// the reader accepts extended-length APDUs. Without it the driver assumes
// it does not and reads in short chunks.
type ExtendedLengthReporter interface {
	ExtendedLength() bool
}

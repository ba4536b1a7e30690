package vpcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Control codes the vpcd reader sends as one-byte frames. Only GetATR
// expects an answer.
const (
	// CtrlPowerOff: the reader powered the card down. No reply.
	CtrlPowerOff byte = 0
	// CtrlPowerOn: the reader powered the card up. No reply.
	CtrlPowerOn byte = 1
	// CtrlReset: warm reset. No reply.
	CtrlReset byte = 2
	// CtrlGetATR: the reader asks for the ATR (also its presence probe).
	// Reply with the ATR.
	CtrlGetATR byte = 4
)

const (
	// headerLen is the size of the big-endian length in front of every
	// frame.
	headerLen = 2
	// MaxPayload is the largest payload a frame can carry: the length
	// field is 16 bits, so no peer can announce more, and ReadFrame never
	// allocates more than 64 KiB. vpcd itself refuses longer APDUs, so the
	// longest extended-length commands (up to 65544 bytes) cannot cross it.
	MaxPayload = 0xFFFF
)

// Errors of the frame layer. Both mean the peer does not speak the vpcd
// protocol (or the stream lost sync): drop the connection.
var (
	// ErrEmptyFrame: a frame announced a zero-length payload, which the
	// protocol never uses (vpcd treats it as the card going away).
	ErrEmptyFrame = errors.New("vpcd: empty frame")
	// ErrFrameTooLarge: a payload does not fit in a 16-bit length.
	ErrFrameTooLarge = errors.New("vpcd: frame too large")
	// ErrUnknownControl: a one-byte frame carried a code that is not
	// one of the Ctrl constants.
	ErrUnknownControl = errors.New("vpcd: unknown control code")
)

// ReadFrame reads one frame (2-byte big-endian length, then the payload)
// from r and returns a freshly allocated payload.
//
// It returns io.EOF, unwrapped, when r ends cleanly between two frames; a
// stream that ends inside a frame gives an error wrapping
// io.ErrUnexpectedEOF; a zero length gives ErrEmptyFrame. It never
// allocates more than MaxPayload bytes.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("vpcd: reading frame length: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("vpcd: reading %d-byte frame: %w", n, err)
	}
	return payload, nil
}

// WriteFrame writes payload as one frame with a single Write call (so the
// length and the payload leave in one TCP segment). The payload must hold
// 1 to MaxPayload bytes.
func WriteFrame(w io.Writer, payload []byte) error {
	switch {
	case len(payload) == 0:
		return ErrEmptyFrame
	case len(payload) > MaxPayload:
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	buf := make([]byte, headerLen+len(payload))
	binary.BigEndian.PutUint16(buf, uint16(len(payload)))
	copy(buf[headerLen:], payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("vpcd: writing %d-byte frame: %w", len(payload), err)
	}
	return nil
}

// Package apdu encodes and decodes ISO/IEC 7816-4 command and response
// APDUs, short and extended, and names the status words the Individual
// Number Card uses. References: ISO/IEC 7816-4:2020 §5.1 (command-response
// pairs) and §5.6 (status bytes); the card's own use of them is collected
// in shared/card-reference.md §3, §4 and §7.
package apdu

import (
	"errors"
	"fmt"
)

// MaxShortLe and MaxExtendedLe are the largest expected lengths: Le=00
// means 256 in a short APDU and Le=0000 means 65536 in an extended one.
const (
	MaxShortLe    = 256
	MaxExtendedLe = 65536
	MaxShortLc    = 255
	MaxExtendedLc = 65535
)

// Command is a command APDU. Le is the number of response bytes expected:
// 0 means none (cases 1 and 3), 1..256 fits a short APDU (256 is sent as
// 00), up to 65536 needs an extended one (65536 is sent as 0000).
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Le               int
	// Extended forces extended-length encoding even when short would do.
	Extended bool
}

// ErrEncode reports a command that cannot be encoded.
var ErrEncode = errors.New("apdu: cannot encode command")

// ErrParse reports bytes that are not a well-formed APDU.
var ErrParse = errors.New("apdu: malformed APDU")

// NeedsExtended reports whether the command can only be sent extended.
func (c Command) NeedsExtended() bool {
	return c.Extended || len(c.Data) > MaxShortLc || c.Le > MaxShortLe
}

// Bytes encodes the command (ISO/IEC 7816-4 §5.1, cases 1–4, short and
// extended).
func (c Command) Bytes() ([]byte, error) {
	if len(c.Data) > MaxExtendedLc || c.Le > MaxExtendedLe || c.Le < 0 {
		return nil, fmt.Errorf("%w: Lc %d, Le %d", ErrEncode, len(c.Data), c.Le)
	}
	out := make([]byte, 0, 4+3+len(c.Data)+3)
	out = append(out, c.CLA, c.INS, c.P1, c.P2)
	ext := c.NeedsExtended()
	if len(c.Data) > 0 {
		if ext {
			out = append(out, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		} else {
			out = append(out, byte(len(c.Data)))
		}
		out = append(out, c.Data...)
	}
	if c.Le > 0 {
		if ext {
			if len(c.Data) == 0 {
				out = append(out, 0)
			}
			out = append(out, byte(c.Le>>8), byte(c.Le)) // 65536 encodes as 0000
		} else {
			out = append(out, byte(c.Le)) // 256 encodes as 00
		}
	}
	return out, nil
}

// ParseCommand decodes a command APDU. It is used by the virtual card and
// must accept every valid encoding and reject anything else without
// panicking.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("%w: %d bytes", ErrParse, len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2 short
		c.Le = leShort(body[0])
		return c, nil
	case body[0] != 0: // short with data: case 3 or 4 short
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.Data = body[1:]
		case 2 + lc:
			c.Data = body[1 : 1+lc]
			c.Le = leShort(body[1+lc])
		default:
			return Command{}, fmt.Errorf("%w: Lc %d with %d body bytes", ErrParse, lc, len(body))
		}
		return c, nil
	}
	// Extended: body[0] == 0.
	c.Extended = true
	if len(body) == 3 { // case 2 extended
		c.Le = leExtended(body[1], body[2])
		return c, nil
	}
	if len(body) < 3 {
		return Command{}, fmt.Errorf("%w: truncated extended length", ErrParse)
	}
	lc := int(body[1])<<8 | int(body[2])
	if lc == 0 {
		return Command{}, fmt.Errorf("%w: extended Lc of 0", ErrParse)
	}
	switch len(body) {
	case 3 + lc:
		c.Data = body[3:]
	case 5 + lc:
		c.Data = body[3 : 3+lc]
		c.Le = leExtended(body[3+lc], body[4+lc])
	default:
		return Command{}, fmt.Errorf("%w: extended Lc %d with %d body bytes", ErrParse, lc, len(body))
	}
	return c, nil
}

func leShort(b byte) int {
	if b == 0 {
		return MaxShortLe
	}
	return int(b)
}

func leExtended(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return MaxExtendedLe
	}
	return n
}

// Response is a response APDU.
type Response struct {
	Data []byte
	SW   uint16
}

// ParseResponse splits a response APDU into data and status word.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: response of %d bytes", ErrParse, len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: uint16(b[n])<<8 | uint16(b[n+1])}, nil
}

// Bytes encodes the response.
func (r Response) Bytes() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return append(out, byte(r.SW>>8), byte(r.SW))
}

// SW1 and SW2 split the status word.
func (r Response) SW1() byte { return byte(r.SW >> 8) }
func (r Response) SW2() byte { return byte(r.SW) }

// OK reports 9000.
func (r Response) OK() bool { return r.SW == SWOK }

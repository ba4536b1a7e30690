package card

import (
	"context"
	"fmt"

	"madoguchi/app/secret"
	"madoguchi/drivers/card/apdu"
)

// BlockedError is a VERIFY refused because the PIN is blocked (6984).
type BlockedError struct{ PIN PINKind }

func (e *BlockedError) Error() string        { return fmt.Sprintf("card: %s is blocked", e.PIN) }
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// ErrNoSuchPIN: the card's profile has no PIN of that kind.
var ErrNoSuchPIN = fmt.Errorf("card: this card has no such PIN")

func (c *Card) spec(kind PINKind) (PINSpec, error) {
	s, ok := c.prof.PIN(kind)
	if !ok {
		return PINSpec{}, fmt.Errorf("%w: %s", ErrNoSuchPIN, kind)
	}
	return s, nil
}

// Tries returns the remaining tries of a PIN without spending one: VERIFY
// with no data answers 63Cx (ref §7; MYNA-GO LookupPin, OSC GET_INFO). A
// blocked PIN has 0. A PIN already verified in this session may answer
// 9000 (ref §7 ⚠): it then has all its tries.
func (c *Card) Tries(ctx context.Context, kind PINKind) (int, error) {
	s, err := c.spec(kind)
	if err != nil {
		return 0, err
	}
	return c.triesOf(ctx, s.AID, s.Ref, s.MaxTries, string(kind))
}

func (c *Card) triesOf(ctx context.Context, aid []byte, ref uint16, max int, what string) (int, error) {
	if err := c.selectDF(ctx, aid); err != nil {
		return 0, err
	}
	name := "VERIFY (tries " + what + ")"
	r, err := c.transmit(ctx, name, apdu.Command{CLA: claISO, INS: insVerify, P2: sfi | byte(ref)}, false)
	if err != nil {
		return 0, err
	}
	if n, ok := apdu.Tries(r.SW); ok {
		return n, nil
	}
	switch r.SW {
	case apdu.SWOK:
		return max, nil
	case apdu.SWBlocked:
		return 0, nil
	}
	return 0, statusErr(name, r.SW)
}

// AllTries returns the remaining tries of every PIN of the card (the PUK
// included), selecting each application once.
func (c *Card) AllTries(ctx context.Context) (map[PINKind]int, error) {
	out := map[PINKind]int{}
	// Group by application, starting with the one selected now.
	specs := append([]PINSpec(nil), c.prof.PINs...)
	for i := range specs {
		if sameAID(specs[i].AID, c.df) {
			specs[0], specs[i] = specs[i], specs[0]
		}
	}
	done := map[PINKind]bool{}
	for _, first := range specs {
		for _, s := range specs {
			if done[s.Kind] || !sameAID(s.AID, first.AID) {
				continue
			}
			n, err := c.triesOf(ctx, s.AID, s.Ref, s.MaxTries, string(s.Kind))
			if err != nil {
				return nil, err
			}
			out[s.Kind], done[s.Kind] = n, true
		}
	}
	return out, nil
}

// Verify checks a PIN. The format is checked first, so a malformed entry
// costs no try. A wrong PIN gives *WrongPINError with the tries left; a
// blocked one *BlockedError (both match ErrBlocked when nothing is left).
func (c *Card) Verify(ctx context.Context, kind PINKind, pin secret.Value) error {
	s, err := c.spec(kind)
	if err != nil {
		return err
	}
	norm, err := s.Normalize(pin)
	if err != nil {
		return err
	}
	defer norm.Wipe()
	return c.verifyRef(ctx, kind, s.AID, s.Ref, norm)
}

func (c *Card) verifyRef(ctx context.Context, kind PINKind, aid []byte, ref uint16, v secret.Value) error {
	if err := c.selectDF(ctx, aid); err != nil {
		return err
	}
	name := "VERIFY " + string(kind)
	var r apdu.Response
	err := v.Reveal(func(b []byte) error {
		var err error
		r, err = c.transmit(ctx, name, apdu.Command{CLA: claISO, INS: insVerify, P2: sfi | byte(ref), Data: b}, true)
		return err
	})
	if err != nil {
		return err
	}
	if n, ok := apdu.Tries(r.SW); ok {
		return &WrongPINError{PIN: kind, Remaining: n}
	}
	if r.SW == apdu.SWBlocked {
		return &BlockedError{PIN: kind}
	}
	return statusErr(name, r.SW)
}

// ChangePIN verifies the old PIN and sets a new one with CHANGE REFERENCE
// DATA 00 24 01 80|ref (ref §3).
func (c *Card) ChangePIN(ctx context.Context, kind PINKind, old, new secret.Value) error {
	s, err := c.spec(kind)
	if err != nil {
		return err
	}
	n, err := s.Normalize(new)
	if err != nil {
		return err
	}
	defer n.Wipe()
	if err := c.Verify(ctx, kind, old); err != nil {
		return err
	}
	return c.sendNewPIN(ctx, "CHANGE REFERENCE DATA", insChangeRef, p1NewOnly, s.Ref, n, nil)
}

// sendNewPIN sends prefix||pin as the data of a PIN-setting command.
func (c *Card) sendNewPIN(ctx context.Context, name string, ins, p1 byte, ref uint16, pin secret.Value, prefix *secret.Value) error {
	var r apdu.Response
	err := pin.Reveal(func(p []byte) error {
		body := p
		if prefix != nil {
			_ = prefix.Reveal(func(x []byte) error {
				body = append(append(make([]byte, 0, len(x)+len(p)), x...), p...)
				return nil
			})
			defer clear(body)
		}
		var err error
		r, err = c.transmit(ctx, name, apdu.Command{CLA: claISO, INS: ins, P1: p1, P2: sfi | byte(ref), Data: body}, true)
		return err
	})
	if err != nil {
		return err
	}
	return statusErr(name, r.SW)
}

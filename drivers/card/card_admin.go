package card

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"madoguchi/app/secret"
	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/card/tlv"
)

// The privileged set Madoguchi defines (domain.md §4,
// docs/CARD-COMMANDS.md). Each write needs a fresh authorisation: the
// terminal reads a challenge from the card, the central system answers it
// with a cryptogram under the card-management key (which never reaches
// the terminal), and the card grants exactly one operation.

// ErrAuthorisation: the card refused the central system's cryptogram, or
// an operation was attempted without a matching authorisation.
var ErrAuthorisation = errors.New("card: operation not authorised by the central system")

// Challenge selects the application an operation will act on and reads
// an 8-byte challenge (GET CHALLENGE 00 84 00 00 08). Selecting clears
// verified PINs, so authorise before verifying anything for this
// operation.
func (c *Card) Challenge(ctx context.Context, aid []byte) ([]byte, error) {
	if err := c.selectDF(ctx, aid); err != nil {
		return nil, err
	}
	r, err := c.transmit(ctx, "GET CHALLENGE", apdu.Command{CLA: claISO, INS: insGetChallenge, Le: challengeLen}, false)
	if err != nil {
		return nil, err
	}
	if err := statusErr("GET CHALLENGE", r.SW); err != nil {
		return nil, err
	}
	if len(r.Data) != challengeLen {
		return nil, fmt.Errorf("GET CHALLENGE: %w: %d bytes", ErrMalformed, len(r.Data))
	}
	return r.Data, nil
}

// Authorise sends the central system's cryptogram (EXTERNAL AUTHENTICATE
// 00 82 00 00 <op ref digest mac>) for the last challenge.
func (c *Card) Authorise(ctx context.Context, cryptogram []byte) error {
	r, err := c.transmit(ctx, "EXTERNAL AUTHENTICATE", apdu.Command{CLA: claISO, INS: insExternalAuth, Data: cryptogram}, false)
	if err != nil {
		return err
	}
	if r.SW == apdu.SWVerifyFailNoCount || r.SW == apdu.SWConditionsOfUse {
		return fmt.Errorf("EXTERNAL AUTHENTICATE: %w (status %04X)", ErrAuthorisation, r.SW)
	}
	return statusErr("EXTERNAL AUTHENTICATE", r.SW)
}

func authErr(name string, err error) error {
	if errors.Is(err, ErrSecurityStatus) {
		return fmt.Errorf("%s: %w", name, ErrAuthorisation)
	}
	return err
}

// SetPIN sets a PIN that has never been set (issuance), after Authorise
// with OpSetPIN for that PIN's reference.
func (c *Card) SetPIN(ctx context.Context, kind PINKind, pin secret.Value) error {
	return c.writePIN(ctx, kind, pin, "CHANGE REFERENCE DATA (set)", insChangeRef, p1NewOnly)
}

// ResetPIN sets a new PIN and restores its tries (RESET RETRY COUNTER
// 00 2C 02 80|ref), after Authorise with OpResetPIN.
func (c *Card) ResetPIN(ctx context.Context, kind PINKind, pin secret.Value) error {
	return c.writePIN(ctx, kind, pin, "RESET RETRY COUNTER", insResetRetry, p1ResetNewOnly)
}

// writePIN checks a new PIN's format and sends it under an authorisation.
func (c *Card) writePIN(ctx context.Context, kind PINKind, pin secret.Value, name string, ins, p1 byte) error {
	s, err := c.spec(kind)
	if err != nil {
		return err
	}
	n, err := s.Normalize(pin)
	if err != nil {
		return err
	}
	defer n.Wipe()
	return authErr(name, c.sendNewPIN(ctx, name, ins, p1, s.Ref, n, nil))
}

// UnblockWithPUK unlocks the 4-digit PIN of a card with a PUK and sets a
// new one (RESET RETRY COUNTER 00 2C 00 80|ref <PUK || new PIN>). It needs
// no central authorisation. A wrong PUK gives *WrongPINError for PUK.
func (c *Card) UnblockWithPUK(ctx context.Context, puk, newPIN secret.Value) error {
	if !c.prof.HasPUK {
		return fmt.Errorf("%w: %s", ErrNoSuchPIN, PUK)
	}
	ps, _ := c.spec(PUK)
	as, err := c.spec(PINAuth)
	if err != nil {
		return err
	}
	p, err := ps.Normalize(puk)
	if err != nil {
		return err
	}
	defer p.Wipe()
	n, err := as.Normalize(newPIN)
	if err != nil {
		return err
	}
	defer n.Wipe()
	if err := c.selectDF(ctx, as.AID); err != nil {
		return err
	}
	err = c.sendNewPIN(ctx, "RESET RETRY COUNTER (PUK)", insResetRetry, p1ResetWithCode, as.Ref, n, &p)
	var se *StatusError
	if errors.As(err, &se) {
		if left, ok := apdu.Tries(se.SW); ok {
			return &WrongPINError{PIN: PUK, Remaining: left}
		}
	}
	if errors.Is(err, ErrBlocked) {
		return &BlockedError{PIN: PUK}
	}
	return err
}

// KeyRef returns the key reference of the authentication or signature key.
func KeyRef(key PINKind) (uint16, error) {
	switch key {
	case PINAuth:
		return KeyAuth, nil
	case PINSign:
		return KeySign, nil
	}
	return 0, fmt.Errorf("no key for %s", key)
}

// GenerateKey makes a new key pair on the card (GENERATE ASYMMETRIC KEY
// PAIR 00 46 00 80|ref), after Authorise with OpGenerateKey, and returns
// its public key.
func (c *Card) GenerateKey(ctx context.Context, key PINKind) (crypto.PublicKey, error) {
	ref, err := KeyRef(key)
	if err != nil {
		return nil, err
	}
	if err := c.selectDF(ctx, c.prof.JPKI); err != nil {
		return nil, err
	}
	r, err := c.transmit(ctx, "GENERATE ASYMMETRIC KEY PAIR", apdu.Command{CLA: claISO, INS: insGenerateKey, P2: sfi | byte(ref), Le: 512}, false)
	if err != nil {
		return nil, err
	}
	if err := authErr("generate key", statusErr("GENERATE ASYMMETRIC KEY PAIR", r.SW)); err != nil {
		return nil, err
	}
	return ParsePublicKeyTemplate(r.Data)
}

// ParsePublicKeyTemplate decodes 7F49 { 81 n, 82 e } or 7F49 { 86 point }
// (ISO/IEC 7816-8).
func ParsePublicKeyTemplate(b []byte) (crypto.PublicKey, error) {
	o, err := tlv.First(b, 0x7F49)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	kids, err := o.Children()
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if pt, ok := kids[0x86]; ok {
		k, err := ecdh.P384().NewPublicKey(pt.Value)
		if err != nil {
			return nil, fmt.Errorf("public key: %w: %v", ErrMalformed, err)
		}
		raw := k.Bytes()
		return &ecdsa.PublicKey{Curve: elliptic.P384(), X: new(big.Int).SetBytes(raw[1:49]), Y: new(big.Int).SetBytes(raw[49:])}, nil
	}
	n, ok1 := kids[0x81]
	e, ok2 := kids[0x82]
	if !ok1 || !ok2 || len(e.Value) == 0 || len(e.Value) > 4 || len(n.Value) < 128 {
		return nil, fmt.Errorf("public key: %w", ErrMalformed)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n.Value), E: int(new(big.Int).SetBytes(e.Value).Int64())}, nil
}

// WriteCertificate stores a certificate for the authentication or
// signature key, after Authorise with OpWriteCert for that EF and the
// SHA-256 of der.
func (c *Card) WriteCertificate(ctx context.Context, key PINKind, der []byte) error {
	fid := EFAuthCert
	if key == PINSign {
		fid = EFSignCert
	} else if key != PINAuth {
		return fmt.Errorf("no certificate for %s", key)
	}
	return c.WriteFile(ctx, c.prof.JPKI, fid, der)
}

// WriteFile replaces an EF's content with UPDATE BINARY, chained in chunks
// of 255 bytes; the card commits only when the whole content matches the
// authorised digest (docs/CARD-COMMANDS.md §6).
func (c *Card) WriteFile(ctx context.Context, aid []byte, fid uint16, content []byte) error {
	if len(content) == 0 || len(content) > 32767 {
		return fmt.Errorf("write %04X: %d bytes", fid, len(content))
	}
	if err := c.selectDF(ctx, aid); err != nil {
		return err
	}
	name := fmt.Sprintf("UPDATE BINARY %04X", fid)
	for off := 0; off < len(content); off += writeChunk {
		end := min(off+writeChunk, len(content))
		cmd := apdu.Command{CLA: claISO, INS: insUpdateBinary, Data: content[off:end]}
		if end < len(content) {
			cmd.CLA |= claChaining
		}
		if off == 0 {
			cmd.P1 = sfi | byte(fid)
		} else {
			cmd.P1, cmd.P2 = byte(off>>8), byte(off)
		}
		r, err := c.transmit(ctx, name, cmd, false)
		if err != nil {
			return err
		}
		if r.SW == apdu.SWWrongData {
			return fmt.Errorf("%s: %w: content does not match the authorised digest", name, ErrAuthorisation)
		}
		if err := authErr(name, statusErr(name, r.SW)); err != nil {
			return err
		}
	}
	delete(c.cache, cacheKey(aid, fid))
	return nil
}

// Digest is the SHA-256 an OpWriteCert or OpWriteText grant covers.
func Digest(content []byte) [32]byte { return sha256.Sum256(content) }

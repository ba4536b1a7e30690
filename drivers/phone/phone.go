package phone

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/apdu"
)

// shortLe asks for up to 256 bytes; longer answers follow with 61xx and
// GET RESPONSE (ISO/IEC 7816-4 §5.3.4), which every reader handles.
const shortLe = apdu.MaxShortLe

// Options configure Open.
type Options struct {
	Log *slog.Logger
}

// Phone is one session with a phone's wallet on the reader. It is not
// safe for concurrent use: one phone, one session, one goroutine.
type Phone struct {
	t     card.Transceiver
	log   *slog.Logger
	dev   Device
	count int
}

// Open selects the wallet application and reads the device information.
// A card or a phone without the wallet gives ErrNotWallet.
func Open(ctx context.Context, t card.Transceiver) (*Phone, error) {
	return OpenWith(ctx, t, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, t card.Transceiver, o Options) (*Phone, error) {
	p := &Phone{t: t, log: o.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	r, err := p.transmit(ctx, "SELECT", apdu.Command{CLA: ClaISO, INS: InsSelect, P1: P1SelectByName, P2: P2SelectFirst, Data: AID, Le: shortLe})
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	switch r.SW {
	case apdu.SWOK:
	case apdu.SWFileNotFound, apdu.SWWrongP1P2, apdu.SWINSNotSupported, apdu.SWCLANotSupported:
		return nil, fmt.Errorf("SELECT wallet (%04X): %w", r.SW, ErrNotWallet)
	default:
		return nil, statusErr("SELECT", r.SW)
	}
	if !isFCI(r.Data) {
		return nil, fmt.Errorf("SELECT wallet: %w: unexpected FCI", ErrNotWallet)
	}
	if p.dev, err = p.deviceInfo(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Info is the device information read at Open.
func (p *Phone) Info() Device {
	d := p.dev
	d.ID = slices.Clone(d.ID)
	return d
}

// APDUCount is the number of command APDUs this session has sent.
func (p *Phone) APDUCount() int { return p.count }

func (p *Phone) deviceInfo(ctx context.Context) (Device, error) {
	b, err := p.call(ctx, "GET DEVICE INFO", apdu.Command{CLA: ClaProprietary, INS: InsGetData,
		P1: byte(P1P2DeviceInfo >> 8), P2: byte(P1P2DeviceInfo & 0xFF), Le: shortLe})
	if err != nil {
		return Device{}, err
	}
	d, err := ParseDeviceInfo(b)
	if err != nil {
		return Device{}, fmt.Errorf("GET DEVICE INFO: %w", err)
	}
	return d, nil
}

// GenerateKey asks the secure element for a new P-256 key pair for
// purpose, attested over challenge (16 to 64 bytes from the central
// system). The answer is parsed, not verified: the central system
// verifies it.
func (p *Phone) GenerateKey(ctx context.Context, purpose Purpose, challenge []byte) (Attestation, error) {
	if !purpose.Valid() {
		return Attestation{}, fmt.Errorf("GENERATE KEY: %w: %s", ErrInvalid, purpose)
	}
	if len(challenge) < MinChallenge || len(challenge) > MaxChallenge {
		return Attestation{}, fmt.Errorf("GENERATE KEY: %w: challenge of %d bytes, want %d to %d", ErrInvalid, len(challenge), MinChallenge, MaxChallenge)
	}
	b, err := p.call(ctx, "GENERATE KEY", apdu.Command{CLA: ClaProprietary, INS: InsGenerateKey, P1: byte(purpose), Data: challenge, Le: shortLe})
	if err != nil {
		return Attestation{}, err
	}
	a, err := ParseAttestation(b)
	if err != nil {
		return Attestation{}, fmt.Errorf("GENERATE KEY: %w: %w", ErrMalformed, err)
	}
	return a, nil
}

// Sign asks for an ECDSA P-256 signature (ASN.1 DER) of a SHA-256 digest
// with key keyID. The phone signs only after the holder approved on the
// phone: otherwise ErrNeedsApproval, and the caller asks the holder to
// approve, then calls Sign again. One approval is one signature.
func (p *Phone) Sign(ctx context.Context, keyID, digest []byte) ([]byte, error) {
	if len(keyID) != KeyIDLen || len(digest) != DigestLen {
		return nil, fmt.Errorf("SIGN: %w: key id of %d bytes, digest of %d", ErrInvalid, len(keyID), len(digest))
	}
	r, err := p.transmit(ctx, "SIGN", apdu.Command{CLA: ClaProprietary, INS: InsSign, P1: P1Signature, P2: P2Template,
		Data: EncodeSignInput(keyID, digest), Le: shortLe})
	if err != nil {
		return nil, err
	}
	if r.SW == apdu.SWSecurityStatus {
		return nil, fmt.Errorf("SIGN: %w", ErrNeedsApproval)
	}
	if err := statusErr("SIGN", r.SW); err != nil {
		return nil, err
	}
	if len(r.Data) < 8 || len(r.Data) > 80 || r.Data[0] != 0x30 {
		return nil, fmt.Errorf("SIGN: %w: %d bytes that are not an ECDSA signature", ErrMalformed, len(r.Data))
	}
	return r.Data, nil
}

// PutCredential stores a credential for one of the phone's keys. The data
// goes in chunks of 255 bytes with command chaining; a phone pulled away
// mid-way keeps nothing, and PutCredential can start again.
func (p *Phone) PutCredential(ctx context.Context, c Credential) error {
	switch {
	case !c.Type.Valid():
		return fmt.Errorf("PUT CREDENTIAL: %w: %s", ErrInvalid, c.Type)
	case !ValidCredentialID(c.ID):
		return fmt.Errorf("PUT CREDENTIAL: %w: credential id %q", ErrInvalid, c.ID)
	case len(c.KeyID) != KeyIDLen:
		return fmt.Errorf("PUT CREDENTIAL: %w: key id of %d bytes", ErrInvalid, len(c.KeyID))
	case len(c.Data) == 0 || len(c.Data) > MaxCredentialSize:
		return fmt.Errorf("PUT CREDENTIAL: %w: %d payload bytes, want 1 to %d", ErrInvalid, len(c.Data), MaxCredentialSize)
	case c.NotAfter.IsZero():
		return fmt.Errorf("PUT CREDENTIAL: %w: no notAfter", ErrInvalid)
	}
	data := EncodeCredential(c)
	for off := 0; off < len(data); off += ChunkSize {
		end := min(off+ChunkSize, len(data))
		cla := byte(ClaProprietary)
		if end < len(data) {
			cla |= ClaChaining
		}
		if _, err := p.call(ctx, "PUT CREDENTIAL", apdu.Command{CLA: cla, INS: InsPutCredential, P1: byte(c.Type), Data: data[off:end]}); err != nil {
			return err
		}
	}
	return nil
}

// Status lists the credentials on the phone.
func (p *Phone) Status(ctx context.Context) ([]CredentialStatus, error) {
	b, err := p.call(ctx, "GET STATUS", apdu.Command{CLA: ClaProprietary, INS: InsGetData,
		P1: byte(P1P2Status >> 8), P2: byte(P1P2Status & 0xFF), Le: shortLe})
	if err != nil {
		return nil, err
	}
	list, err := ParseStatus(b)
	if err != nil {
		return nil, fmt.Errorf("GET STATUS: %w", err)
	}
	return list, nil
}

// Delete removes a credential (its key stays in the secure element).
func (p *Phone) Delete(ctx context.Context, id string) error {
	if !ValidCredentialID(id) {
		return fmt.Errorf("DELETE CREDENTIAL: %w: credential id %q", ErrInvalid, id)
	}
	_, err := p.call(ctx, "DELETE CREDENTIAL", apdu.Command{CLA: ClaProprietary, INS: InsDeleteCredential, Data: EncodeID(id)})
	return err
}

// SetState marks a credential active, suspended or revoked. Revoked is
// final: changing it again gives ErrRefused.
func (p *Phone) SetState(ctx context.Context, id string, s State) error {
	if !ValidCredentialID(id) || !s.Valid() {
		return fmt.Errorf("SET STATE: %w: credential id %q, %s", ErrInvalid, id, s)
	}
	_, err := p.call(ctx, "SET STATE", apdu.Command{CLA: ClaProprietary, INS: InsSetState, P1: byte(s), Data: EncodeID(id)})
	return err
}

// PutNotice leaves a notice in the phone's inbox for the holder.
func (p *Phone) PutNotice(ctx context.Context, n Notice) error {
	if !n.Code.Valid() || n.Date.IsZero() || n.Date.Year() < 1000 || n.Date.Year() > 9999 || (n.CredentialID != "" && !ValidCredentialID(n.CredentialID)) {
		return fmt.Errorf("PUT NOTICE: %w: %s, %v, %q", ErrInvalid, n.Code, n.Date, n.CredentialID)
	}
	_, err := p.call(ctx, "PUT NOTICE", apdu.Command{CLA: ClaProprietary, INS: InsPutNotice, Data: EncodeNotice(n)})
	return err
}

// call sends a command and maps its status word; it returns the data.
func (p *Phone) call(ctx context.Context, name string, cmd apdu.Command) ([]byte, error) {
	r, err := p.transmit(ctx, name, cmd)
	if err != nil {
		return nil, err
	}
	if err := statusErr(name, r.SW); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// transmit sends one command, following 61xx (GET RESPONSE) and 6Cxx
// (resend with the right Le). Logs name the command and the status word,
// never the data.
func (p *Phone) transmit(ctx context.Context, name string, cmd apdu.Command) (apdu.Response, error) {
	var data []byte
	for range 256 { // 64 KiB of GET RESPONSE at most: a loop bound, not a limit
		if err := ctx.Err(); err != nil {
			return apdu.Response{}, fmt.Errorf("%s: %w", name, err)
		}
		raw, err := cmd.Bytes()
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%s: %w", name, err)
		}
		out, err := p.t.Transmit(ctx, raw)
		p.count++
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%s: %w", name, err)
		}
		r, err := apdu.ParseResponse(out)
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%s: %w: %v", name, ErrMalformed, err)
		}
		p.log.Debug("apdu", "cmd", name, "sw", fmt.Sprintf("%04X", r.SW), "len", len(r.Data))
		switch {
		case r.SW1() == 0x61: // more data: GET RESPONSE (ISO/IEC 7816-4 §5.3.4)
			data = append(data, r.Data...)
			le := int(r.SW2())
			if le == 0 {
				le = shortLe
			}
			cmd = apdu.Command{CLA: ClaISO, INS: InsGetResponse, Le: le}
		case r.SW1() == 0x6C && cmd.INS != InsGetResponse: // wrong Le: resend with Le = SW2
			le := int(r.SW2())
			if le == 0 {
				le = shortLe
			}
			cmd.Le = le
		default:
			r.Data = append(data, r.Data...)
			return r, nil
		}
	}
	return apdu.Response{}, fmt.Errorf("%s: %w: endless GET RESPONSE", name, ErrMalformed)
}

// statusErr maps a status word to the typed errors.
func statusErr(name string, sw uint16) error {
	switch sw {
	case apdu.SWOK:
		return nil
	case apdu.SWReferenceNotFound, apdu.SWFileNotFound:
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	case SWExists:
		return fmt.Errorf("%s: %w", name, ErrExists)
	case apdu.SWNotEnoughMemory:
		return fmt.Errorf("%s: %w", name, ErrFull)
	case apdu.SWConditionsOfUse:
		return fmt.Errorf("%s: %w", name, ErrRefused)
	case apdu.SWSecurityStatus:
		return fmt.Errorf("%s: %w", name, ErrNeedsApproval)
	case apdu.SWWrongData, apdu.SWWrongLength, apdu.SWWrongP1P2:
		return fmt.Errorf("%s: %w (%04X)", name, ErrRejected, sw)
	}
	return &StatusError{Command: name, SW: sw}
}

package card

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/card/tlv"
)

// Instruction and parameter bytes the driver sends (ISO/IEC 7816-4 §11;
// the card's use of them in ref §3).
const (
	claISO          = 0x00
	claProprietary  = 0x80 // COMPUTE DIGITAL SIGNATURE (ref §3)
	claChaining     = 0x10 // ISO 7816-4 §5.4.1 command chaining
	insSelect       = 0xA4
	insReadBinary   = 0xB0
	insVerify       = 0x20
	insChangeRef    = 0x24
	insResetRetry   = 0x2C
	insSign         = 0x2A
	insGetChallenge = 0x84
	insExternalAuth = 0x82
	insGenerateKey  = 0x46
	insUpdateBinary = 0xD6
	insGetResponse  = 0xC0
	p1SelectByName  = 0x04 // SELECT DF by AID (ref §2)
	p1SelectByFID   = 0x02 // SELECT EF by file ID (ref §2)
	p2NoResponse    = 0x0C // no FCI returned (ref §2)
	sfi             = 0x80 // short EF identifier flag in READ BINARY P1, key P2 (ref §2)
	p1NewOnly       = 0x01 // CHANGE REFERENCE DATA: new data only (ref §3)
	p1ResetNewOnly  = 0x02 // RESET RETRY COUNTER: new data only (docs/CARD-COMMANDS.md)
	p1ResetWithCode = 0x00 // RESET RETRY COUNTER: PUK || new PIN
	challengeLen    = 8
	chunk           = 256 // short READ BINARY maximum (Le = 00)
	writeChunk      = 255 // short UPDATE BINARY maximum (Lc = FF)
)

// Options configure Open.
type Options struct {
	Log *slog.Logger
	// Extended forces extended-length reads on or off; nil asks the
	// transceiver (ExtendedLengthReporter), defaulting to off.
	Extended *bool
}

// Card is one session with an Individual Number Card. It is not safe for
// concurrent use: one card, one session, one goroutine.
type Card struct {
	t      Transceiver
	log    *slog.Logger
	ext    bool
	prof   *Profile
	label  string
	serial string
	df     []byte            // the application selected now; nil: unknown
	cache  map[string][]byte // files read in this session, by AID and FID
	count  int               // APDUs sent in this session
}

// Open identifies the card by its applications and token label (a
// contactless reader invents its own ATR, ref §1) and returns a session.
func Open(ctx context.Context, t Transceiver, o Options) (*Card, error) {
	c := &Card{t: t, log: o.Log, cache: map[string][]byte{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Extended != nil:
		c.ext = *o.Extended
	default:
		if r, ok := t.(ExtendedLengthReporter); ok {
			c.ext = r.ExtendedLength()
		}
	}
	for _, p := range Profiles {
		err := c.selectDF(ctx, p.JPKI)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("identify card: %w", err)
		}
		info, err := c.readRaw(ctx, p.JPKI, EFTokenInfo, 160)
		if err != nil {
			return nil, fmt.Errorf("identify card: token info: %w", err)
		}
		label, serial := parseTokenInfo(info)
		for _, q := range Profiles {
			if bytes.Equal(q.JPKI, p.JPKI) && q.TokenLabel == label {
				c.prof, c.label, c.serial = q, label, serial
				return c, nil
			}
		}
		return nil, fmt.Errorf("%w: token label %q", ErrNotMyNumberCard, label)
	}
	return nil, fmt.Errorf("%w: no JPKI application", ErrNotMyNumberCard)
}

// parseTokenInfo takes the label (first 32 bytes) and serial (bytes
// 80–95) of a CK_TOKEN_INFO, trimmed of spaces and NULs (ref §6.1).
func parseTokenInfo(b []byte) (label, serial string) {
	trim := func(s []byte) string { return strings.TrimRight(string(s), " \x00") }
	if len(b) >= 32 {
		label = trim(b[:32])
	} else {
		label = trim(b)
	}
	if len(b) >= 96 {
		serial = trim(b[80:96])
	}
	return label, serial
}

// Profile is what the card can do.
func (c *Card) Profile() *Profile { return c.prof }

// TokenLabel is the label of the JPKI token, e.g. JPKIAPICCTOKEN2.
func (c *Card) TokenLabel() string { return c.label }

// Serial is the card's serial number from the token info.
func (c *Card) Serial() string { return c.serial }

// APDUCount is the number of command APDUs this session has sent.
func (c *Card) APDUCount() int { return c.count }

// transmit sends one command, following 61xx (GET RESPONSE) and 6Cxx
// (resend with the right Le). When sensitive, the encoded command (which
// holds a PIN) is wiped after sending. Logs name the command and the
// status word, never the data.
func (c *Card) transmit(ctx context.Context, name string, cmd apdu.Command, sensitive bool) (apdu.Response, error) {
	if cmd.NeedsExtended() && !c.ext {
		cmd.Extended = false
		if len(cmd.Data) > apdu.MaxShortLc {
			return apdu.Response{}, fmt.Errorf("%s: %d data bytes need an extended APDU, which this reader does not support", name, len(cmd.Data))
		}
		if cmd.Le > apdu.MaxShortLe {
			cmd.Le = apdu.MaxShortLe
		}
	}
	raw, err := cmd.Bytes()
	if err != nil {
		return apdu.Response{}, fmt.Errorf("%s: %w", name, err)
	}
	out, err := c.t.Transmit(ctx, raw)
	c.count++
	if sensitive {
		clear(raw)
	}
	if err != nil {
		c.df = nil
		return apdu.Response{}, fmt.Errorf("%s: %w", name, err)
	}
	r, err := apdu.ParseResponse(out)
	if err != nil {
		return apdu.Response{}, fmt.Errorf("%s: %w: %v", name, ErrMalformed, err)
	}
	c.log.Debug("apdu", "cmd", name, "sw", fmt.Sprintf("%04X", r.SW), "len", len(r.Data))
	data := r.Data
	for r.SW1() == 0x61 { // more data available: GET RESPONSE (ISO 7816-4 §5.3.4)
		le := int(r.SW2())
		if le == 0 {
			le = 256
		}
		r, err = c.transmit(ctx, "GET RESPONSE", apdu.Command{CLA: claISO, INS: insGetResponse, Le: le}, false)
		if err != nil {
			return apdu.Response{}, err
		}
		data = append(data, r.Data...)
	}
	if r.SW1() == 0x6C && !sensitive { // wrong Le: resend with the length the card wants
		cmd.Le = int(r.SW2())
		if cmd.Le == 0 {
			cmd.Le = 256
		}
		return c.transmit(ctx, name, cmd, false)
	}
	r.Data = data
	return r, nil
}

// statusErr maps a status word to the driver's typed errors.
func statusErr(name string, sw uint16) error {
	switch sw {
	case apdu.SWOK:
		return nil
	case apdu.SWSecurityStatus:
		return fmt.Errorf("%s: %w", name, ErrSecurityStatus)
	case apdu.SWFileNotFound, apdu.SWReferenceNotFound:
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	case apdu.SWBlocked:
		return fmt.Errorf("%s: %w", name, ErrBlocked)
	}
	return &StatusError{Command: name, SW: sw}
}

// selectDF selects an application unless it is already selected. Selecting
// another application clears the card's security state (ref §2).
func (c *Card) selectDF(ctx context.Context, aid []byte) error {
	if c.df != nil && bytes.Equal(c.df, aid) {
		return nil
	}
	r, err := c.transmit(ctx, "SELECT DF", apdu.Command{CLA: claISO, INS: insSelect, P1: p1SelectByName, P2: p2NoResponse, Data: aid}, false)
	if err != nil {
		return err
	}
	if err := statusErr("SELECT DF", r.SW); err != nil {
		return err
	}
	c.df = append([]byte(nil), aid...)
	return nil
}

// Logout re-selects the current application, which clears every verified
// PIN on the card (ref §2; OSC jpki_logout does the same).
func (c *Card) Logout(ctx context.Context) error {
	aid := c.df
	c.df = nil
	if aid == nil {
		return nil
	}
	return c.selectDF(ctx, aid)
}

func cacheKey(aid []byte, fid uint16) string { return fmt.Sprintf("%X/%04X", aid, fid) }

// readRaw reads the first n bytes of an EF with one SFI READ BINARY.
func (c *Card) readRaw(ctx context.Context, aid []byte, fid uint16, n int) ([]byte, error) {
	key := cacheKey(aid, fid) + fmt.Sprintf("/raw%d", n)
	if b, ok := c.cache[key]; ok {
		return b, nil
	}
	if err := c.selectDF(ctx, aid); err != nil {
		return nil, err
	}
	r, err := c.transmit(ctx, "READ BINARY", apdu.Command{CLA: claISO, INS: insReadBinary, P1: sfi | byte(fid), Le: n}, false)
	if err != nil {
		return nil, err
	}
	if err := statusErr(fmt.Sprintf("READ BINARY %04X", fid), r.SW); err != nil {
		return nil, err
	}
	c.cache[key] = r.Data
	return r.Data, nil
}

// readTLVFile reads a whole TLV-structured EF: the first chunk through the
// short EF identifier (no SELECT EF), the size from the TLV header, then
// the rest in chunks of 256 (or in one extended read). Filler after the
// object is not returned. Each file is read once per session.
func (c *Card) readTLVFile(ctx context.Context, aid []byte, fid uint16) ([]byte, error) {
	key := cacheKey(aid, fid)
	if b, ok := c.cache[key]; ok {
		return b, nil
	}
	name := fmt.Sprintf("READ BINARY %04X", fid)
	if err := c.selectDF(ctx, aid); err != nil {
		return nil, err
	}
	first := chunk
	if c.ext {
		first = apdu.MaxExtendedLe
	}
	r, err := c.transmit(ctx, name, apdu.Command{CLA: claISO, INS: insReadBinary, P1: sfi | byte(fid), Le: first}, false)
	if err != nil {
		return nil, err
	}
	if r.SW == apdu.SWOffsetBeyondEnd {
		return nil, fmt.Errorf("%s: %w (empty file)", name, ErrNotFound)
	}
	if err := statusErr(name, r.SW); err != nil {
		return nil, err
	}
	buf := r.Data
	total, err := tlv.Size(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrMalformed, err)
	}
	if total > 32767 {
		return nil, fmt.Errorf("%s: %w: object of %d bytes", name, ErrMalformed, total)
	}
	for len(buf) < total {
		off := len(buf)
		want := min(total-off, chunk)
		if c.ext {
			want = total - off
		}
		r, err := c.transmit(ctx, name, apdu.Command{CLA: claISO, INS: insReadBinary, P1: byte(off >> 8), P2: byte(off), Le: want}, false)
		if err != nil {
			return nil, err
		}
		if err := statusErr(name, r.SW); err != nil {
			return nil, err
		}
		if len(r.Data) == 0 {
			return nil, fmt.Errorf("%s: %w: file ends at %d of %d bytes", name, ErrMalformed, off, total)
		}
		buf = append(buf, r.Data...)
	}
	buf = buf[:total:total]
	c.cache[key] = buf
	return buf, nil
}

// ReadFile reads a TLV-structured EF of an application (for diagnostics
// and tools); most callers use the typed readers.
func (c *Card) ReadFile(ctx context.Context, aid []byte, fid uint16) ([]byte, error) {
	return c.readTLVFile(ctx, aid, fid)
}

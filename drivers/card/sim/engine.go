package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"log/slog"
	"math/big"
	"sync"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/card/tlv"
)

// Instruction bytes (ISO/IEC 7816-4 §11 and the card's own, ref §3).
const (
	insSelect        = 0xA4
	insReadBinary    = 0xB0
	insReadRecord    = 0xB2
	insVerify        = 0x20
	insChangeRefData = 0x24
	insResetRetry    = 0x2C
	insSign          = 0x2A // COMPUTE DIGITAL SIGNATURE, CLA 80 (ref §3)
	insGetChallenge  = 0x84
	insExternalAuth  = 0x82
	insGenerateKey   = 0x46
	insUpdateBinary  = 0xD6
	insGetData       = 0xCA
	insGetResponse   = 0xC0
	claChainingBit   = 0x10 // ISO 7816-4 §5.4.1 command chaining
	claProprietary   = 0x80
	p1SelectDFByName = 0x04
	p1SelectEFByID   = 0x02
	p1SelectMF       = 0x00
	p2NoFCI          = 0x0C
	p2CurrentKey     = 0x80 // VERIFY/SIGN: key of the current EF (ref §3)
	sfiFlag          = 0x80 // READ BINARY P1 and key P2: short EF identifier
	p1ChangeNewOnly  = 0x01 // CHANGE REFERENCE DATA: new reference data only (ref §3)
	p1ResetWithPUK   = 0x00 // RESET RETRY COUNTER: resetting code + new data (ISO 7816-4 §11.5.10)
	p1ResetNewOnly   = 0x02 // RESET RETRY COUNTER: new data only
	maxChallenge     = 256
	faceCheckTries   = 10 // the real limit for 照合番号 is not public (ref §15)
)

// Card is the virtual card engine. It implements the vpcd.Card interface
// (ATR, Reset, Process) and can be used in-process through Transceiver.
type Card struct {
	mu   sync.Mutex
	st   *State
	path string // where State is saved after every change; "" keeps it in memory
	log  *slog.Logger
	prof *card.Profile

	// Volatile state, cleared by Reset.
	df        *App
	ef        uint16
	hasEF     bool
	verified  map[uint16]bool
	challenge []byte
	grant     *card.Grant
	staging   []byte // UPDATE BINARY chaining buffer
	pending   []byte // response bytes left for GET RESPONSE
	saveErr   error
}

// New makes an engine over st. With path set, every change is saved there.
func New(st *State, path string, log *slog.Logger) (*Card, error) {
	prof, err := card.ProfileByName(st.Profile)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Card{st: st, path: path, log: log, prof: prof}
	c.Reset()
	return c, nil
}

// Open loads a state file and makes an engine that saves back to it.
func Open(path string, log *slog.Logger) (*Card, error) {
	st, err := Load(path)
	if err != nil {
		return nil, err
	}
	return New(st, path, log)
}

// State returns the card's persistent state (for tests and the demo).
func (c *Card) State() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// SaveError reports the last failure to save the state, if any.
func (c *Card) SaveError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saveErr
}

// ATR is the contact ATR of the real card: 3B E0 00 FF 81 31 FE 45 14
// (ref §1, OSC jpki_atrs).
func (c *Card) ATR() []byte { return append([]byte(nil), c.st.ATR...) }

// Reset clears the volatile state, as a power cycle does.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Card) resetLocked() {
	c.df, c.ef, c.hasEF = nil, 0, false
	c.verified = map[uint16]bool{}
	c.challenge, c.grant, c.staging, c.pending = nil, nil, nil, nil
}

func (c *Card) persist() {
	if c.path == "" {
		return
	}
	if err := c.st.Save(c.path); err != nil {
		c.saveErr = err
		c.log.Error("virtual card: save state", "err", err)
	}
}

func sw(code uint16) []byte { return apdu.Response{SW: code}.Bytes() }

func data(b []byte) []byte { return apdu.Response{Data: b, SW: apdu.SWOK}.Bytes() }

// Process answers one command APDU. A response longer than the command's
// Le is cut to Le with 61xx, and the rest follows with GET RESPONSE
// (ISO/IEC 7816-4 §5.3.4), as a card does for a short APDU.
func (c *Card) Process(raw []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		return sw(apdu.SWWrongLength)
	}
	if cmd.INS == insGetResponse && cmd.CLA == 0 {
		return c.getResponse(cmd)
	}
	c.pending = nil
	out := c.process(cmd)
	if len(out) > 2 && cmd.Le > 0 && len(out)-2 > cmd.Le {
		body := out[:len(out)-2]
		c.pending = append([]byte(nil), body[cmd.Le:]...)
		return c.moreSW(body[:cmd.Le])
	}
	return out
}

func (c *Card) moreSW(data []byte) []byte {
	n := len(c.pending)
	if n > 255 {
		n = 0 // 6100: 256 or more bytes remain
	}
	return apdu.Response{Data: data, SW: 0x6100 | uint16(n)}.Bytes()
}

func (c *Card) getResponse(cmd apdu.Command) []byte {
	if len(c.pending) == 0 {
		return sw(apdu.SWConditionsOfUse)
	}
	n := min(cmd.Le, len(c.pending))
	if cmd.Le == 0 {
		n = min(256, len(c.pending))
	}
	out := c.pending[:n]
	c.pending = c.pending[n:]
	if len(c.pending) > 0 {
		return c.moreSW(out)
	}
	c.pending = nil
	return data(out)
}

func (c *Card) process(cmd apdu.Command) []byte {
	switch {
	case cmd.CLA&0x03 != 0:
		return sw(apdu.SWLogicalChannel) // only channel 0 works (ref §1)
	case cmd.CLA&0x0C != 0:
		return sw(apdu.SWSecureMessaging)
	case cmd.CLA&^(claChainingBit) != 0x00 && cmd.CLA != claProprietary:
		return sw(apdu.SWCLANotSupported)
	}
	if cmd.CLA&claChainingBit != 0 && cmd.INS != insUpdateBinary {
		return sw(apdu.SWChainingNotSupported)
	}
	switch cmd.INS {
	case insSelect:
		return c.selectFile(cmd)
	case insReadBinary:
		return c.readBinary(cmd)
	case insVerify:
		return c.verify(cmd)
	case insChangeRefData:
		return c.changeReferenceData(cmd)
	case insResetRetry:
		return c.resetRetryCounter(cmd)
	case insSign:
		if cmd.CLA != claProprietary {
			return sw(apdu.SWCLANotSupported)
		}
		return c.sign(cmd)
	case insGetChallenge:
		return c.getChallenge(cmd)
	case insExternalAuth:
		return c.externalAuthenticate(cmd)
	case insGenerateKey:
		return c.generateKey(cmd)
	case insUpdateBinary:
		return c.updateBinary(cmd)
	case insReadRecord, insGetData:
		return sw(apdu.SWFileNotFound)
	}
	return sw(apdu.SWINSNotSupported)
}

// selectFile: SELECT by DF name (00 A4 04 0C AID) clears the security
// state; SELECT EF (00 A4 02 0C FID) keeps it (ref §2, §14.1–2).
func (c *Card) selectFile(cmd apdu.Command) []byte {
	switch cmd.P1 {
	case p1SelectDFByName:
		a := c.st.app(cmd.Data)
		if a == nil {
			return sw(apdu.SWFileNotFound)
		}
		c.df, c.hasEF = a, false
		c.verified = map[uint16]bool{}
		c.grant, c.staging = nil, nil
		return sw(apdu.SWOK)
	case p1SelectEFByID:
		if c.df == nil {
			return sw(apdu.SWNoCurrentEF)
		}
		if len(cmd.Data) != 2 {
			return sw(apdu.SWWrongLength)
		}
		fid := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1])
		if !c.exists(fid) {
			return sw(apdu.SWFileNotFound)
		}
		c.ef, c.hasEF = fid, true
		return sw(apdu.SWOK)
	case p1SelectMF:
		// There is no usable MF: 6A86 right after reset, a no-op with an
		// application current (ref §2, MC mf.rs).
		if c.df == nil {
			return sw(apdu.SWWrongP1P2)
		}
		return sw(apdu.SWOK)
	}
	return sw(apdu.SWWrongP1P2)
}

func (c *Card) exists(fid uint16) bool {
	_, f := c.df.Files[fid]
	_, p := c.df.PINs[fid]
	_, k := c.df.Keys[fid]
	return f || p || k
}

// canRead applies the access list: free, or any one listed key verified.
func (c *Card) canRead(fid uint16) bool {
	refs, guarded := c.df.Access[fid]
	if !guarded {
		return true
	}
	for _, r := range refs {
		if c.verified[r] {
			return true
		}
	}
	return false
}

// efAddress resolves the EF and offset of READ BINARY and UPDATE BINARY:
// P1 = 80|SFI with an 8-bit offset in P2 (which also makes the EF
// current), or a 15-bit offset into the current EF (ref §3).
func (c *Card) efAddress(cmd apdu.Command) (fid uint16, off int, status uint16) {
	if cmd.P1&sfiFlag != 0 {
		if cmd.P1&0x60 != 0 {
			return 0, 0, apdu.SWWrongP1P2
		}
		fid = uint16(cmd.P1 & 0x1F)
		if !c.exists(fid) {
			return 0, 0, apdu.SWFileNotFound
		}
		c.ef, c.hasEF = fid, true
		return fid, int(cmd.P2), apdu.SWOK
	}
	if !c.hasEF {
		return 0, 0, apdu.SWNoCurrentEF
	}
	return c.ef, int(cmd.P1)<<8 | int(cmd.P2), apdu.SWOK
}

// readBinary: READ BINARY, offset form or SFI form (ref §3, §4, §14.3).
func (c *Card) readBinary(cmd apdu.Command) []byte {
	if c.df == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	fid, off, status := c.efAddress(cmd)
	if status != apdu.SWOK {
		return sw(status)
	}
	content, ok := c.df.Files[fid]
	if !ok {
		return sw(apdu.SWNoCurrentEF) // a key reference is not a transparent EF
	}
	if cmd.Le == 0 {
		return sw(apdu.SWWrongLength)
	}
	if !c.canRead(fid) {
		return sw(apdu.SWSecurityStatus)
	}
	if off >= len(content) {
		return sw(apdu.SWOffsetBeyondEnd)
	}
	end := min(off+cmd.Le, len(content))
	return data(content[off:end])
}

// keyRef resolves P2 = 80 (the current EF) or 80|SFI.
func (c *Card) keyRef(p2 byte) (uint16, bool) {
	switch {
	case p2 == p2CurrentKey:
		return c.ef, c.hasEF
	case p2&sfiFlag != 0 && p2&0x60 == 0:
		return uint16(p2 & 0x1F), true
	}
	return 0, false
}

func triesSW(n int) []byte { return sw(apdu.SWVerifyFailBase | uint16(n&0x0F)) }

// verify: VERIFY and the remaining-tries query (ref §7, §14.4).
func (c *Card) verify(cmd apdu.Command) []byte {
	if c.df == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	if cmd.P1 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	ref, ok := c.keyRef(cmd.P2)
	if !ok {
		if cmd.P2 == p2CurrentKey {
			return sw(apdu.SWNoCurrentEF)
		}
		return sw(apdu.SWWrongP1P2)
	}
	pin, ok := c.df.PINs[ref]
	if !ok {
		return sw(apdu.SWReferenceNotFound)
	}
	c.ef, c.hasEF = ref, true
	if len(cmd.Data) == 0 { // the query spends no try
		return triesSW(pin.Tries)
	}
	if len(cmd.Data) > 16 {
		return sw(apdu.SWWrongLength) // VERIFY data is 1–16 bytes (JICSAP 6.4.9, ref §7)
	}
	if !pin.isSet() {
		return sw(apdu.SWConditionsOfUse)
	}
	if pin.Tries == 0 {
		return sw(apdu.SWBlocked)
	}
	if pin.matches(cmd.Data) {
		if pin.Tries != pin.Max {
			pin.Tries = pin.Max
			c.persist()
		}
		c.verified[ref] = true
		return sw(apdu.SWOK)
	}
	pin.Tries--
	delete(c.verified, ref)
	c.persist()
	return triesSW(pin.Tries)
}

// takeGrant consumes a matching authorisation from EXTERNAL AUTHENTICATE.
func (c *Card) takeGrant(op card.Op, ref uint16, digest *[32]byte) bool {
	g := c.grant
	if g == nil || g.Op != op || g.Ref != ref {
		return false
	}
	if digest != nil && subtle.ConstantTimeCompare(g.Digest[:], digest[:]) != 1 {
		return false
	}
	c.grant = nil
	return true
}

// pinOf resolves the PIN a PIN-setting command names in P2 (80|SFI).
func (c *Card) pinOf(p2 byte) (uint16, *PIN, uint16) {
	if c.df == nil {
		return 0, nil, apdu.SWNoCurrentEF
	}
	ref, ok := c.keyRef(p2)
	if !ok {
		return 0, nil, apdu.SWWrongP1P2
	}
	pin, ok := c.df.PINs[ref]
	if !ok {
		return 0, nil, apdu.SWReferenceNotFound
	}
	return ref, pin, apdu.SWOK
}

// changeReferenceData: 00 24 01 80|SFI <new>. With the old PIN verified
// (public, ref §3), or with an OpSetPIN grant (issuance, also again when
// it resumes; docs/CARD-COMMANDS.md).
func (c *Card) changeReferenceData(cmd apdu.Command) []byte {
	ref, pin, status := c.pinOf(cmd.P2)
	if status != apdu.SWOK {
		return sw(status)
	}
	if cmd.P1 != p1ChangeNewOnly {
		return sw(apdu.SWWrongP1P2)
	}
	if !pin.validFormat(cmd.Data) {
		return sw(apdu.SWWrongData)
	}
	switch {
	case pin.isSet() && c.verified[ref]:
	case c.takeGrant(card.OpSetPIN, ref, nil):
		// Set, or set again when an interrupted issuance resumes: the
		// central system grants set-pin only before the card is issued.
	default:
		return sw(apdu.SWSecurityStatus)
	}
	pin.set(cmd.Data)
	c.persist()
	return sw(apdu.SWOK)
}

// resetRetryCounter: 00 2C 02 80|SFI <new> with an OpResetPIN grant, or
// (next generation) 00 2C 00 80|SFI <PUK||new> for the 4-digit PIN.
func (c *Card) resetRetryCounter(cmd apdu.Command) []byte {
	ref, pin, status := c.pinOf(cmd.P2)
	if status != apdu.SWOK {
		return sw(status)
	}
	switch cmd.P1 {
	case p1ResetNewOnly:
		if !pin.validFormat(cmd.Data) {
			return sw(apdu.SWWrongData)
		}
		if !c.takeGrant(card.OpResetPIN, ref, nil) {
			return sw(apdu.SWSecurityStatus)
		}
		pin.set(cmd.Data)
		c.persist()
		return sw(apdu.SWOK)
	case p1ResetWithPUK:
		puk, ok := c.df.PINs[card.PINRefPUK]
		if !ok || ref != card.PINRefAuth {
			return sw(apdu.SWWrongP1P2)
		}
		if len(cmd.Data) <= puk.MaxLen {
			return sw(apdu.SWWrongLength)
		}
		given, newPIN := cmd.Data[:puk.MaxLen], cmd.Data[puk.MaxLen:]
		if !pin.validFormat(newPIN) {
			return sw(apdu.SWWrongData)
		}
		if !puk.isSet() {
			return sw(apdu.SWConditionsOfUse)
		}
		if puk.Tries == 0 {
			return sw(apdu.SWBlocked)
		}
		if !puk.matches(given) {
			puk.Tries--
			c.persist()
			return triesSW(puk.Tries)
		}
		puk.Tries = puk.Max
		pin.set(newPIN)
		c.persist()
		return sw(apdu.SWOK)
	}
	return sw(apdu.SWWrongP1P2)
}

// Signature schemes of 80 2A P1 (ref §6.3, MC ⚠).
const (
	schemeRaw        = 0x00 // PKCS#1 v1.5 over the input as given (a DigestInfo)
	schemeHashBare   = 0x01 // SHA-256 of the message, signed without DigestInfo
	schemeDigestInfo = 0x02 // 32-byte SHA-256 wrapped in a DigestInfo
	schemeSHA256     = 0x03 // message → SHA-256 → sha256WithRSAEncryption
	schemePSSHash    = 0x04 // 32-byte SHA-256 → RSASSA-PSS
	schemePSSMessage = 0x05 // message → SHA-256 → RSASSA-PSS
)

// sign: COMPUTE DIGITAL SIGNATURE (ref §6.3, §14.6).
func (c *Card) sign(cmd apdu.Command) []byte {
	if c.df == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	ref, ok := c.keyRef(cmd.P2)
	if !ok {
		return sw(apdu.SWWrongP1P2)
	}
	key, ok := c.df.Keys[ref]
	if !ok || len(key.PKCS8) == 0 {
		return sw(apdu.SWReferenceNotFound)
	}
	if !c.verified[key.Guard] {
		return sw(apdu.SWSecurityStatus)
	}
	priv, err := x509.ParsePKCS8PrivateKey(key.PKCS8)
	if err != nil {
		c.log.Error("virtual card: bad key", "ref", ref, "err", err)
		return sw(apdu.SWConditionsOfUse)
	}
	in := cmd.Data
	if len(in) == 0 {
		return sw(apdu.SWWrongLength)
	}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return signRSA(k, cmd.P1, in)
	case *ecdsa.PrivateKey:
		return signEC(k, cmd.P1, in)
	}
	return sw(apdu.SWConditionsOfUse)
}

func signRSA(k *rsa.PrivateKey, scheme byte, in []byte) []byte {
	var sig []byte
	var err error
	switch scheme {
	case schemeRaw:
		if len(in) > k.Size()-11 {
			return sw(apdu.SWWrongLength)
		}
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.Hash(0), in)
	case schemeHashBare, schemeSHA256, schemePSSMessage:
		if len(in) > 255 {
			return sw(apdu.SWWrongLength)
		}
		h := sha256.Sum256(in)
		switch scheme {
		case schemeHashBare:
			sig, err = rsa.SignPKCS1v15(nil, k, crypto.Hash(0), h[:])
		case schemeSHA256:
			sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
		default:
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, h[:], nil)
		}
	case schemeDigestInfo, schemePSSHash:
		if len(in) != sha256.Size {
			return sw(apdu.SWWrongLength)
		}
		if scheme == schemeDigestInfo {
			sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, in)
		} else {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, in, nil)
		}
	default:
		return sw(apdu.SWWrongP1P2)
	}
	if err != nil {
		return sw(apdu.SWConditionsOfUse)
	}
	return data(sig)
}

// signEC: the next-generation profile signs a hash (P1 00 or 02: up to 64
// bytes, usually SHA-384) or a message (P1 03: the card hashes with
// SHA-384), answering r||s of 48 bytes each (docs/CARD-COMMANDS.md).
func signEC(k *ecdsa.PrivateKey, scheme byte, in []byte) []byte {
	var h []byte
	switch scheme {
	case schemeRaw, schemeDigestInfo:
		if len(in) > 64 {
			return sw(apdu.SWWrongLength)
		}
		h = in
	case schemeSHA256:
		s := sha512.Sum384(in)
		h = s[:]
	default:
		return sw(apdu.SWWrongP1P2)
	}
	r, s, err := ecdsa.Sign(rand.Reader, k, h)
	if err != nil {
		return sw(apdu.SWConditionsOfUse)
	}
	out := make([]byte, 96)
	r.FillBytes(out[:48])
	s.FillBytes(out[48:])
	return data(out)
}

// getChallenge: GET CHALLENGE, 1–256 bytes; an extended request is
// refused (ref §7, MC: "extended GET CHALLENGE" → 6985).
func (c *Card) getChallenge(cmd apdu.Command) []byte {
	if cmd.Extended {
		return sw(apdu.SWConditionsOfUse)
	}
	if cmd.Le == 0 || cmd.Le > maxChallenge || len(cmd.Data) > 0 {
		return sw(apdu.SWWrongLength)
	}
	c.challenge = make([]byte, cmd.Le)
	_, _ = rand.Read(c.challenge)
	return data(c.challenge)
}

// externalAuthenticate checks the central system's cryptogram over the
// last challenge and grants one operation (docs/CARD-COMMANDS.md §2).
func (c *Card) externalAuthenticate(cmd apdu.Command) []byte {
	if c.challenge == nil {
		return sw(apdu.SWConditionsOfUse)
	}
	chal := c.challenge
	c.challenge = nil // one try per challenge
	g, mac, ok := card.ParseCryptogram(cmd.Data)
	if !ok {
		return sw(apdu.SWWrongLength)
	}
	want := card.CryptogramMAC(c.st.MgmtKey, c.st.Serial, chal, g)
	if subtle.ConstantTimeCompare(mac, want) != 1 {
		c.grant = nil
		return sw(apdu.SWVerifyFailNoCount)
	}
	c.grant = &g
	return sw(apdu.SWOK)
}

// generateKey: GENERATE ASYMMETRIC KEY PAIR 00 46 00 80|SFI with an
// OpGenerateKey grant; answers the public key as 7F49 (ISO/IEC 7816-8):
// RSA { 81 modulus, 82 exponent }, EC { 86 uncompressed point }.
func (c *Card) generateKey(cmd apdu.Command) []byte {
	if c.df == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	ref, ok := c.keyRef(cmd.P2)
	if !ok || cmd.P1 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	key, ok := c.df.Keys[ref]
	if !ok {
		return sw(apdu.SWReferenceNotFound)
	}
	if !c.takeGrant(card.OpGenerateKey, ref, nil) {
		return sw(apdu.SWSecurityStatus)
	}
	der, pub, err := newKey(key.Alg)
	if err != nil {
		c.log.Error("virtual card: key generation", "err", err)
		return sw(apdu.SWConditionsOfUse)
	}
	key.PKCS8 = der
	c.persist()
	return data(pub)
}

// newKey makes a key pair of alg and returns its PKCS#8 and the 7F49
// public-key template.
func newKey(alg string) ([]byte, []byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return der, PublicKeyTemplate(priv.Public()), nil
}

// PublicKeyTemplate encodes a public key as the card returns it (7F49).
func PublicKeyTemplate(pub crypto.PublicKey) []byte {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		return tlv.Encode(0x7F49, append(tlv.Encode(0x81, k.N.Bytes()), tlv.Encode(0x82, e)...))
	case *ecdsa.PublicKey:
		pt, _ := k.ECDH()
		return tlv.Encode(0x7F49, tlv.Encode(0x86, pt.Bytes()))
	}
	return nil
}

// updateBinary writes an EF under an OpWriteCert or OpWriteText grant.
// Chunks are chained (CLA 10 on all but the last); the last chunk commits
// the whole content only if its SHA-256 is the granted digest, so a card
// pulled mid-write keeps the old content (docs/CARD-COMMANDS.md §6).
func (c *Card) updateBinary(cmd apdu.Command) []byte {
	if c.df == nil {
		return sw(apdu.SWNoCurrentEF)
	}
	fid, off, status := c.efAddress(cmd)
	if status != apdu.SWOK {
		return sw(status)
	}
	if _, ok := c.df.Files[fid]; !ok {
		return sw(apdu.SWFileNotFound)
	}
	g := c.grant
	if g == nil || (g.Op != card.OpWriteCert && g.Op != card.OpWriteText) || g.Ref != fid {
		return sw(apdu.SWSecurityStatus)
	}
	if off != len(c.staging) {
		c.staging = nil
		return sw(apdu.SWWrongP1P2) // chunks must follow each other
	}
	if len(c.staging)+len(cmd.Data) > 32768 {
		c.staging = nil
		return sw(apdu.SWNotEnoughMemory)
	}
	c.staging = append(c.staging, cmd.Data...)
	if cmd.CLA&claChainingBit != 0 {
		return sw(apdu.SWOK)
	}
	content := c.staging
	c.staging = nil
	sum := sha256.Sum256(content)
	if !c.takeGrant(g.Op, fid, &sum) {
		return sw(apdu.SWWrongData)
	}
	c.df.Files[fid] = content
	c.persist()
	return sw(apdu.SWOK)
}

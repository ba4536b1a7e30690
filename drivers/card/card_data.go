package card

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"madoguchi/app/secret"
	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/card/tlv"
)

// AuthCertificate reads the user-authentication certificate (EF 000A,
// free on a card, ref §6.1).
func (c *Card) AuthCertificate(ctx context.Context) (*x509.Certificate, error) {
	return c.certificate(ctx, EFAuthCert)
}

// SignCertificate reads the signature certificate (EF 0001). The
// signature password must have been verified in this session, otherwise
// the card answers 6982 and this returns ErrSecurityStatus (ref §6.1).
func (c *Card) SignCertificate(ctx context.Context) (*x509.Certificate, error) {
	return c.certificate(ctx, EFSignCert)
}

// CACertificates reads the authentication and signature CA certificates.
func (c *Card) CACertificates(ctx context.Context) (auth, sign *x509.Certificate, err error) {
	if auth, err = c.certificate(ctx, EFAuthCACert); err != nil {
		return nil, nil, err
	}
	if sign, err = c.certificate(ctx, EFSignCACert); err != nil {
		return nil, nil, err
	}
	return auth, sign, nil
}

func (c *Card) certificate(ctx context.Context, fid uint16) (*x509.Certificate, error) {
	der, err := c.readTLVFile(ctx, c.prof.JPKI, fid)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate %04X: %w: %v", fid, ErrMalformed, err)
	}
	return cert, nil
}

// Availability says which certificates the card holds (EF 0008, ref §6.1:
// 8F 8F 00 both, 00 8F 00 no signature certificate).
type Availability struct{ Auth, Sign bool }

// CertAvailability reads EF 0008.
func (c *Card) CertAvailability(ctx context.Context) (Availability, error) {
	b, err := c.readRaw(ctx, c.prof.JPKI, EFCertAvailability, 3)
	if err != nil {
		return Availability{}, err
	}
	return ParseAvailability(b)
}

// ParseAvailability decodes EF 0008.
func ParseAvailability(b []byte) (Availability, error) {
	if len(b) < 2 {
		return Availability{}, fmt.Errorf("certificate availability: %w: %d bytes", ErrMalformed, len(b))
	}
	return Availability{Sign: b[0] == 0x8F, Auth: b[1] == 0x8F}, nil
}

// CheckChain verifies cert against a known CA certificate at time t
// (signature, validity of both, CA flag).
func CheckChain(cert, ca *x509.Certificate, t time.Time) error {
	if !ca.IsCA {
		return fmt.Errorf("chain: %q is not a CA", ca.Subject)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("chain: %w", err)
	}
	for _, x := range []*x509.Certificate{cert, ca} {
		if t.Before(x.NotBefore) || t.After(x.NotAfter) {
			return fmt.Errorf("chain: %q not valid at %s (%s – %s)", x.Subject, t.Format(time.RFC3339), x.NotBefore.Format(time.RFC3339), x.NotAfter.Format(time.RFC3339))
		}
	}
	return nil
}

// BasicFour is the basic four items (基本4情報) of the input-assist data.
type BasicFour struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	BirthDate string `json:"birthDate"` // YYYYMMDD, Gregorian
	Sex       string `json:"sex"`       // "1" male, "2" female, "9" not applicable (ISO 5218)
}

// ParseBasicFour decodes EF 0002 (ref §8.2), filler and long-form lengths
// included.
func ParseBasicFour(b []byte) (BasicFour, error) {
	outer, err := tlv.First(b, 0xFF20)
	if err != nil {
		return BasicFour{}, fmt.Errorf("basic four: %w", err)
	}
	kids, err := outer.Children()
	if err != nil {
		return BasicFour{}, fmt.Errorf("basic four: %w", err)
	}
	get := func(t tlv.Tag) (string, error) {
		o, ok := kids[t]
		if !ok {
			return "", fmt.Errorf("basic four: %w: no %s", ErrMalformed, t)
		}
		return string(o.Value), nil
	}
	var bf BasicFour
	for _, f := range []struct {
		t   tlv.Tag
		dst *string
	}{{0xDF22, &bf.Name}, {0xDF23, &bf.Address}, {0xDF24, &bf.BirthDate}, {0xDF25, &bf.Sex}} {
		if *f.dst, err = get(f.t); err != nil {
			return BasicFour{}, err
		}
	}
	return bf, nil
}

// BasicFour reads the basic four items. One of the profile's
// InputAssistPINs must have been verified in this session.
func (c *Card) BasicFour(ctx context.Context) (BasicFour, error) {
	b, err := c.readTLVFile(ctx, c.prof.InputAssist, c.prof.BasicFourEF)
	if err != nil {
		return BasicFour{}, err
	}
	return ParseBasicFour(b)
}

// myNumberEFSize is EF 0001's physical size: FF 10 0C, 12 digits, FF FF
// (ref §8.2; MYNA-GO reads exactly 17 bytes).
const myNumberEFSize = 17

// ParseMyNumber decodes EF 0001 into the 12-digit individual number.
func ParseMyNumber(b []byte) (secret.Value, error) {
	o, err := tlv.First(b, 0xFF10)
	if err != nil {
		return secret.Value{}, fmt.Errorf("individual number: %w", err)
	}
	if len(o.Value) != 12 || !allDigits(o.Value) {
		return secret.Value{}, fmt.Errorf("individual number: %w: not 12 digits", ErrMalformed)
	}
	return secret.FromBytes(secret.KindIndividualNumber, o.Value), nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// CheckDigitOK reports whether a 12-digit individual number has the right
// check digit (総務省令第85号 第5条; ref §11): weights 6 5 4 3 2 7 6 5 4 3 2
// over the first 11 digits from the left, check = 11 − (Σ mod 11), or 0
// when Σ mod 11 ≤ 1.
func CheckDigitOK(v secret.Value) bool {
	ok := false
	_ = v.Reveal(func(b []byte) error {
		if len(b) != 12 || !allDigits(b) {
			return nil
		}
		weights := [11]int{6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2}
		sum := 0
		for i, w := range weights {
			sum += int(b[i]-'0') * w
		}
		check := 0
		if r := sum % 11; r > 1 {
			check = 11 - r
		}
		ok = int(b[11]-'0') == check
		return nil
	})
	return ok
}

// MyNumber reads the individual number. It is specific personal
// information: call it only when the procedure needs it. One of the
// InputAssistPINs (or 照合番号A) must have been verified.
func (c *Card) MyNumber(ctx context.Context) (secret.Value, error) {
	b, err := c.readRaw(ctx, c.prof.InputAssist, c.prof.MyNumberEF, myNumberEFSize)
	if err != nil {
		return secret.Value{}, err
	}
	return ParseMyNumber(b)
}

// Face is the card-face data (券面事項確認AP EF 0002, ref §9).
type Face struct {
	BirthDate    string `json:"birthDate"`
	Sex          string `json:"sex"`
	Expiry       string `json:"expiry"` // YYYYMMDD
	Photo        []byte `json:"-"`      // JPEG 2000, as stored
	NameImage    []byte `json:"-"`      // PNG
	AddressImage []byte `json:"-"`      // PNG
}

// ParseFace decodes the card-face EF.
func ParseFace(b []byte) (Face, error) {
	outer, err := tlv.First(b, 0xFF20)
	if err != nil {
		return Face{}, fmt.Errorf("card face: %w", err)
	}
	kids, err := outer.Children()
	if err != nil {
		return Face{}, fmt.Errorf("card face: %w", err)
	}
	photo, ok := kids[0xDF27]
	if !ok {
		return Face{}, fmt.Errorf("card face: %w: no photo", ErrMalformed)
	}
	return Face{
		BirthDate: string(kids[0xDF22].Value), Sex: string(kids[0xDF23].Value), Expiry: string(kids[0xDF29].Value),
		Photo: photo.Value, NameImage: kids[0xDF25].Value, AddressImage: kids[0xDF26].Value,
	}, nil
}

// Face reads the card-face data after verifying the 照合番号: on the
// current card the individual number (照合番号A, 12 digits) or the
// printed 照合番号B (14 digits: birth date in the Japanese era, expiry
// year, security code — what a clerk reads off the card); on the next
// generation the printed 6-digit number.
func (c *Card) Face(ctx context.Context, check secret.Value) (Face, error) {
	ref := c.prof.FaceCheckRef
	if c.prof.Name == Current.Name && check.Len() == 14 {
		ref = KeyRefFaceCheckB
	}
	if err := c.verifyRef(ctx, "face-check", c.prof.Face, ref, check); err != nil {
		return Face{}, err
	}
	b, err := c.readTLVFile(ctx, c.prof.Face, EFFace)
	if err != nil {
		return Face{}, err
	}
	return ParseFace(b)
}

// IssuerKey is a trusted key that certifies input-assist data keys (the
// CV root, identified by its 16-byte key ID).
type IssuerKey struct {
	ID  [16]byte
	Key *rsa.PublicKey
}

// ErrIntegrity: the input-assist data does not match its issuer signature.
var ErrIntegrity = errors.New("card: input-assist data fails its issuer signature")

// VerifyInputAssist checks the basic four items (and the individual number
// when it has been read in this session) against the integrity record
// (EF 0003) and its signer's card-verifiable certificate (EF 0004), which
// must chain to one of trusted (ref §8.2). Needs an input-assist PIN.
func (c *Card) VerifyInputAssist(ctx context.Context, trusted []IssuerKey) error {
	aid := c.prof.InputAssist
	rec, err := c.readTLVFile(ctx, aid, c.prof.IntegrityEF)
	if err != nil {
		return err
	}
	cv, err := c.readTLVFile(ctx, aid, c.prof.CVCertEF)
	if err != nil {
		return err
	}
	bf, err := c.readTLVFile(ctx, aid, c.prof.BasicFourEF)
	if err != nil {
		return err
	}
	mn := c.cache[cacheKey(aid, c.prof.MyNumberEF)+fmt.Sprintf("/raw%d", myNumberEFSize)]
	return CheckIntegrity(rec, cv, bf, mn, trusted)
}

// CheckIntegrity verifies an integrity record; myNumberEF may be nil
// (then only the basic four items are checked).
func CheckIntegrity(record, cvCert, basicFourEF, myNumberEF []byte, trusted []IssuerKey) error {
	signer, err := checkCV(cvCert, trusted)
	if err != nil {
		return err
	}
	outer, err := tlv.First(record, 0xFF30)
	if err != nil {
		return fmt.Errorf("integrity record: %w", err)
	}
	kids, err := outer.Children()
	if err != nil {
		return fmt.Errorf("integrity record: %w", err)
	}
	d31, ok1 := kids[0xDF31]
	d32, ok2 := kids[0xDF32]
	d33, ok3 := kids[0xDF33]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("integrity record: %w: missing DF31/DF32/DF33", ErrMalformed)
	}
	signed := append(append([]byte{}, d31.Raw...), d32.Raw...)
	h := sha256.Sum256(signed)
	if err := rsa.VerifyPKCS1v15(signer, crypto.SHA256, h[:], d33.Value); err != nil {
		return fmt.Errorf("%w: record signature", ErrIntegrity)
	}
	part, err := basicFourSignedPart(basicFourEF)
	if err != nil {
		return err
	}
	if got := sha256.Sum256(part); subtle.ConstantTimeCompare(got[:], d32.Value) != 1 {
		return fmt.Errorf("%w: basic four items changed", ErrIntegrity)
	}
	if myNumberEF != nil {
		if got := sha256.Sum256(myNumberEF); subtle.ConstantTimeCompare(got[:], d31.Value) != 1 {
			return fmt.Errorf("%w: individual number changed", ErrIntegrity)
		}
	}
	return nil
}

func basicFourSignedPart(ef []byte) ([]byte, error) {
	outer, err := tlv.First(ef, 0xFF20)
	if err != nil {
		return nil, fmt.Errorf("basic four: %w", err)
	}
	first, err := tlv.First(outer.Value, 0xDF21)
	if err != nil {
		return nil, fmt.Errorf("basic four: %w", err)
	}
	return outer.Value[len(first.Raw):], nil
}

// checkCV verifies a card-verifiable certificate 7F21 { 5F4E body, 5F37
// signature } against trusted keys and returns the certified key.
func checkCV(b []byte, trusted []IssuerKey) (*rsa.PublicKey, error) {
	outer, err := tlv.First(b, 0x7F21)
	if err != nil {
		return nil, fmt.Errorf("CV certificate: %w", err)
	}
	kids, err := outer.Children()
	if err != nil {
		return nil, fmt.Errorf("CV certificate: %w", err)
	}
	body, ok1 := kids[0x5F4E]
	sig, ok2 := kids[0x5F37]
	if !ok1 || !ok2 || len(body.Value) < 32 {
		return nil, fmt.Errorf("CV certificate: %w", ErrMalformed)
	}
	var issuer [16]byte
	copy(issuer[:], body.Value[:16])
	var root *rsa.PublicKey
	for _, t := range trusted {
		if t.ID == issuer {
			root = t.Key
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: issuer key %q is not trusted", ErrIntegrity, issuer[:7])
	}
	h := sha256.Sum256(body.Raw)
	if err := rsa.VerifyPKCS1v15(root, crypto.SHA256, h[:], sig.Value); err != nil {
		return nil, fmt.Errorf("%w: CV certificate signature", ErrIntegrity)
	}
	return parseCardRSAKey(body.Value[32:])
}

// parseCardRSAKey decodes 90 <exponent> 91 <modulus> (ref §5).
func parseCardRSAKey(b []byte) (*rsa.PublicKey, error) {
	objs, err := tlv.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	var e, n []byte
	for _, o := range objs {
		switch o.Tag {
		case 0x90:
			e = o.Value
		case 0x91:
			n = o.Value
		}
	}
	if len(e) == 0 || len(e) > 4 || len(n) < 128 {
		return nil, fmt.Errorf("public key: %w", ErrMalformed)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
}

// digestInfoPrefix maps hashes to their DER DigestInfo prefixes (PKCS #1
// v2.2 §9.2 note 1; MYNA-GO common.go digestInfoPrefix).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// Sign signs a digest with the authentication (PINAuth) or signature
// (PINSign) key; that PIN must have been verified. RSA cards get a
// DigestInfo with P1 00, so the result is a standard PKCS#1 v1.5 signature
// (ref §6.3); next-generation cards sign the digest with ECDSA and answer
// r||s, which Sign returns as ASN.1 DER like crypto/ecdsa.
func (c *Card) Sign(ctx context.Context, key PINKind, digest []byte, h crypto.Hash) ([]byte, error) {
	ref := KeyAuth
	switch key {
	case PINAuth:
	case PINSign:
		ref = KeySign
	default:
		return nil, fmt.Errorf("sign: no key for %s", key)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("sign: digest of %d bytes for %v", len(digest), h)
	}
	data := digest
	if c.prof.Keys == RSA2048 {
		prefix, ok := digestInfoPrefix[h]
		if !ok {
			return nil, fmt.Errorf("sign: hash %v not supported", h)
		}
		data = append(append([]byte{}, prefix...), digest...)
	}
	if err := c.selectDF(ctx, c.prof.JPKI); err != nil {
		return nil, err
	}
	r, err := c.transmit(ctx, "COMPUTE DIGITAL SIGNATURE", apdu.Command{CLA: claProprietary, INS: insSign, P1: 0x00, P2: sfi | byte(ref), Data: data, Le: 256}, false)
	if err != nil {
		return nil, err
	}
	if err := statusErr("COMPUTE DIGITAL SIGNATURE", r.SW); err != nil {
		return nil, err
	}
	if c.prof.Keys == ECDSAP384 {
		if len(r.Data) != 96 {
			return nil, fmt.Errorf("sign: %w: %d-byte ECDSA signature", ErrMalformed, len(r.Data))
		}
		return ecdsaDER(r.Data[:48], r.Data[48:])
	}
	return r.Data, nil
}

func ecdsaDER(r, s []byte) ([]byte, error) {
	return marshalECDSA(new(big.Int).SetBytes(r), new(big.Int).SetBytes(s))
}

// VerifySignature checks a signature made by Sign against a certificate.
func VerifySignature(cert *x509.Certificate, digest []byte, h crypto.Hash, sig []byte) error {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ecdsa: verification error")
		}
		return nil
	}
	return fmt.Errorf("unsupported key %T", cert.PublicKey)
}

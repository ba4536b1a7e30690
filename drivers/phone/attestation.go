package phone

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"madoguchi/drivers/card/tlv"
)

// Attestation is GENERATE KEY's answer: the secure element's statement,
// signed with its vendor-certified attestation key, that it generated the
// key PublicKey in answer to Challenge, inside the named secure element
// and wallet app. Wire form (docs/PHONE-COMMANDS.md §3.3):
//
//	7F50 { 80 SE name, 81 app name, 82 app version, 83 SPKI (DER),
//	       84 challenge, 85 key id, 86 attestation certificate (DER),
//	       8F signature }
//
// The objects appear exactly once each, in this order. 8F is the
// attestation key's ECDSA P-256 signature, ASN.1 DER (SEQUENCE { r, s }),
// over SHA-256 of the bytes from the first byte of 80 up to but excluding
// the tag of 8F: the raw TLVs 80 to 86 concatenated, as received.
//
// The central system uses this type: ParseAttestation, then Verify (or
// VerifyChallenge) against its approved vendors' roots, then checks
// SecureElement and App against its allow-list.
type Attestation struct {
	SecureElement string
	App           string
	AppVersion    string
	SPKI          []byte // SubjectPublicKeyInfo of the new key, DER
	PublicKey     *ecdsa.PublicKey
	Challenge     []byte
	KeyID         []byte // 8 bytes: the key's reference for SIGN and PUT CREDENTIAL
	Certificate   *x509.Certificate
	Signature     []byte
	// Raw is the whole 7F50 object; Signed the bytes the signature covers.
	Raw, Signed []byte
}

// AttestationBody builds the signed part of an attestation: the TLVs 80 to
// 86 concatenated (for the virtual phone and tests).
func AttestationBody(se, app, version string, spki, challenge, keyID, certDER []byte) []byte {
	var b []byte
	b = append(b, tlv.Encode(TagSEName, []byte(se))...)
	b = append(b, tlv.Encode(TagAppName, []byte(app))...)
	b = append(b, tlv.Encode(TagAppVersion, []byte(version))...)
	b = append(b, tlv.Encode(TagSPKI, spki)...)
	b = append(b, tlv.Encode(TagChallenge, challenge)...)
	b = append(b, tlv.Encode(TagKeyID, keyID)...)
	b = append(b, tlv.Encode(TagAttestCert, certDER)...)
	return b
}

// EncodeAttestation wraps the signed body and its signature in 7F50.
func EncodeAttestation(body, sig []byte) []byte {
	v := append(slices.Clone(body), tlv.Encode(TagAttestSig, sig)...)
	return tlv.Encode(TagAttestation, v)
}

var attestationOrder = []tlv.Tag{TagSEName, TagAppName, TagAppVersion, TagSPKI, TagChallenge, TagKeyID, TagAttestCert, TagAttestSig}

// maxNameLen bounds the name strings (80, 81, 82; model and OS).
const maxNameLen = 128

// ParseAttestation decodes a GENERATE KEY answer. It checks the form
// (every object once, in order, nothing after; a P-256 SPKI; challenge
// and key-id lengths; a parseable certificate), not the signature or the
// trust: call Verify for those.
func ParseAttestation(b []byte) (Attestation, error) {
	bad := func(format string, args ...any) (Attestation, error) {
		return Attestation{}, fmt.Errorf("%w: "+format, append([]any{ErrAttestationFormat}, args...)...)
	}
	outer, err := tlv.First(b, TagAttestation)
	if err != nil {
		return bad("%v", err)
	}
	if len(outer.Raw) != len(b) {
		return bad("%d bytes after 7F50", len(b)-len(outer.Raw))
	}
	objs, err := parseExact(outer.Value)
	if err != nil {
		return bad("%v", err)
	}
	if len(objs) != len(attestationOrder) {
		return bad("%d objects, want %d", len(objs), len(attestationOrder))
	}
	for i, o := range objs {
		if o.Tag != attestationOrder[i] {
			return bad("object %d is %s, want %s", i+1, o.Tag, attestationOrder[i])
		}
	}
	a := Attestation{Raw: slices.Clone(outer.Raw)}
	signedLen := len(outer.Value) - len(objs[7].Raw)
	a.Signed = slices.Clone(outer.Value[:signedLen])
	for i, s := range []*string{&a.SecureElement, &a.App, &a.AppVersion} {
		if *s, err = text(objs[i].Value); err != nil {
			return bad("%s: %v", objs[i].Tag, err)
		}
	}
	a.SPKI = slices.Clone(objs[3].Value)
	if a.PublicKey, err = parseP256(a.SPKI); err != nil {
		return bad("83: %v", err)
	}
	a.Challenge = slices.Clone(objs[4].Value)
	if len(a.Challenge) < MinChallenge || len(a.Challenge) > MaxChallenge {
		return bad("challenge of %d bytes, want %d to %d", len(a.Challenge), MinChallenge, MaxChallenge)
	}
	a.KeyID = slices.Clone(objs[5].Value)
	if len(a.KeyID) != KeyIDLen {
		return bad("key id of %d bytes, want %d", len(a.KeyID), KeyIDLen)
	}
	if a.Certificate, err = x509.ParseCertificate(objs[6].Value); err != nil {
		return bad("86: %v", err)
	}
	a.Signature = slices.Clone(objs[7].Value)
	if len(a.Signature) == 0 || len(a.Signature) > 80 {
		return bad("signature of %d bytes", len(a.Signature))
	}
	return a, nil
}

// parseExact reads consecutive objects and refuses anything left over
// (tlv.Parse would skip trailing filler, which a signed structure must
// not have).
func parseExact(b []byte) ([]tlv.Object, error) {
	objs, err := tlv.Parse(b)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, o := range objs {
		n += len(o.Raw)
	}
	if n != len(b) {
		return nil, fmt.Errorf("%d bytes of filler after the objects", len(b)-n)
	}
	return objs, nil
}

func text(b []byte) (string, error) {
	if len(b) > maxNameLen {
		return "", fmt.Errorf("%d bytes, at most %d", len(b), maxNameLen)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("not UTF-8")
	}
	return string(b), nil
}

func parseP256(spki []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("not an ECDSA P-256 key")
	}
	return pub, nil
}

// Verify checks that the signature verifies with the attestation
// certificate's key (ErrAttestationSignature) and that the certificate
// chains to one of roots, the approved vendors' root certificates, at the
// current time (ErrAttestationUntrusted). roots must not be nil: a nil
// pool would mean the system's web roots, which approve no secure
// element. Verify does not compare the challenge: use VerifyChallenge,
// or compare Challenge yourself.
func (a Attestation) Verify(roots *x509.CertPool) error {
	return a.verifyAt(roots, time.Now())
}

// VerifyChallenge is Verify and a constant-time comparison of the
// attested challenge with the one the central system sent
// (ErrAttestationChallenge).
func (a Attestation) VerifyChallenge(roots *x509.CertPool, challenge []byte) error {
	if err := a.Verify(roots); err != nil {
		return err
	}
	if len(challenge) == 0 || subtle.ConstantTimeCompare(a.Challenge, challenge) != 1 {
		return ErrAttestationChallenge
	}
	return nil
}

func (a Attestation) verifyAt(roots *x509.CertPool, now time.Time) error {
	if a.Certificate == nil || a.PublicKey == nil {
		return fmt.Errorf("%w: incomplete", ErrAttestationFormat)
	}
	signed := a.Signed
	if signed == nil {
		signed = AttestationBody(a.SecureElement, a.App, a.AppVersion, a.SPKI, a.Challenge, a.KeyID, a.Certificate.Raw)
	}
	// The fields a caller reads must be the ones that were signed.
	if err := sameFields(signed, a); err != nil {
		return err
	}
	attKey, ok := a.Certificate.PublicKey.(*ecdsa.PublicKey)
	if !ok || attKey.Curve != elliptic.P256() {
		return fmt.Errorf("%w: the attestation certificate's key is not ECDSA P-256", ErrAttestationSignature)
	}
	if a.Certificate.KeyUsage != 0 && a.Certificate.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: the attestation certificate does not allow signatures", ErrAttestationUntrusted)
	}
	h := sha256.Sum256(signed)
	if !ecdsa.VerifyASN1(attKey, h[:], a.Signature) {
		return ErrAttestationSignature
	}
	if roots == nil {
		return fmt.Errorf("%w: no vendor roots given", ErrAttestationUntrusted)
	}
	if _, err := a.Certificate.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %v", ErrAttestationUntrusted, err)
	}
	return nil
}

// sameFields checks that the signed bytes (as received, possibly with
// non-minimal lengths) carry the values of a's fields, and that PublicKey
// is the key in SPKI.
func sameFields(signed []byte, a Attestation) error {
	objs, err := parseExact(signed)
	if err != nil || len(objs) != len(attestationOrder)-1 {
		return fmt.Errorf("%w: signed part", ErrAttestationFormat)
	}
	want := [][]byte{[]byte(a.SecureElement), []byte(a.App), []byte(a.AppVersion), a.SPKI, a.Challenge, a.KeyID, a.Certificate.Raw}
	for i, o := range objs {
		if o.Tag != attestationOrder[i] || !bytes.Equal(o.Value, want[i]) {
			return fmt.Errorf("%w: %s differs from the signed bytes", ErrAttestationSignature, attestationOrder[i])
		}
	}
	pub, err := parseP256(a.SPKI)
	if err != nil || !pub.Equal(a.PublicKey) {
		return fmt.Errorf("%w: the public key differs from the signed SPKI", ErrAttestationSignature)
	}
	return nil
}

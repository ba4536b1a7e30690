package mdoc

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Verified is what Verify established.
type Verified struct {
	DocType string
	// Elements are the disclosed elements whose digests verified, by
	// namespace and element identifier. Values are decoded CBOR: string,
	// []byte, bool, uint64, FullDate, or maps and slices of those.
	Elements map[string]map[string]any
	// DeviceKey is the key the mdoc is bound to (from the MSO).
	DeviceKey *ecdsa.PublicKey
	// Signed, ValidFrom and ValidUntil are the MSO's validity.
	Signed, ValidFrom, ValidUntil time.Time
	// Signer is the document signer's certificate; Chain the verified
	// chain from it to the IACA root.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
}

// Names lists the verified elements as "namespace/identifier", sorted.
func (v Verified) Names() []string {
	var out []string
	for ns, els := range v.Elements {
		for name := range els {
			out = append(out, ns+"/"+name)
		}
	}
	sort.Strings(out)
	return out
}

// Element returns a verified element's value by identifier, in whichever
// namespace it is.
func (v Verified) Element(name string) (any, bool) {
	for _, els := range v.Elements {
		if val, ok := els[name]; ok {
			return val, true
		}
	}
	return nil, false
}

// Verify checks an IssuerSigned structure at time now: the COSE_Sign1
// signature with the document signer's certificate from x5chain; that
// certificate's chain to one of roots (the IACA certificates) at now, and
// its document-signer extended key usage; the MSO's version, digest
// algorithm and validity (signed within the signer certificate's
// validity, validFrom ≤ now ≤ validUntil); and the digest of every item
// present — which may be any subset of the items issued (selective
// disclosure). An element whose digest is not in the MSO, or differs,
// fails the whole verification.
func Verify(issuerSignedBytes []byte, roots *x509.CertPool, now time.Time) (Verified, error) {
	var v Verified
	is, msg, err := decodeIssuerSigned(issuerSignedBytes)
	if err != nil {
		return v, err
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return v, fmt.Errorf("%w: issuerAuth algorithm: %v", ErrMalformed, err)
	}
	chainDER, err := x5chain(msg.Headers)
	if err != nil {
		return v, err
	}
	certs, err := certsFromDER(chainDER)
	if err != nil {
		return v, fmt.Errorf("%w: x5chain: %v", ErrMalformed, err)
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrChain, err)
	}
	if !hasEKU(leaf) {
		return v, fmt.Errorf("%w: the certificate is not a document signer (extended key usage %v)", ErrChain, OIDDocumentSigner)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return v, fmt.Errorf("%w: the certificate's key usage excludes digital signatures", ErrChain)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return v, fmt.Errorf("%w: the document signer's key is not ECDSA", ErrSignature)
	}
	if want, err := algorithmFor(pub.Curve); err != nil || want != alg {
		return v, fmt.Errorf("%w: algorithm %v does not fit the signer's key", ErrSignature, alg)
	}
	verifier, err := cose.NewVerifier(alg, pub)
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if err := msg.Verify(nil, verifier); err != nil {
		return v, fmt.Errorf("%w: %v", ErrSignature, err)
	}

	mso, err := decodeMSO(msg)
	if err != nil {
		return v, err
	}
	if mso.Version != MSOVersion {
		return v, fmt.Errorf("%w: MSO version %q", ErrMalformed, mso.Version)
	}
	if mso.DigestAlgorithm != DigestAlgorithm {
		return v, fmt.Errorf("%w: digest algorithm %q (want %s)", ErrMalformed, mso.DigestAlgorithm, DigestAlgorithm)
	}
	v.DocType = mso.DocType
	v.Signed, v.ValidFrom, v.ValidUntil = time.Time(mso.ValidityInfo.Signed), time.Time(mso.ValidityInfo.ValidFrom), time.Time(mso.ValidityInfo.ValidUntil)
	switch {
	case v.Signed.Before(leaf.NotBefore) || v.Signed.After(leaf.NotAfter):
		return v, fmt.Errorf("%w: signed %s outside the document signer's validity", ErrValidity, v.Signed.Format(time.RFC3339))
	case v.ValidFrom.Before(v.Signed):
		return v, fmt.Errorf("%w: validFrom before signed", ErrValidity)
	case now.Before(v.ValidFrom):
		return v, fmt.Errorf("%w: valid from %s", ErrValidity, v.ValidFrom.Format(time.RFC3339))
	case now.After(v.ValidUntil):
		return v, fmt.Errorf("%w: expired %s", ErrValidity, v.ValidUntil.Format(time.RFC3339))
	}
	if v.DeviceKey, err = deviceKeyOf(mso); err != nil {
		return v, err
	}

	v.Elements = map[string]map[string]any{}
	for ns, items := range is.NameSpaces {
		digests := mso.ValueDigests[ns]
		seen := map[uint64]bool{}
		for _, raw := range items {
			sum := sha256.Sum256(raw)
			it, err := decodeItem(raw)
			if err != nil {
				return v, err
			}
			want, ok := digests[it.DigestID]
			if !ok {
				return v, fmt.Errorf("%w: %s/%s: digest ID %d not in the MSO", ErrDigest, ns, it.ElementIdentifier, it.DigestID)
			}
			if subtle.ConstantTimeCompare(want, sum[:]) != 1 {
				return v, fmt.Errorf("%w: %s/%s", ErrDigest, ns, it.ElementIdentifier)
			}
			if seen[it.DigestID] {
				return v, fmt.Errorf("%w: %s: digest ID %d twice", ErrMalformed, ns, it.DigestID)
			}
			seen[it.DigestID] = true
			var val any
			if err := decMode.Unmarshal(it.ElementValue, &val); err != nil {
				return v, fmt.Errorf("%w: %s/%s: %v", ErrMalformed, ns, it.ElementIdentifier, err)
			}
			if v.Elements[ns] == nil {
				v.Elements[ns] = map[string]any{}
			}
			if _, dup := v.Elements[ns][it.ElementIdentifier]; dup {
				return v, fmt.Errorf("%w: %s/%s twice", ErrMalformed, ns, it.ElementIdentifier)
			}
			v.Elements[ns][it.ElementIdentifier] = val
		}
	}
	v.Signer, v.Chain = leaf, chains[0]
	return v, nil
}

// Disclose keeps only the items whose element identifier is in names (in
// any namespace) and drops the others, leaving issuerAuth and the kept
// items byte for byte as they were: the result verifies as the original
// did, and shows only what the verifier asked for. A name the mdoc does
// not hold is ErrNotPresent.
func Disclose(issuerSignedBytes []byte, names []string) ([]byte, error) {
	var is issuerSigned
	if err := decMode.Unmarshal(issuerSignedBytes, &is); err != nil {
		return nil, fmt.Errorf("%w: IssuerSigned: %v", ErrMalformed, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = false
	}
	out := issuerSigned{NameSpaces: map[string][]cbor.RawMessage{}, IssuerAuth: is.IssuerAuth}
	for ns, items := range is.NameSpaces {
		for _, raw := range items {
			it, err := decodeItem(raw)
			if err != nil {
				return nil, err
			}
			if _, ok := want[it.ElementIdentifier]; ok {
				want[it.ElementIdentifier] = true
				out.NameSpaces[ns] = append(out.NameSpaces[ns], raw)
			}
		}
	}
	var missing []string
	for n, found := range want {
		if !found {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: %v", ErrNotPresent, missing)
	}
	if len(out.NameSpaces) == 0 {
		out.NameSpaces = nil
	}
	return encMode.Marshal(out)
}

// parseSign1 reads issuerAuth, untagged (ISO 18013-5) or tagged (18).
func parseSign1(raw []byte) (*cose.Sign1Message, error) {
	var u cose.UntaggedSign1Message
	if err := u.UnmarshalCBOR(raw); err == nil {
		return (*cose.Sign1Message)(&u), nil
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(raw); err != nil {
		return nil, fmt.Errorf("%w: issuerAuth is not a COSE_Sign1: %v", ErrMalformed, err)
	}
	return &m, nil
}

// x5chain reads the certificate chain, leaf first: a bstr for one
// certificate, an array of bstr for several (RFC 9360). ISO 18013-5 puts
// it in the unprotected header; the protected one is read too.
func x5chain(h cose.Headers) ([][]byte, error) {
	v, ok := h.Unprotected[cose.HeaderLabelX5Chain]
	if !ok {
		v, ok = h.Protected[cose.HeaderLabelX5Chain]
	}
	if !ok {
		return nil, fmt.Errorf("%w: no x5chain in issuerAuth", ErrMalformed)
	}
	switch c := v.(type) {
	case []byte:
		return [][]byte{c}, nil
	case []any:
		var out [][]byte
		for _, e := range c {
			b, ok := e.([]byte)
			if !ok {
				return nil, fmt.Errorf("%w: x5chain entry is not a byte string", ErrMalformed)
			}
			out = append(out, b)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: x5chain is neither a certificate nor a list of them", ErrMalformed)
}

func hasEKU(c *x509.Certificate) bool {
	for _, u := range c.UnknownExtKeyUsage {
		if u.Equal(OIDDocumentSigner) {
			return true
		}
	}
	return false
}

// unwrap24 reads #6.24(bstr) and returns the bytes inside.
func unwrap24(raw []byte) ([]byte, error) {
	var t cbor.RawTag
	if err := decMode.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.Number != TagEncodedCBOR {
		return nil, fmt.Errorf("tag %d, want 24", t.Number)
	}
	var b []byte
	if err := decMode.Unmarshal(t.Content, &b); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeItem(raw []byte) (issuerSignedItem, error) {
	var it issuerSignedItem
	b, err := unwrap24(raw)
	if err != nil {
		return it, fmt.Errorf("%w: IssuerSignedItemBytes: %v", ErrMalformed, err)
	}
	if err := decMode.Unmarshal(b, &it); err != nil {
		return it, fmt.Errorf("%w: IssuerSignedItem: %v", ErrMalformed, err)
	}
	if it.ElementIdentifier == "" || len(it.Random) < 16 || len(it.ElementValue) == 0 {
		return it, fmt.Errorf("%w: IssuerSignedItem incomplete", ErrMalformed)
	}
	return it, nil
}

// deviceKeyOf is the key the MSO binds the mdoc to.
func deviceKeyOf(mso mobileSecurityObject) (*ecdsa.PublicKey, error) {
	var key cose.Key
	if err := key.UnmarshalCBOR(mso.DeviceKeyInfo.DeviceKey); err != nil {
		return nil, fmt.Errorf("%w: device key: %v", ErrMalformed, err)
	}
	dk, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: device key: %v", ErrMalformed, err)
	}
	pub, ok := dk.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: device key is not EC2", ErrMalformed)
	}
	return pub, nil
}

// BoundKey returns the device key an IssuerSigned structure's MSO binds
// it to, without checking the issuer's signature or chain (Verify does):
// for a wallet, which holds the device key but not the issuers' roots, to
// refuse an mdoc made for another key.
func BoundKey(issuerSignedBytes []byte) (*ecdsa.PublicKey, error) {
	_, msg, err := decodeIssuerSigned(issuerSignedBytes)
	if err != nil {
		return nil, err
	}
	mso, err := decodeMSO(msg)
	if err != nil {
		return nil, err
	}
	return deviceKeyOf(mso)
}

// decodeIssuerSigned reads an IssuerSigned structure and its issuerAuth.
func decodeIssuerSigned(b []byte) (issuerSigned, *cose.Sign1Message, error) {
	var is issuerSigned
	if err := decMode.Unmarshal(b, &is); err != nil {
		return is, nil, fmt.Errorf("%w: IssuerSigned: %v", ErrMalformed, err)
	}
	if len(is.IssuerAuth) == 0 {
		return is, nil, fmt.Errorf("%w: no issuerAuth", ErrMalformed)
	}
	msg, err := parseSign1(is.IssuerAuth)
	return is, msg, err
}

// decodeMSO reads the Mobile Security Object issuerAuth carries (tag 24).
func decodeMSO(msg *cose.Sign1Message) (mobileSecurityObject, error) {
	var mso mobileSecurityObject
	msoBytes, err := unwrap24(msg.Payload)
	if err != nil {
		return mso, fmt.Errorf("%w: MSO: %v", ErrMalformed, err)
	}
	if err := decMode.Unmarshal(msoBytes, &mso); err != nil {
		return mso, fmt.Errorf("%w: MSO: %v", ErrMalformed, err)
	}
	return mso, nil
}

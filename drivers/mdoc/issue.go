package mdoc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// IssueInput is what Issue signs.
type IssueInput struct {
	// DocType is the document type, e.g. DocTypeMNC.
	DocType string
	// Namespace and Elements: the elements of one namespace, by element
	// identifier. Values are CBOR-encoded as they are: string (tstr),
	// []byte (bstr), bool, unsigned integers, FullDate (tag 1004).
	Namespace string
	Elements  map[string]any
	// More holds the elements of further namespaces (namespace → element
	// identifier → value); the My Number Card keeps the ISO 23220-2
	// elements (sex, age_over_20, age_in_years, birth_date) in
	// NamespaceISO23220 beside NamespaceJP.
	More map[string]map[string]any
	// DeviceKey is the public key of the key pair in the holder's device
	// the mdoc is bound to (P-256, P-384 or P-521).
	DeviceKey *ecdsa.PublicKey
	// ValidFrom and ValidUntil bound the MSO's validity.
	ValidFrom, ValidUntil time.Time
	// Signed is when the MSO was signed; zero means now. It must fall in
	// the document signer certificate's validity.
	Signed time.Time
	// SignerKey is the document signer's private key (ECDSA: P-256 signs
	// ES256, P-384 ES384, P-521 ES512).
	SignerKey crypto.Signer
	// SignerChain is the document signer's certificate (DER) and any
	// intermediates, leaf first; not the IACA root.
	SignerChain [][]byte
}

// Issue builds and signs an IssuerSigned structure: one
// IssuerSignedItem per element with a random 32-byte salt, digest IDs in
// a random order (they reveal nothing about the elements), the Mobile
// Security Object with the SHA-256 of each item, the device key and the
// validity, wrapped in tag 24 and signed as an untagged COSE_Sign1 with
// the chain in x5chain (ISO 18013-5 §9.1.2.4).
func Issue(in IssueInput) (issuerSignedBytes []byte, err error) {
	if in.DocType == "" {
		return nil, errors.New("mdoc: issue: docType required")
	}
	if in.DeviceKey == nil {
		return nil, errors.New("mdoc: issue: device key required")
	}
	if !in.ValidUntil.After(in.ValidFrom) {
		return nil, errors.New("mdoc: issue: validUntil must be after validFrom")
	}
	if in.SignerKey == nil || len(in.SignerChain) == 0 {
		return nil, errors.New("mdoc: issue: signer key and certificate chain required")
	}
	chain, err := certsFromDER(in.SignerChain)
	if err != nil {
		return nil, fmt.Errorf("mdoc: issue: signer chain: %w", err)
	}
	signerPub, ok := in.SignerKey.Public().(*ecdsa.PublicKey)
	if !ok || !signerPub.Equal(chain[0].PublicKey) {
		return nil, errors.New("mdoc: issue: the signer key is not the ECDSA key of the chain's first certificate")
	}
	alg, err := algorithmFor(signerPub.Curve)
	if err != nil {
		return nil, fmt.Errorf("mdoc: issue: signer key: %w", err)
	}
	deviceKey, err := coseKey(in.DeviceKey)
	if err != nil {
		return nil, fmt.Errorf("mdoc: issue: device key: %w", err)
	}
	signed := in.Signed
	if signed.IsZero() {
		signed = time.Now()
	}
	if in.ValidFrom.Before(signed.Truncate(time.Second)) {
		// validFrom ≥ signed (18013-5 §9.1.2.4): never earlier.
		in.ValidFrom = signed
	}

	spaces := map[string]map[string]any{}
	if in.Namespace != "" || len(in.Elements) > 0 {
		if in.Namespace == "" {
			return nil, errors.New("mdoc: issue: elements without a namespace")
		}
		spaces[in.Namespace] = in.Elements
	}
	for ns, els := range in.More {
		if _, dup := spaces[ns]; dup {
			return nil, fmt.Errorf("mdoc: issue: namespace %s given twice", ns)
		}
		spaces[ns] = els
	}
	type ref struct{ ns, name string }
	var refs []ref
	for ns, els := range spaces {
		for name := range els {
			if name == "" {
				return nil, fmt.Errorf("mdoc: issue: empty element identifier in %s", ns)
			}
			refs = append(refs, ref{ns, name})
		}
	}
	if len(refs) == 0 {
		return nil, errors.New("mdoc: issue: no elements")
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].ns != refs[j].ns {
			return refs[i].ns < refs[j].ns
		}
		return refs[i].name < refs[j].name
	})
	ids, err := shuffledIDs(len(refs))
	if err != nil {
		return nil, err
	}

	out := issuerSigned{NameSpaces: map[string][]cbor.RawMessage{}}
	mso := mobileSecurityObject{
		Version:         MSOVersion,
		DigestAlgorithm: DigestAlgorithm,
		ValueDigests:    map[string]map[uint64][]byte{},
		DeviceKeyInfo:   deviceKeyInfo{DeviceKey: deviceKey},
		DocType:         in.DocType,
		ValidityInfo:    validityInfo{Signed: tdate(signed), ValidFrom: tdate(in.ValidFrom), ValidUntil: tdate(in.ValidUntil)},
	}
	for i, r := range refs {
		value, err := encMode.Marshal(spaces[r.ns][r.name])
		if err != nil {
			return nil, fmt.Errorf("mdoc: issue: element %s: %w", r.name, err)
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		item, err := encMode.Marshal(issuerSignedItem{DigestID: ids[i], Random: salt, ElementIdentifier: r.name, ElementValue: value})
		if err != nil {
			return nil, err
		}
		wrapped, err := wrap24(item)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(wrapped) // over IssuerSignedItemBytes, tag included
		if mso.ValueDigests[r.ns] == nil {
			mso.ValueDigests[r.ns] = map[uint64][]byte{}
		}
		mso.ValueDigests[r.ns][ids[i]] = sum[:]
		out.NameSpaces[r.ns] = append(out.NameSpaces[r.ns], wrapped)
	}
	msoBytes, err := encMode.Marshal(mso)
	if err != nil {
		return nil, err
	}
	payload, err := wrap24(msoBytes)
	if err != nil {
		return nil, err
	}
	signer, err := cose.NewSigner(alg, in.SignerKey)
	if err != nil {
		return nil, fmt.Errorf("mdoc: issue: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(alg)
	if len(in.SignerChain) == 1 {
		msg.Headers.Unprotected[cose.HeaderLabelX5Chain] = in.SignerChain[0]
	} else {
		msg.Headers.Unprotected[cose.HeaderLabelX5Chain] = in.SignerChain
	}
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("mdoc: issue: sign: %w", err)
	}
	auth, err := (*cose.UntaggedSign1Message)(msg).MarshalCBOR()
	if err != nil {
		return nil, err
	}
	out.IssuerAuth = auth
	return encMode.Marshal(out)
}

// wrap24 is #6.24(bstr .cbor data).
func wrap24(data []byte) ([]byte, error) {
	return encMode.Marshal(cbor.Tag{Number: TagEncodedCBOR, Content: data})
}

// shuffledIDs is a random permutation of 0..n-1.
func shuffledIDs(n int) ([]uint64, error) {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i)
	}
	for i := n - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return nil, err
		}
		k := j.Int64()
		ids[i], ids[k] = ids[k], ids[i]
	}
	return ids, nil
}

func algorithmFor(c elliptic.Curve) (cose.Algorithm, error) {
	switch c {
	case elliptic.P256():
		return cose.AlgorithmES256, nil
	case elliptic.P384():
		return cose.AlgorithmES384, nil
	case elliptic.P521():
		return cose.AlgorithmES512, nil
	}
	return 0, errors.New("curve not supported (P-256, P-384, P-521)")
}

// COSE_Key labels and values (RFC 9053).
const (
	keyLabelKty  = 1
	keyLabelCrv  = -1
	keyLabelX    = -2
	keyLabelY    = -3
	keyTypeEC2   = 2
	curveP256    = 1
	curveP384    = 2
	curveP521    = 3
	coordP256Len = 32
)

// coseKey encodes a device key as the COSE_Key ISO 18013-5 expects:
// {1: 2 (EC2), -1: crv, -2: x, -3: y}, coordinates at full length.
func coseKey(k *ecdsa.PublicKey) ([]byte, error) {
	var crv, size int
	switch k.Curve {
	case elliptic.P256():
		crv, size = curveP256, coordP256Len
	case elliptic.P384():
		crv, size = curveP384, 48
	case elliptic.P521():
		crv, size = curveP521, 66
	default:
		return nil, errors.New("curve not supported (P-256, P-384, P-521)")
	}
	return encMode.Marshal(map[int]any{
		keyLabelKty: keyTypeEC2,
		keyLabelCrv: crv,
		keyLabelX:   k.X.FillBytes(make([]byte, size)),
		keyLabelY:   k.Y.FillBytes(make([]byte, size)),
	})
}

// tdate is a date-time encoded as #6.0(tstr), RFC 3339 in UTC without
// fractions of a second (ISO 18013-5 §9.1.2.4).
type tdate time.Time

func (t tdate) MarshalCBOR() ([]byte, error) {
	s := time.Time(t).UTC().Truncate(time.Second).Format(time.RFC3339)
	return encMode.Marshal(cbor.Tag{Number: 0, Content: s})
}

func (t *tdate) UnmarshalCBOR(data []byte) error {
	var raw cbor.RawTag
	if err := decMode.Unmarshal(data, &raw); err != nil || raw.Number != 0 {
		return fmt.Errorf("%w: tdate is not tag 0", ErrMalformed)
	}
	var s string
	if err := decMode.Unmarshal(raw.Content, &s); err != nil {
		return fmt.Errorf("%w: tdate is not text", ErrMalformed)
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%w: tdate %q", ErrMalformed, s)
	}
	*t = tdate(v)
	return nil
}

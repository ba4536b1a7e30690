// Package mdoc issues and verifies the issuer-signed part of an ISO/IEC
// 18013-5 mobile document (mdoc): the IssuerSigned structure that an
// issuer hands to a wallet and that a wallet shows, element by element,
// to a verifier (§8.3.2.1.2.2, §9.1.2).
//
//	IssuerSigned = {"nameSpaces": {NameSpace => [+ #6.24(bstr .cbor IssuerSignedItem)]},
//	                "issuerAuth": COSE_Sign1}
//	IssuerSignedItem = {"digestID": uint, "random": bstr,
//	                    "elementIdentifier": tstr, "elementValue": any}
//
// The COSE_Sign1 (untagged, as in ISO 18013-5; Verify also takes the
// tagged form) signs #6.24(bstr .cbor MobileSecurityObject) with ES256
// (P-256; ES384 and ES512 for P-384 and P-521 keys) and carries the
// document signer's certificate chain in the unprotected header
// (x5chain, label 33). The Mobile Security Object holds the SHA-256 of
// every IssuerSignedItemBytes by namespace and digest ID, the device key
// (COSE_Key) the mdoc is bound to, the docType and the validity.
//
// Selective disclosure: every element is its own item with its own random
// salt, so a wallet can leave items out (Disclose) and a verifier checks
// exactly the items it was given (Verify) against the signed digests
// without learning anything about the others.
//
// The package uses github.com/fxamacker/cbor/v2 for CBOR and
// github.com/veraison/go-cose for COSE. It covers the issuer-signed part
// only: device authentication (DeviceSigned, the session transcript) is
// the wallet's and the reader's business.
package mdoc

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// The My Number Card document type and namespaces (as Multipaz and the
// platform wallets define them).
const (
	// DocTypeMNC is the My Number Card mdoc.
	DocTypeMNC = "org.iso.23220.1.jp.mnc"
	// NamespaceJP holds the Japan-specific elements: full_name_unicode,
	// resident_address_unicode, local_gov_code_unicode,
	// individual_number_unicode, portrait, sex_unicode,
	// birth_date_unicode.
	NamespaceJP = "org.iso.23220.1.jp"
	// NamespaceISO23220 holds the generic ISO/IEC 23220-2 elements: sex,
	// age_over_NN, age_in_years, birth_date.
	NamespaceISO23220 = "org.iso.23220.1"
)

// MSO constants.
const (
	MSOVersion      = "1.0"
	DigestAlgorithm = "SHA-256"
	// TagEncodedCBOR is tag 24: a byte string holding encoded CBOR.
	TagEncodedCBOR = 24
	// TagFullDate is tag 1004 (RFC 8943): a full-date string YYYY-MM-DD.
	TagFullDate = 1004
)

// OIDDocumentSigner is the extended key usage of an mdoc document signer
// certificate (ISO 18013-5 Annex B.1.4: id-mdl-kp-mdlDS, 1.0.18013.5.1.2).
var OIDDocumentSigner = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2}

// FullDate is a calendar date "YYYY-MM-DD", encoded as full-date (tag
// 1004 over the text), as birth_date is in ISO 23220-2 and 18013-5.
type FullDate string

// Errors Verify and Disclose wrap.
var (
	// ErrMalformed: the bytes are not an IssuerSigned of this profile.
	ErrMalformed = errors.New("mdoc: malformed")
	// ErrSignature: the COSE_Sign1 does not verify with the document
	// signer's certificate.
	ErrSignature = errors.New("mdoc: issuer signature invalid")
	// ErrChain: the document signer's certificate does not chain to a
	// trusted IACA root, or is not a document signer.
	ErrChain = errors.New("mdoc: document signer not trusted")
	// ErrValidity: the MSO is not valid at the time given.
	ErrValidity = errors.New("mdoc: not valid at this time")
	// ErrDigest: a disclosed element does not match its signed digest.
	ErrDigest = errors.New("mdoc: element digest mismatch")
	// ErrNotPresent: Disclose was asked for an element the mdoc lacks.
	ErrNotPresent = errors.New("mdoc: element not present")
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	tags := cbor.NewTagSet()
	if err := tags.Add(cbor.TagOptions{EncTag: cbor.EncTagRequired, DecTag: cbor.DecTagRequired}, reflect.TypeOf(FullDate("")), TagFullDate); err != nil {
		panic(err)
	}
	eo := cbor.CoreDetEncOptions() // deterministic: sorted map keys, shortest forms
	eo.Time = cbor.TimeRFC3339
	eo.TimeTag = cbor.EncTagRequired // tdate = #6.0(tstr)
	var err error
	if encMode, err = eo.EncModeWithTags(tags); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DupMapKey:   cbor.DupMapKeyEnforcedAPF,
		IndefLength: cbor.IndefLengthForbidden,
		TimeTag:     cbor.DecTagRequired,
		IntDec:      cbor.IntDecConvertNone,
	}
	if decMode, err = do.DecModeWithTags(tags); err != nil {
		panic(err)
	}
}

// issuerSigned is the wire form; items stay raw so that their digests
// are computed over the bytes as they are.
type issuerSigned struct {
	NameSpaces map[string][]cbor.RawMessage `cbor:"nameSpaces,omitempty"`
	IssuerAuth cbor.RawMessage              `cbor:"issuerAuth"`
}

type issuerSignedItem struct {
	DigestID          uint64          `cbor:"digestID"`
	Random            []byte          `cbor:"random"`
	ElementIdentifier string          `cbor:"elementIdentifier"`
	ElementValue      cbor.RawMessage `cbor:"elementValue"`
}

type mobileSecurityObject struct {
	Version         string                       `cbor:"version"`
	DigestAlgorithm string                       `cbor:"digestAlgorithm"`
	ValueDigests    map[string]map[uint64][]byte `cbor:"valueDigests"`
	DeviceKeyInfo   deviceKeyInfo                `cbor:"deviceKeyInfo"`
	DocType         string                       `cbor:"docType"`
	ValidityInfo    validityInfo                 `cbor:"validityInfo"`
}

type deviceKeyInfo struct {
	DeviceKey cbor.RawMessage `cbor:"deviceKey"`
}

type validityInfo struct {
	Signed     tdate `cbor:"signed"`
	ValidFrom  tdate `cbor:"validFrom"`
	ValidUntil tdate `cbor:"validUntil"`
}

// certsFromDER parses a chain, leaf first.
func certsFromDER(chain [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(chain))
	for _, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

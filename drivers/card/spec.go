// Package card drives the Individual Number Card (マイナンバーカード) over
// ISO/IEC 7816-4 APDUs through a Transceiver: PC/SC (drivers/card/pcsc),
// the in-process virtual card (drivers/card/sim) or a test double.
//
// Everything public about the card follows shared/card-reference.md (the
// "ref" in comments), byte for byte; the privileged commands that
// Madoguchi defines itself are documented in docs/CARD-COMMANDS.md.
// Flows ask a card for its Profile's capabilities (which PINs, a PUK, the
// key algorithm), never for a generation.
package card

import (
	"bytes"
	"fmt"
)

// Application identifiers, full 10-byte DF names (ref §2). Always select
// with the full name: a prefix may match another DF (ref §2, MC card.rs).
var (
	// AIDJPKI is 公的個人認証AP (JPKI-AP) [MYNA-GO, OSC jpki.h, JRS, MC, NFCPY].
	AIDJPKI = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01}
	// AIDCardFace is 券面事項確認AP [MYNA-GO SelectVisualAP, JRS, MC].
	AIDCardFace = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02}
	// AIDInputAssist is 券面事項入力補助AP [MYNA-GO SelectTextAP, JRS, MC, NFCPY, WEBUSB].
	AIDInputAssist = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08}
	// AIDResidentRegistry is 住基AP [MC ap/juki.rs ⚠ single source].
	AIDResidentRegistry = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01}

	// AIDNextAuth and AIDNextFace are the next-generation card's two
	// applications. The real AIDs are not public (ref §13); these are
	// Madoguchi's provisional profile (docs/CARD-COMMANDS.md), to be
	// replaced when the specification is published.
	AIDNextAuth = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x02, 0x00, 0x00, 0x00, 0x01}
	AIDNextFace = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x02, 0x01, 0x04, 0x02}
)

// Elementary files and key references. Every EF has a FID in 0001–001E, so
// the short-EF-identifier forms work (ref §2 "Short EF identifiers").
const (
	// JPKI-AP (ref §6.1).
	EFSignCert         uint16 = 0x0001 // 署名用証明書; needs the signature password
	EFSignCACert       uint16 = 0x0002 // 署名用CA証明書
	EFTokenInfo        uint16 = 0x0006 // CK_TOKEN_INFO, 160 bytes, label first
	EFCertAvailability uint16 = 0x0008 // 8F 8F 00 = both certificates
	EFAuthCert         uint16 = 0x000A // 利用者証明用証明書; free on a card
	EFAuthCACert       uint16 = 0x000B // 利用者証明用CA証明書
	KeyAuth            uint16 = 0x0017 // auth private key
	PINRefAuth         uint16 = 0x0018 // auth PIN, 4 digits, 3 tries
	KeySign            uint16 = 0x001A // signature private key
	PINRefSign         uint16 = 0x001B // signature password, 6–16 A–Z0–9, 5 tries
	// PINRefPUK is the next-generation PUK (Madoguchi's provisional profile).
	PINRefPUK uint16 = 0x001D

	// 券面事項入力補助AP (ref §8.1).
	EFMyNumber        uint16 = 0x0001 // FF10 0C <12 digits> FF FF
	EFBasicFour       uint16 = 0x0002 // FF20 { DF21 offsets, DF22 name, DF23 address, DF24 birth, DF25 sex }
	EFIntegrity       uint16 = 0x0003 // FF30 { DF31, DF32, DF33 signature }, 336 bytes
	EFCVCert          uint16 = 0x0004 // 7F21 card-verifiable certificate, 568 bytes
	EFAPInfo          uint16 = 0x0005 // FF40 AP basic information
	PINRefInputAssist uint16 = 0x0011 // input-assist PIN, 4 digits, 3 tries
	KeyRefCheckA      uint16 = 0x0014 // 照合番号A (the individual number)
	KeyRefCheckB      uint16 = 0x0015 // 照合番号B

	// 券面事項確認AP (ref §9).
	EFFace           uint16 = 0x0002 // FF20 card face, photo in DF27 (JPEG 2000)
	EFFaceInfo       uint16 = 0x0003 // FF30 basic info
	KeyRefFaceCheckA uint16 = 0x0013 // 照合番号A on the face AP
	KeyRefFaceCheckB uint16 = 0x0012 // 照合番号B on the face AP

	// 住基AP (ref §7, MC juki.rs ⚠).
	PINRefResident uint16 = 0x001C // residents' register PIN, 4 digits, 3 tries

	// Next-generation authentication AP: the input-assist files live here
	// (Madoguchi's provisional profile).
	EFNextMyNumber  uint16 = 0x0011
	EFNextBasicFour uint16 = 0x0012
	EFNextIntegrity uint16 = 0x0013
	EFNextCVCert    uint16 = 0x0014
	// KeyRefNextFaceCheck is the 6-digit 照合番号 of the next-generation
	// card-face AP (ref §13).
	KeyRefNextFaceCheck uint16 = 0x0013
)

// Token labels: the first 32 bytes of EF 0006, space padded (ref §6.1).
const (
	LabelCard     = "JPKIAPICCTOKEN2" // a physical Individual Number Card
	LabelNextCard = "JPKIAPICCTOKEN3" // Madoguchi's provisional next-generation label
	LabelAndroid  = "JPKIAPGPSETOKEN" // Android smartphone certificate
	LabelIPhone   = "JPKIAPIOSTOKEN"  // iPhone smartphone certificate
	LabelJukiCard = "JPKIAPICCTOKEN"  // the old 住基カード
)

// PINKind names a PIN (or the PUK) by purpose, whatever the generation.
type PINKind string

// The PINs of both generations (domain.md §1; ref §7, §13).
const (
	PINAuth        PINKind = "auth"         // 利用者証明用電子証明書暗証番号
	PINSign        PINKind = "sign"         // 署名用電子証明書暗証番号 (password)
	PINInputAssist PINKind = "input-assist" // 券面事項入力補助用暗証番号
	PINResident    PINKind = "resident"     // 住民基本台帳用暗証番号
	PUK            PINKind = "puk"          // next generation: unlocks a blocked PIN
)

func (k PINKind) String() string { return string(k) }

// Charset of a PIN.
type Charset int

const (
	Digits     Charset = iota // 0–9
	UpperAlnum                // A–Z and 0–9 (clients upper-case the input, ref §7)
)

// PINSpec describes one PIN of a profile.
type PINSpec struct {
	Kind     PINKind
	AID      []byte // the application holding the key reference
	Ref      uint16 // key reference EF
	Min, Max int    // length bounds
	Charset  Charset
	MaxTries int
}

// KeyAlgorithm of the card's JPKI keys.
type KeyAlgorithm string

const (
	RSA2048   KeyAlgorithm = "RSA-2048"
	ECDSAP384 KeyAlgorithm = "ECDSA-P384"
)

// Profile is what a card can do, found by its applications and token
// label. Flows read capabilities from it.
type Profile struct {
	Name       string // "current" or "next" (for logs and diagnostics only)
	TokenLabel string
	JPKI       []byte // the application with the JPKI keys and certificates
	// InputAssist is the application holding the individual number and the
	// basic four items, and InputAssistPINs the PINs that open them.
	InputAssist     []byte
	InputAssistPINs []PINKind
	MyNumberEF      uint16
	BasicFourEF     uint16
	IntegrityEF     uint16
	CVCertEF        uint16
	Face            []byte // the card-face application
	FaceCheckRef    uint16 // key reference opened by the 照合番号 (A)
	Resident        []byte // nil when the card has no residents' register AP
	PINs            []PINSpec
	Keys            KeyAlgorithm
	HasPUK          bool
	PUKMaxTries     int
}

// PIN returns the spec of kind, or false if the card has no such PIN.
func (p *Profile) PIN(kind PINKind) (PINSpec, bool) {
	for _, s := range p.PINs {
		if s.Kind == kind {
			return s, true
		}
	}
	return PINSpec{}, false
}

// Current is the card issued since 2016: four applications, four PINs,
// RSA-2048 (domain.md §1; ref §6–§9).
var Current = &Profile{
	Name:            "current",
	TokenLabel:      LabelCard,
	JPKI:            AIDJPKI,
	InputAssist:     AIDInputAssist,
	InputAssistPINs: []PINKind{PINInputAssist},
	MyNumberEF:      EFMyNumber,
	BasicFourEF:     EFBasicFour,
	IntegrityEF:     EFIntegrity,
	CVCertEF:        EFCVCert,
	Face:            AIDCardFace,
	FaceCheckRef:    KeyRefFaceCheckA,
	Resident:        AIDResidentRegistry,
	PINs: []PINSpec{
		{Kind: PINAuth, AID: AIDJPKI, Ref: PINRefAuth, Min: 4, Max: 4, Charset: Digits, MaxTries: 3},
		{Kind: PINSign, AID: AIDJPKI, Ref: PINRefSign, Min: 6, Max: 16, Charset: UpperAlnum, MaxTries: 5},
		{Kind: PINInputAssist, AID: AIDInputAssist, Ref: PINRefInputAssist, Min: 4, Max: 4, Charset: Digits, MaxTries: 3},
		{Kind: PINResident, AID: AIDResidentRegistry, Ref: PINRefResident, Min: 4, Max: 4, Charset: Digits, MaxTries: 3},
	},
	Keys: RSA2048,
}

// Next is Madoguchi's provisional next-generation profile (ref §13): two
// applications, a 4-digit PIN and a 6–16 character password (both open
// the input-assist data), an optional PUK with its own counter, ECDSA
// P-384 keys.
var Next = &Profile{
	Name:            "next",
	TokenLabel:      LabelNextCard,
	JPKI:            AIDNextAuth,
	InputAssist:     AIDNextAuth,
	InputAssistPINs: []PINKind{PINAuth, PINSign},
	MyNumberEF:      EFNextMyNumber,
	BasicFourEF:     EFNextBasicFour,
	IntegrityEF:     EFNextIntegrity,
	CVCertEF:        EFNextCVCert,
	Face:            AIDNextFace,
	FaceCheckRef:    KeyRefNextFaceCheck,
	PINs: []PINSpec{
		{Kind: PINAuth, AID: AIDNextAuth, Ref: PINRefAuth, Min: 4, Max: 4, Charset: Digits, MaxTries: 3},
		{Kind: PINSign, AID: AIDNextAuth, Ref: PINRefSign, Min: 6, Max: 16, Charset: UpperAlnum, MaxTries: 5},
		{Kind: PUK, AID: AIDNextAuth, Ref: PINRefPUK, Min: 8, Max: 8, Charset: Digits, MaxTries: 10},
	},
	Keys:        ECDSAP384,
	HasPUK:      true,
	PUKMaxTries: 10,
}

// Profiles lists the known profiles.
var Profiles = []*Profile{Current, Next}

// ProfileByName finds "current" or "next".
func ProfileByName(name string) (*Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown card profile %q (want current or next)", name)
}

func sameAID(a, b []byte) bool { return bytes.Equal(a, b) }

package phone

import (
	"fmt"
	"time"

	"madoguchi/drivers/card/tlv"
)

// AID is the wallet application's identifier: F0 followed by ASCII
// "MADOGUCHI" (10 bytes). An AID whose first half-byte is F is a
// proprietary, unregistered identifier (ISO/IEC 7816-4, application
// identifier; ISO/IEC 7816-5 registers only the others), a form Android
// HCE services may declare. Madoguchi needs no registered RID: the real
// phone interface is not public (domain.md §4) and this one is its own.
var AID = []byte{0xF0, 'M', 'A', 'D', 'O', 'G', 'U', 'C', 'H', 'I'}

// Class, instruction and parameter bytes (docs/PHONE-COMMANDS.md §2).
// SELECT and GET RESPONSE are interindustry (CLA 00, ISO/IEC 7816-4 §11
// and §5.3.4); every wallet command is proprietary (CLA 80: ISO/IEC 7816-4
// §5.4.1, first byte 8x) and borrows the INS of the ISO command it
// resembles, so that protocol analysers name it sensibly.
const (
	ClaISO         = 0x00
	ClaProprietary = 0x80
	ClaChaining    = 0x10 // ISO/IEC 7816-4 §5.4.1 command chaining: more chunks follow

	InsSelect           = 0xA4 // SELECT (ISO/IEC 7816-4 §11)
	InsGetResponse      = 0xC0 // GET RESPONSE (ISO/IEC 7816-4 §5.3.4, §11)
	InsGetData          = 0xCA // GET DEVICE INFO and GET STATUS: after GET DATA (ISO/IEC 7816-4 §11), P1-P2 = tag
	InsGenerateKey      = 0x46 // GENERATE KEY: after GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8)
	InsSign             = 0x2A // SIGN: after PERFORM SECURITY OPERATION (ISO/IEC 7816-8), P1-P2 = 9E AC
	InsPutCredential    = 0xDA // PUT CREDENTIAL: after PUT DATA (ISO/IEC 7816-4 §11)
	InsDeleteCredential = 0xE4 // DELETE CREDENTIAL: after DELETE FILE (ISO/IEC 7816-9)
	InsSetState         = 0x44 // SET STATE: after ACTIVATE FILE (ISO/IEC 7816-9), P1 = new state
	InsPutNotice        = 0xE2 // PUT NOTICE: after APPEND RECORD (ISO/IEC 7816-4 §11)

	P1SelectByName = 0x04 // SELECT by DF name (AID), ISO/IEC 7816-4 §11
	P2SelectFirst  = 0x00 // first or only occurrence, return the FCI

	// GET DATA P1-P2 (the tag of the object asked for).
	P1P2DeviceInfo uint16 = 0x7F51
	P1P2Status     uint16 = 0x7F52

	// PERFORM SECURITY OPERATION: COMPUTE DIGITAL SIGNATURE (ISO/IEC
	// 7816-8): P1 = 9E, a digital signature is returned; P2 = AC, the data
	// field is a template of data objects (here 85 key id, 90 hash code).
	P1Signature = 0x9E
	P2Template  = 0xAC
)

// SWExists is 6A89, "file already exists" (ISO/IEC 7816-4 §5.6): PUT
// CREDENTIAL with an id already stored. The other status words are
// drivers/card/apdu's.
const SWExists uint16 = 0x6A89

// Purpose is GENERATE KEY's P1: what the new key is for.
type Purpose byte

const (
	// PurposeAuth is a JPKI-style authentication key (利用者証明用 on the
	// phone, domain.md §5).
	PurposeAuth Purpose = 0x01
	// PurposeMdoc is an ISO/IEC 18013-5 mdoc device key.
	PurposeMdoc Purpose = 0x02
)

func (p Purpose) String() string {
	switch p {
	case PurposeAuth:
		return "auth"
	case PurposeMdoc:
		return "mdoc"
	}
	return fmt.Sprintf("purpose %02X", byte(p))
}

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool { return p == PurposeAuth || p == PurposeMdoc }

// CredentialType is PUT CREDENTIAL's P1.
type CredentialType byte

const (
	// CredentialCertChain: X.509 certificates in DER, concatenated, the
	// key's own certificate first, then its issuers.
	CredentialCertChain CredentialType = 0x01
	// CredentialMdoc: an ISO/IEC 18013-5 IssuerSigned structure (CBOR),
	// stored as given.
	CredentialMdoc CredentialType = 0x02
)

func (t CredentialType) String() string {
	switch t {
	case CredentialCertChain:
		return "cert-chain"
	case CredentialMdoc:
		return "mdoc"
	}
	return fmt.Sprintf("type %02X", byte(t))
}

// Valid reports whether t is a known credential type.
func (t CredentialType) Valid() bool { return t == CredentialCertChain || t == CredentialMdoc }

// State is a credential's state, SET STATE's P1.
type State byte

const (
	StateActive    State = 0x01
	StateSuspended State = 0x02
	// StateRevoked is final: a revoked credential never becomes active or
	// suspended again (the phone answers 6985).
	StateRevoked State = 0x03
)

func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateSuspended:
		return "suspended"
	case StateRevoked:
		return "revoked"
	}
	return fmt.Sprintf("state %02X", byte(s))
}

// Valid reports whether s is a known state.
func (s State) Valid() bool { return s >= StateActive && s <= StateRevoked }

// NoticeCode says what a notice tells the holder. The phone shows its own
// localized text for the code; the terminal sends no free text.
type NoticeCode byte

const (
	NoticeRevoked   NoticeCode = 0x01 // your credential was revoked
	NoticeSuspended NoticeCode = 0x02 // your credential was suspended
	NoticeResumed   NoticeCode = 0x03 // your credential can be used again
	NoticeIssued    NoticeCode = 0x04 // a new credential was put on this phone
	NoticeDeleted   NoticeCode = 0x05 // a credential was deleted from this phone
	NoticeRenew     NoticeCode = 0x06 // your credential expires soon: visit a counter
)

func (c NoticeCode) String() string {
	switch c {
	case NoticeRevoked:
		return "revoked"
	case NoticeSuspended:
		return "suspended"
	case NoticeResumed:
		return "resumed"
	case NoticeIssued:
		return "issued"
	case NoticeDeleted:
		return "deleted"
	case NoticeRenew:
		return "renew"
	}
	return fmt.Sprintf("notice %02X", byte(c))
}

// Valid reports whether c is a known code.
func (c NoticeCode) Valid() bool { return c >= NoticeRevoked && c <= NoticeRenew }

// Tags of the wallet's BER-TLV objects (docs/PHONE-COMMANDS.md §3).
// Context-specific primitive tags 80..8F are reused per template.
const (
	TagAttestation tlv.Tag = 0x7F50 // GENERATE KEY answer
	TagDeviceInfo  tlv.Tag = 0x7F51 // GET DEVICE INFO answer
	TagStatus      tlv.Tag = 0x7F52 // GET STATUS answer
	TagEntry       tlv.Tag = 0x70   // one credential (PUT CREDENTIAL, GET STATUS) or notice

	// In 7F50 (attestation) and 7F51 (device info).
	TagSEName     tlv.Tag = 0x80
	TagAppName    tlv.Tag = 0x81
	TagAppVersion tlv.Tag = 0x82
	TagSPKI       tlv.Tag = 0x83
	TagChallenge  tlv.Tag = 0x84
	TagKeyID      tlv.Tag = 0x85
	TagAttestCert tlv.Tag = 0x86
	TagDeviceID   tlv.Tag = 0x87
	TagModel      tlv.Tag = 0x88
	TagOS         tlv.Tag = 0x89
	TagAttestSig  tlv.Tag = 0x8F
	TagDigest     tlv.Tag = 0x90 // SIGN: hash code (ISO/IEC 7816-8)

	// In 70 (credential entries and notices).
	TagCredID      tlv.Tag = 0x80 // in 70: credential id
	TagCredType    tlv.Tag = 0x81 // in 70 (GET STATUS): type
	TagCredKeyID   tlv.Tag = 0x82 // in 70: key id
	TagCredState   tlv.Tag = 0x83 // in 70 (GET STATUS): state
	TagCredExpiry  tlv.Tag = 0x84 // in 70: notAfter, 15 ASCII bytes YYYYMMDDhhmmssZ
	TagCredPayload tlv.Tag = 0x85 // in 70 (PUT CREDENTIAL): the credential bytes
	TagNoticeCode  tlv.Tag = 0x80 // in 70 (PUT NOTICE): code, 1 byte
	TagNoticeDate  tlv.Tag = 0x81 // in 70 (PUT NOTICE): date, 8 ASCII bytes YYYYMMDD
	TagNoticeCred  tlv.Tag = 0x82 // in 70 (PUT NOTICE): credential id (optional)
)

// Sizes and limits (docs/PHONE-COMMANDS.md §5).
const (
	KeyIDLen          = 8
	DigestLen         = 32 // SHA-256
	DeviceIDLen       = 16
	MinChallenge      = 16
	MaxChallenge      = 64
	MaxCredentialID   = 32
	MaxCredentialSize = 16384 // payload bytes
	MaxCredentials    = 16
	MaxKeys           = 16
	MaxInbox          = 32  // the oldest notice is dropped beyond this
	ChunkSize         = 255 // PUT CREDENTIAL chunk: short Lc maximum
	// ApprovalLifetime: one approval on the phone allows one SIGN within
	// this time (domain.md §5).
	ApprovalLifetime = 60 * time.Second
	// ExpiryLayout is the notAfter format: GeneralizedTime, UTC, seconds.
	ExpiryLayout = "20060102150405Z"
	// NoticeDateLayout is a notice's date: YYYYMMDD.
	NoticeDateLayout = "20060102"
)

// Device is GET DEVICE INFO's answer.
type Device struct {
	ID            []byte // 16 random bytes, stable for the life of the wallet
	Model         string
	OS            string
	SecureElement string
	App           string
	AppVersion    string
}

// Credential is what PUT CREDENTIAL stores.
type Credential struct {
	ID       string // 1..32 bytes, printable ASCII
	Type     CredentialType
	KeyID    []byte // the key it belongs to (GENERATE KEY's 85)
	NotAfter time.Time
	Data     []byte // the certificate chain or the mdoc
}

// CredentialStatus is one entry of GET STATUS.
type CredentialStatus struct {
	ID       string
	Type     CredentialType
	KeyID    []byte
	State    State
	NotAfter time.Time
}

// Notice is a message for the holder, kept in the phone's inbox.
type Notice struct {
	Code         NoticeCode
	Date         time.Time // a calendar day (UTC midnight)
	CredentialID string    // optional
}

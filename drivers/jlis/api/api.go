// Package api is the contract of Madoguchi's J-LIS-style central API,
// shared by the client (drivers/jlis) and the reference server
// (drivers/jlis/sim): paths, request and response bodies, problem codes.
// docs/jlis-api.yaml (OpenAPI 3.1) and docs/JLIS-API.md describe the same
// contract for people and other implementations.
//
// Transport: HTTPS with mutual TLS; the terminal is identified by its
// client certificate. Bodies are JSON; binary values (certificates, keys,
// CRLs) are base64 (standard encoding) inside JSON. Every state-changing
// request (POST, DELETE) carries an Idempotency-Key header.
package api

import "time"

// Version is the API's path prefix.
const Version = "/v1"

// Paths. {serial} is a card serial, {cert} a certificate serial in hex,
// {ca} one of the CA names below.
const (
	PathHealth          = "/v1/health"
	PathCards           = "/v1/cards"                          // POST: register a manufactured card
	PathCard            = "/v1/cards/{serial}"                 // GET
	PathCardTransition  = "/v1/cards/{serial}/transitions"     // POST: change state
	PathCardCerts       = "/v1/cards/{serial}/certificates"    // POST: issue
	PathCardAuthorise   = "/v1/cards/{serial}/authorisations"  // POST: challenge in, cryptogram out
	PathCardDetails     = "/v1/cards/{serial}/details"         // POST: change of details (券面記載事項変更)
	PathCertificate     = "/v1/certificates/{cert}"            // GET: status
	PathCertRevocation  = "/v1/certificates/{cert}/revocation" // POST: revoke
	PathCertSuspension  = "/v1/certificates/{cert}/suspension" // POST: suspend; DELETE: lift
	PathPhones          = "/v1/phones"                         // POST: issue a phone credential
	PathPhone           = "/v1/phones/{id}"                    // GET; DELETE: revoke
	PathEvents          = "/v1/events"                         // POST: batched events
	PathCRL             = "/crl/{ca}.crl"                      // GET, public HTTP: DER CRL
	PathOCSP            = "/ocsp"                              // POST or GET /ocsp/{base64}, public HTTP (RFC 6960)
	PathAdminFaults     = "/admin/faults"                      // GET/PUT, public listener, loopback only
	HeaderIdempotency   = "Idempotency-Key"
	HeaderReplayed      = "Idempotency-Replayed"
	ContentTypeProblem  = "application/problem+json"
	ContentTypeJSON     = "application/json"
	MaxIdempotencyKey   = 128 // visible ASCII (0x21–0x7E)
	MaxEventsPerRequest = 500
)

// Reservations for the kiosk PIN reset (docs/JLIS-API.md §5.1).
const (
	// PathReservations: POST creates a reservation (in reality the
	// smartphone face-check service does; the reference server accepts it
	// from any authenticated client).
	PathReservations = "/v1/reservations"
	// PathCardReservations: GET lists the card's open reservations.
	PathCardReservations = "/v1/cards/{serial}/reservations"
)

// Phone credentials (docs/JLIS-API.md §6).
const (
	// PathPhoneChallenges: POST issues a one-time challenge for a phone's
	// key attestation (GENERATE KEY), valid PhoneChallengeTTL.
	PathPhoneChallenges = "/v1/phone-challenges"
	// PathCardPhones: GET lists a card's phone credentials, every state.
	PathCardPhones = "/v1/cards/{serial}/phones"
	// PathPhoneSuspension: POST suspends a phone credential, DELETE lifts
	// the suspension (as PathCertSuspension does for a certificate).
	PathPhoneSuspension = "/v1/phones/{id}/suspension"
	// PathPhoneNotices: GET lists the notices for a phone (revocations,
	// suspensions) a terminal delivers at the next tap.
	PathPhoneNotices = "/v1/phones/{id}/notices"
	// PathPhoneMdoc: POST issues an ISO/IEC 18013-5 mdoc (the My Number
	// Card document type) bound to a key in the phone.
	PathPhoneMdoc = "/v1/phones/{id}/mdoc"
	// PathPhoneOffers: POST makes an OpenID4VCI credential offer
	// (pre-authorised code) for the phone's wallet.
	PathPhoneOffers = "/v1/phones/{id}/offers"
)

// OpenID4VCI endpoints on the public repository listener (plain HTTP in
// the reference server, HTTPS in production), the wallet's side.
const (
	PathVCIIssuerMetadata = "/.well-known/openid-credential-issuer"
	PathVCIASMetadata     = "/.well-known/oauth-authorization-server"
	PathVCIToken          = "/token"
	PathVCICredential     = "/credential"
	// GrantPreAuthorizedCode is the OpenID4VCI pre-authorised code grant.
	GrantPreAuthorizedCode = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	// ProofTypeJWT is the key proof type and ProofJWTType its typ header.
	ProofTypeJWT = "jwt"
	ProofJWTType = "openid4vci-proof+jwt"
	// FormatMsoMdoc is the credential format of an ISO 18013-5 mdoc.
	FormatMsoMdoc = "mso_mdoc"
	// MaxTxCodeTries is how many wrong transaction codes kill an offer.
	MaxTxCodeTries = 5
)

// The My Number Card mdoc (Multipaz's definition).
const (
	MdocDocType      = "org.iso.23220.1.jp.mnc" // also the credential configuration id
	MdocNamespaceJP  = "org.iso.23220.1.jp"     // the Japan-specific elements
	MdocNamespaceISO = "org.iso.23220.1"        // ISO/IEC 23220-2 elements: sex, age_over_20, age_in_years, birth_date
)

// CA names: one issuing CA per purpose (domain.md §3).
const (
	CAAuth     = "auth"
	CASign     = "sign"
	CAPhone    = "phone"
	CATerminal = "terminal"
)

// CardState is a card record's state (domain.md §3):
// manufactured → delivered → issued → suspended / revoked / returned /
// expired; a suspension can be lifted back to issued.
type CardState string

// Card states.
const (
	StateManufactured CardState = "manufactured"
	StateDelivered    CardState = "delivered"
	StateIssued       CardState = "issued"
	StateSuspended    CardState = "suspended"
	StateRevoked      CardState = "revoked"
	StateReturned     CardState = "returned"
	StateExpired      CardState = "expired"
)

// Transitions lists the allowed state changes.
var Transitions = map[CardState][]CardState{
	StateManufactured: {StateDelivered},
	StateDelivered:    {StateIssued, StateReturned},
	StateIssued:       {StateSuspended, StateRevoked, StateReturned, StateExpired},
	StateSuspended:    {StateIssued, StateRevoked, StateReturned, StateExpired},
}

// Allowed reports whether a card may go from one state to another.
func Allowed(from, to CardState) bool {
	for _, s := range Transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Holder is the basic four items a card record carries (the signature
// certificate embeds them). The individual number is never sent.
type Holder struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	BirthDate string `json:"birthDate"` // YYYYMMDD
	Sex       string `json:"sex"`       // ISO 5218: 1, 2, 9 (0 unknown)
}

// NewCard registers a manufactured card (POST /v1/cards).
type NewCard struct {
	Serial       string `json:"serial"`
	Profile      string `json:"profile"` // "current" or "next"
	Municipality string `json:"municipality"`
	Holder       Holder `json:"holder"`
	// CardExpiry is the card's last valid day (YYYYMMDD); the server
	// computes it from the birth date when empty (domain.md §1).
	CardExpiry string `json:"cardExpiry,omitempty"`
	// Certificates are those the card factory wrote onto the card, signed
	// by the card issuer's authentication and signature CAs: the central
	// system records them (state good) so that status checks, OCSP-style
	// queries and revocation know them. Optional.
	Certificates []FactoryCertificate `json:"certificates,omitempty"`
}

// FactoryCertificate is a certificate a card left the factory with.
type FactoryCertificate struct {
	Purpose string `json:"purpose"` // CAAuth or CASign
	DER     []byte `json:"der"`
}

// Card is a card record.
type Card struct {
	Serial       string       `json:"serial"`
	Profile      string       `json:"profile"`
	State        CardState    `json:"state"`
	Municipality string       `json:"municipality"`
	Holder       Holder       `json:"holder"`
	CardExpiry   string       `json:"cardExpiry"`
	Certificates []CertStatus `json:"certificates"`
	History      []Transition `json:"history"`
	UpdatedAt    time.Time    `json:"updatedAt"`
}

// Transition is a state change (POST /v1/cards/{serial}/transitions).
type Transition struct {
	To     CardState `json:"to"`
	Reason string    `json:"reason,omitempty"` // e.g. "lost", "found", "moved"
	// From, At and Terminal are filled in by the server.
	From     CardState `json:"from,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Terminal string    `json:"terminal,omitempty"`
}

// ReasonDetailsChanged is the history reason of a change of details
// (券面記載事項変更): an entry from issued to issued.
const ReasonDetailsChanged = "detailsChanged"

// DetailsChange asks the central system to change a card's details
// (券面記載事項変更, domain.md §2; POST /v1/cards/{serial}/details): the
// new basic four items, and the digest that binds the input-assist data to
// the card's individual number.
type DetailsChange struct {
	Holder Holder `json:"holder"`
	// MyNumberDigest is DF31 of the card's current integrity record (EF
	// 0003): the SHA-256 of the individual-number EF. The terminal never
	// sends the individual number; the new record carries this digest on.
	MyNumberDigest []byte `json:"myNumberDigest"`
}

// TextData is the answer to a change of details: the input-assist EFs to
// write to the card (each under an OpWriteText authorisation for its EF
// and the SHA-256 of the bytes) and the updated record.
type TextData struct {
	// BasicFour is the new EF content of the basic four items (EF 0002
	// on the current card).
	BasicFour []byte `json:"basicFour"`
	// Integrity is the new integrity record (EF 0003 on the current card),
	// signed by the card issuer's data key over MyNumberDigest and
	// BasicFour.
	Integrity []byte `json:"integrity"`
	// Card is the record after the change.
	Card Card `json:"card"`
	// RevokedSign lists the serials of the signature certificates revoked
	// (reason affiliationChanged): they carry the old details.
	RevokedSign []string `json:"revokedSign,omitempty"`
}

// CertRequest asks for a certificate for a public key generated on the
// card (or phone) (POST /v1/cards/{serial}/certificates).
type CertRequest struct {
	Purpose string `json:"purpose"` // "auth" or "sign"
	// PublicKey is the DER SubjectPublicKeyInfo.
	PublicKey []byte `json:"publicKey"`
	// Proof is the key's signature over PoPMessage(serial, purpose,
	// publicKey): proof of possession. RSA: PKCS#1 v1.5 SHA-256; ECDSA:
	// ASN.1 over SHA-384.
	Proof []byte `json:"proof"`
}

// PoPMessage is what a proof of possession signs.
func PoPMessage(serial, purpose string, spki []byte) []byte {
	out := []byte("madoguchi proof-of-possession v1\x00" + serial + "\x00" + purpose + "\x00")
	return append(out, spki...)
}

// Certificate is an issued certificate.
type Certificate struct {
	Serial    string    `json:"serial"` // hex
	Purpose   string    `json:"purpose"`
	DER       []byte    `json:"der"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Chain is the issuing CA's certificate then the root's (DER).
	Chain [][]byte `json:"chain"`
}

// CertState is a certificate's revocation state.
type CertState string

// Certificate states.
const (
	CertGood      CertState = "good"
	CertSuspended CertState = "suspended" // CRL reason certificateHold
	CertRevoked   CertState = "revoked"
)

// CertStatus is GET /v1/certificates/{cert}.
type CertStatus struct {
	Serial     string    `json:"serial"`
	Purpose    string    `json:"purpose"`
	CardSerial string    `json:"cardSerial"`
	State      CertState `json:"state"`
	NotAfter   time.Time `json:"notAfter"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	Reason     string    `json:"reason,omitempty"`
}

// Revocation is the body of a revocation or suspension.
type Revocation struct {
	// Reason: "keyCompromise", "affiliationChanged" (change of details),
	// "superseded", "cessationOfOperation" (return), "unspecified"; a
	// suspension is always "certificateHold".
	Reason string `json:"reason"`
}

// Operations a card-management authorisation may cover (names of
// drivers/card.Op).
const (
	OpSetPIN      = "set-pin"
	OpResetPIN    = "reset-pin"
	OpGenerateKey = "generate-key"
	OpWriteCert   = "write-cert"
	OpWriteText   = "write-text"
)

// AuthoriseRequest: the card's challenge in (POST
// /v1/cards/{serial}/authorisations).
type AuthoriseRequest struct {
	Operation string `json:"operation"`
	Ref       uint16 `json:"ref"`              // key or file reference on the card
	Digest    []byte `json:"digest,omitempty"` // SHA-256 of the bytes to write (write-cert, write-text)
	Challenge []byte `json:"challenge"`        // from GET CHALLENGE, 8 bytes
	// Reservation is the id of an open Reservation, for a reset-pin at an
	// unattended kiosk: the server checks that it is open, for this card
	// and for the PIN whose reference is Ref, and not expired, and marks
	// it used in the same transaction as the authorisation. A bad one is
	// refused with CodeReservationInvalid. Only with reset-pin.
	Reservation string `json:"reservation,omitempty"`
}

// Authorisation: the cryptogram out, for EXTERNAL AUTHENTICATE.
type Authorisation struct {
	ID         string    `json:"id"`
	Cryptogram []byte    `json:"cryptogram"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Reservation PINs: the PIN a kiosk reset may set.
const (
	ReservationPINSign = "sign" // the signature password (key reference 0x1B)
	ReservationPINAuth = "auth" // the user-authentication PIN (key reference 0x18)
)

// Reservation states. "expired" is an open reservation past ExpiresAt.
const (
	ReservationOpen    = "open"
	ReservationUsed    = "used"
	ReservationExpired = "expired"
)

// Reservation is the central system's record that a citizen passed a
// remote face check (on their smartphone) for a PIN reset at an
// unattended kiosk (domain.md §1, §2). POST /v1/reservations creates one
// from CardSerial and PIN; the server fills in the rest. The kiosk shows
// the card and the OTHER PIN and sends the id with its reset-pin
// authorisation, which uses it up.
type Reservation struct {
	ID         string    `json:"id,omitempty"`
	CardSerial string    `json:"cardSerial"`
	PIN        string    `json:"pin"`             // ReservationPINSign or ReservationPINAuth: the PIN to reset
	State      string    `json:"state,omitempty"` // ReservationOpen, ReservationUsed, ReservationExpired
	CreatedAt  time.Time `json:"createdAt,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
}

// PhoneChallengeTTL is how long a phone challenge may be used.
const PhoneChallengeTTL = 2 * time.Minute

// PhoneChallenge is a one-time challenge for a phone's key attestation
// (POST /v1/phone-challenges): the terminal passes it to the phone's
// GENERATE KEY, and the attestation signs it. It is used up by the phone
// credential it is sent with; a refused request uses nothing.
type PhoneChallenge struct {
	Challenge []byte    `json:"challenge"` // 32 random bytes
	ExpiresAt time.Time `json:"expiresAt"`
}

// PhoneRequest asks for a smartphone credential (POST /v1/phones).
type PhoneRequest struct {
	CardSerial string `json:"cardSerial"`
	DeviceID   string `json:"deviceId"`
	// Attestation is the phone's GENERATE KEY answer (7F50, see
	// drivers/phone): the secure element's signed statement that it made
	// PublicKey in answer to Challenge, inside the named secure element
	// and wallet app, under an attestation certificate from its vendor.
	// The server accepts it only when the secure element and app are an
	// approved pair on its allow-list and the certificate chains to that
	// entry's vendor root.
	Attestation []byte `json:"attestation"`
	// Challenge is the one from POST /v1/phone-challenges the attestation
	// signs: issued to this terminal, unused, unexpired.
	Challenge []byte `json:"challenge"`
	// SecureElement and App are optional: the attested ones count; when
	// given they must be the attested ones.
	SecureElement string `json:"secureElement,omitempty"`
	App           string `json:"app,omitempty"`
	PublicKey     []byte `json:"publicKey"` // DER SPKI, the attested key
	Proof         []byte `json:"proof"`     // PoP over PoPMessage(cardSerial, "phone", publicKey)
	// Replace must be true when the holder already has an active (or
	// suspended) phone: the clerk confirmed that the old one is revoked.
	Replace bool `json:"replace"`
}

// Phone is a smartphone credential. State is good, suspended or revoked.
type Phone struct {
	ID            string      `json:"id"`
	CardSerial    string      `json:"cardSerial"`
	DeviceID      string      `json:"deviceId"`
	State         CertState   `json:"state"`
	SecureElement string      `json:"secureElement,omitempty"` // as attested
	App           string      `json:"app,omitempty"`
	AppVersion    string      `json:"appVersion,omitempty"`
	CreatedAt     time.Time   `json:"createdAt,omitzero"`
	Certificate   Certificate `json:"certificate"`
	Replaced      string      `json:"replaced,omitempty"` // the phone this one replaced
}

// Notice codes (the names of drivers/phone.NoticeCode).
const (
	NoticeRevoked   = "revoked"
	NoticeSuspended = "suspended"
	NoticeResumed   = "resumed"
)

// Notice reasons: why the phone credential changed state.
const (
	NoticeReasonCardRevoked     = "cardRevoked"            // the card was revoked
	NoticeReasonCardReturned    = "cardReturned"           // the card was returned
	NoticeReasonCardExpired     = "cardExpired"            // the card expired
	NoticeReasonCardSuspended   = "cardSuspended"          // the card was suspended (lost)
	NoticeReasonCardResumed     = "cardResumed"            // the card's suspension was lifted
	NoticeReasonAuthCertRevoked = "authCertificateRevoked" // the card's authentication certificate was revoked
	NoticeReasonReplaced        = "replaced"               // a new phone took its place
	NoticeReasonRevoked         = "revokedAtCounter"       // DELETE /v1/phones/{id}
	NoticeReasonPhoneSuspended  = "phoneSuspended"         // POST /v1/phones/{id}/suspension
	NoticeReasonPhoneResumed    = "phoneResumed"           // DELETE /v1/phones/{id}/suspension
)

// PhoneNotice is a message for the phone, recorded when its credential
// changed state while the phone was perhaps not at hand (GET
// /v1/phones/{id}/notices; ?after=ID lists the newer ones only). A
// terminal delivers them to the phone at its next tap (PUT NOTICE).
type PhoneNotice struct {
	ID      int64     `json:"id"` // increasing
	PhoneID string    `json:"phoneId"`
	Code    string    `json:"code"`   // NoticeRevoked, NoticeSuspended, NoticeResumed
	Reason  string    `json:"reason"` // NoticeReason*
	At      time.Time `json:"at"`
}

// MdocRequest asks for a My Number Card mdoc for an active phone
// credential (POST /v1/phones/{id}/mdoc). The holder's attributes come
// from the card record; the individual number is never put in.
type MdocRequest struct {
	// DeviceKey is the DER SPKI of the key (ECDSA P-256) in the phone the
	// mdoc is bound to.
	DeviceKey []byte `json:"deviceKey"`
	// Portrait is the card's face photo as read from the card (JPEG 2000;
	// JPEG is taken too). Empty: the mdoc carries no portrait.
	Portrait []byte `json:"portrait,omitempty"`
	// Attestation is the phone's GENERATE KEY answer (7F50) for DeviceKey
	// and Challenge a fresh one from POST /v1/phone-challenges it signs,
	// as for the phone credential itself: the key must have been made in
	// the secure element and wallet app of that credential. Required.
	Attestation []byte `json:"attestation"`
	Challenge   []byte `json:"challenge"`
}

// Mdoc is an issued mdoc.
type Mdoc struct {
	// IssuerSigned is the ISO 18013-5 IssuerSigned structure (CBOR).
	IssuerSigned []byte    `json:"issuerSigned"`
	DocType      string    `json:"docType"`
	ValidUntil   time.Time `json:"validUntil"`
}

// OfferRequest asks for an OpenID4VCI credential offer for a phone
// credential (POST /v1/phones/{id}/offers).
type OfferRequest struct {
	// Portrait as in MdocRequest: the credential issued on the offer
	// carries it.
	Portrait []byte `json:"portrait,omitempty"`
}

// Offer is a credential offer for the citizen's wallet: OfferURI goes
// into a QR code, TxCode is shown at the counter for the citizen to type
// on the phone. The offer is good once, until ExpiresAt, and dies after
// MaxTxCodeTries wrong transaction codes.
type Offer struct {
	OfferURI  string    `json:"offerURI"` // openid-credential-offer://?credential_offer=…
	TxCode    string    `json:"txCode"`   // 6 digits
	ExpiresAt time.Time `json:"expiresAt"`
}

// Event is one record for the central statistics (batched).
type Event struct {
	ID   string         `json:"id"` // unique per terminal; duplicates are ignored
	Type string         `json:"type"`
	At   time.Time      `json:"at"`
	Data map[string]any `json:"data,omitempty"` // no personal data
}

// Events is POST /v1/events.
type Events struct {
	Events []Event `json:"events"`
}

// EventsResult counts what the server took.
type EventsResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// Health is GET /v1/health.
type Health struct {
	Status   string    `json:"status"` // "ok"
	Time     time.Time `json:"time"`
	Terminal string    `json:"terminal"` // the caller, as the server sees it
}

// Problem is an RFC 9457 problem detail with a stable Code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// Problem codes: stable, for programs; titles are for people.
const (
	CodeBadRequest          = "bad-request"
	CodeUnauthorised        = "unauthorised"             // 401: no or unknown certificate
	CodeForbidden           = "forbidden"                // 403: terminal revoked or not allowed
	CodeNotFound            = "not-found"                // 404
	CodeInvalidTransition   = "invalid-transition"       // 409: card state does not allow it
	CodeCardState           = "card-state"               // 409: operation not allowed in this state
	CodeCertState           = "cert-state"               // 409: operation not allowed in the certificate's state
	CodeConflict            = "conflict"                 // 409: already exists
	CodeIdempotencyRequired = "idempotency-key-required" // 428
	CodeIdempotencyReused   = "idempotency-key-reused"   // 422: same key, different body
	CodeProofInvalid        = "proof-invalid"            // 422: proof of possession fails
	CodeAttestation         = "attestation-not-allowed"  // 422: attestation refused: pair not on the allow-list, wrong vendor, bad signature, challenge unknown or used
	CodePhoneActive         = "phone-active"             // 409: an active phone exists; confirm replacement
	CodeChallengeReused     = "challenge-reused"         // 409: this challenge was answered already
	CodeReservationInvalid  = "reservation-invalid"      // 409: the reservation is unknown, used, expired, or for another card or PIN
	CodeRateLimited         = "rate-limited"             // 429
	CodeInternal            = "internal"                 // 500
	CodeUnavailable         = "unavailable"              // 503 (also injected faults)
)

// ProblemType is the type URI of a code.
func ProblemType(code string) string { return "https://madoguchi.invalid/problems/" + code }

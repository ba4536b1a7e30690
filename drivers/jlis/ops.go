package jlis

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"madoguchi/drivers/jlis/api"
)

// ReasonCertificateHold is the CRL reason of a suspension (RFC 5280), the
// body Suspend sends.
const ReasonCertificateHold = "certificateHold"

// CanonicalSerial writes a certificate serial in hex the way the central
// system does (api.Certificate.Serial): upper case, no leading zeros, so
// that fmt's %x of a serial, or big.Int.Text(16), finds the certificate.
// A string that is not hex is returned as it is (the server will answer
// 404).
func CanonicalSerial(hexSerial string) string {
	if hexSerial == "" {
		return ""
	}
	for _, r := range hexSerial {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return hexSerial
		}
	}
	s := strings.TrimLeft(strings.ToUpper(hexSerial), "0")
	if s == "" {
		return "0"
	}
	return s
}

// CertSerial is a certificate's serial as the central system writes it.
func CertSerial(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// Health asks the central system whether it is up and who it thinks the
// caller is (GET /v1/health).
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var out api.Health
	err := c.do(ctx, call{op: "health", method: http.MethodGet, template: api.PathHealth, path: api.PathHealth, out: &out})
	return out, err
}

// RegisterCard records a manufactured card (POST /v1/cards). A card
// already registered is ErrConflict.
func (c *Client) RegisterCard(ctx context.Context, key IdempotencyKey, card api.NewCard) (api.Card, error) {
	var out api.Card
	if card.Serial == "" {
		return out, fmt.Errorf("jlis: register card: %w: empty serial", ErrInvalidRequest)
	}
	err := c.do(ctx, call{op: "register card", method: http.MethodPost, template: api.PathCards, path: api.PathCards, key: key, body: card, out: &out})
	return out, err
}

// Card reads a card record (GET /v1/cards/{serial}).
func (c *Client) Card(ctx context.Context, serial string) (api.Card, error) {
	var out api.Card
	p, err := fillPath(api.PathCard, "serial", serial)
	if err != nil {
		return out, fmt.Errorf("jlis: card: %w", err)
	}
	err = c.do(ctx, call{op: "card", method: http.MethodGet, template: api.PathCard, path: p, out: &out})
	return out, err
}

// Transition changes a card's state (POST
// /v1/cards/{serial}/transitions) and returns the record after it. A
// change api.Allowed does not permit is ErrConflict (invalid-transition).
func (c *Client) Transition(ctx context.Context, key IdempotencyKey, serial string, t api.Transition) (api.Card, error) {
	var out api.Card
	p, err := fillPath(api.PathCardTransition, "serial", serial)
	if err != nil {
		return out, fmt.Errorf("jlis: transition: %w", err)
	}
	err = c.do(ctx, call{op: "transition", method: http.MethodPost, template: api.PathCardTransition, path: p, key: key, body: t, out: &out})
	return out, err
}

// IssueCertificate asks for a certificate for a key generated on the card
// (POST /v1/cards/{serial}/certificates). req.Proof is the key's
// signature over api.PoPMessage; a bad one is a 422 proof-invalid
// (ErrRejected).
func (c *Client) IssueCertificate(ctx context.Context, key IdempotencyKey, serial string, req api.CertRequest) (api.Certificate, error) {
	var out api.Certificate
	p, err := fillPath(api.PathCardCerts, "serial", serial)
	if err != nil {
		return out, fmt.Errorf("jlis: issue certificate: %w", err)
	}
	err = c.do(ctx, call{op: "issue certificate", method: http.MethodPost, template: api.PathCardCerts, path: p, key: key, body: req, out: &out})
	return out, err
}

// ChangeDetails records a change of the holder's details at the central
// system (券面記載事項変更, POST /v1/cards/{serial}/details): the record's
// basic four items are updated, the card's signature certificates are
// revoked (reason affiliationChanged; a new one is issued with
// IssueCertificate), and the answer holds the new input-assist EFs,
// signed by the card issuer, for the terminal to write under OpWriteText
// authorisations. d.MyNumberDigest is DF31 of the card's current
// integrity record: the individual number itself is never sent. A card
// that is not issued is ErrConflict (card-state).
func (c *Client) ChangeDetails(ctx context.Context, key IdempotencyKey, serial string, d api.DetailsChange) (api.TextData, error) {
	var out api.TextData
	p, err := fillPath(api.PathCardDetails, "serial", serial)
	if err != nil {
		return out, fmt.Errorf("jlis: change details: %w", err)
	}
	err = c.do(ctx, call{op: "change details", method: http.MethodPost, template: api.PathCardDetails, path: p, key: key, body: d, out: &out})
	return out, err
}

// CertificateStatus reads a certificate's state (GET
// /v1/certificates/{cert}); certSerial is the serial in hex.
func (c *Client) CertificateStatus(ctx context.Context, certSerial string) (api.CertStatus, error) {
	var out api.CertStatus
	p, err := fillPath(api.PathCertificate, "cert", CanonicalSerial(certSerial))
	if err != nil {
		return out, fmt.Errorf("jlis: certificate status: %w", err)
	}
	err = c.do(ctx, call{op: "certificate status", method: http.MethodGet, template: api.PathCertificate, path: p, out: &out})
	return out, err
}

// Revoke revokes a certificate for good (POST
// /v1/certificates/{cert}/revocation) and returns its status after.
func (c *Client) Revoke(ctx context.Context, key IdempotencyKey, certSerial string, r api.Revocation) (api.CertStatus, error) {
	var out api.CertStatus
	p, err := fillPath(api.PathCertRevocation, "cert", CanonicalSerial(certSerial))
	if err != nil {
		return out, fmt.Errorf("jlis: revoke: %w", err)
	}
	err = c.do(ctx, call{op: "revoke", method: http.MethodPost, template: api.PathCertRevocation, path: p, key: key, body: r, out: &out})
	return out, err
}

// Suspend suspends a certificate (POST
// /v1/certificates/{cert}/suspension, reason certificateHold) and returns
// its status after.
func (c *Client) Suspend(ctx context.Context, key IdempotencyKey, certSerial string) (api.CertStatus, error) {
	var out api.CertStatus
	p, err := fillPath(api.PathCertSuspension, "cert", CanonicalSerial(certSerial))
	if err != nil {
		return out, fmt.Errorf("jlis: suspend: %w", err)
	}
	err = c.do(ctx, call{op: "suspend", method: http.MethodPost, template: api.PathCertSuspension, path: p, key: key,
		body: api.Revocation{Reason: ReasonCertificateHold}, out: &out})
	return out, err
}

// Lift lifts a certificate's suspension (DELETE
// /v1/certificates/{cert}/suspension) and returns its status after.
func (c *Client) Lift(ctx context.Context, key IdempotencyKey, certSerial string) (api.CertStatus, error) {
	var out api.CertStatus
	p, err := fillPath(api.PathCertSuspension, "cert", CanonicalSerial(certSerial))
	if err != nil {
		return out, fmt.Errorf("jlis: lift suspension: %w", err)
	}
	err = c.do(ctx, call{op: "lift suspension", method: http.MethodDelete, template: api.PathCertSuspension, path: p, key: key, out: &out})
	return out, err
}

// Authorise relays the card's challenge and gets the cryptogram for
// EXTERNAL AUTHENTICATE (POST /v1/cards/{serial}/authorisations;
// docs/CARD-COMMANDS.md §2). A challenge answered before is ErrConflict
// (challenge-reused); an operation the card's state does not allow is
// ErrConflict (card-state).
func (c *Client) Authorise(ctx context.Context, key IdempotencyKey, cardSerial string, req api.AuthoriseRequest) (api.Authorisation, error) {
	var out api.Authorisation
	p, err := fillPath(api.PathCardAuthorise, "serial", cardSerial)
	if err != nil {
		return out, fmt.Errorf("jlis: authorise: %w", err)
	}
	err = c.do(ctx, call{op: "authorise", method: http.MethodPost, template: api.PathCardAuthorise, path: p, key: key, body: req, out: &out})
	return out, err
}

// ChallengePhone gets a one-time challenge for a phone's key attestation
// (POST /v1/phone-challenges): the terminal passes it to the phone's
// GENERATE KEY and sends it back with the attestation in IssuePhone within
// api.PhoneChallengeTTL. It is bound to this terminal.
func (c *Client) ChallengePhone(ctx context.Context, key IdempotencyKey) (api.PhoneChallenge, error) {
	var out api.PhoneChallenge
	err := c.do(ctx, call{op: "phone challenge", method: http.MethodPost, template: api.PathPhoneChallenges, path: api.PathPhoneChallenges, key: key, out: &out})
	return out, err
}

// IssuePhone certifies a key generated in a phone's secure element (POST
// /v1/phones). req carries the phone's attestation and the challenge from
// ChallengePhone. An active phone without req.Replace is ErrConflict
// (phone-active); an attestation the server refuses — a secure element
// and app not on the allow-list, a certificate not from the approved
// vendor, a challenge unknown, used or expired — is a 422
// attestation-not-allowed (ErrRejected) whose detail says which.
func (c *Client) IssuePhone(ctx context.Context, key IdempotencyKey, req api.PhoneRequest) (api.Phone, error) {
	var out api.Phone
	if req.CardSerial == "" {
		return out, fmt.Errorf("jlis: issue phone: %w: empty card serial", ErrInvalidRequest)
	}
	err := c.do(ctx, call{op: "issue phone", method: http.MethodPost, template: api.PathPhones, path: api.PathPhones, key: key, body: req, out: &out})
	return out, err
}

// Phone reads a phone credential (GET /v1/phones/{id}).
func (c *Client) Phone(ctx context.Context, id string) (api.Phone, error) {
	var out api.Phone
	p, err := fillPath(api.PathPhone, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: phone: %w", err)
	}
	err = c.do(ctx, call{op: "phone", method: http.MethodGet, template: api.PathPhone, path: p, out: &out})
	return out, err
}

// RevokePhone revokes a phone credential (DELETE /v1/phones/{id}) and
// returns it after.
func (c *Client) RevokePhone(ctx context.Context, key IdempotencyKey, id string) (api.Phone, error) {
	var out api.Phone
	p, err := fillPath(api.PathPhone, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: revoke phone: %w", err)
	}
	err = c.do(ctx, call{op: "revoke phone", method: http.MethodDelete, template: api.PathPhone, path: p, key: key, out: &out})
	return out, err
}

// Phones lists a card's phone credentials in every state, oldest first
// (GET /v1/cards/{serial}/phones). An unknown card is ErrNotFound.
func (c *Client) Phones(ctx context.Context, serial string) ([]api.Phone, error) {
	var out []api.Phone
	p, err := fillPath(api.PathCardPhones, "serial", serial)
	if err != nil {
		return nil, fmt.Errorf("jlis: phones: %w", err)
	}
	if err := c.do(ctx, call{op: "phones", method: http.MethodGet, template: api.PathCardPhones, path: p, out: &out}); err != nil {
		return nil, err
	}
	if out == nil {
		out = []api.Phone{}
	}
	return out, nil
}

// SuspendPhone suspends a phone credential, e.g. of a lost phone (POST
// /v1/phones/{id}/suspension; the certificate's CRL reason is
// certificateHold), and returns it after. One that is not good is
// ErrConflict (cert-state).
func (c *Client) SuspendPhone(ctx context.Context, key IdempotencyKey, id string) (api.Phone, error) {
	var out api.Phone
	p, err := fillPath(api.PathPhoneSuspension, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: suspend phone: %w", err)
	}
	err = c.do(ctx, call{op: "suspend phone", method: http.MethodPost, template: api.PathPhoneSuspension, path: p, key: key, out: &out})
	return out, err
}

// LiftPhone lifts a phone credential's suspension (DELETE
// /v1/phones/{id}/suspension) and returns it after. One that is not
// suspended is ErrConflict (cert-state); while the card itself is
// suspended, ErrConflict (card-state).
func (c *Client) LiftPhone(ctx context.Context, key IdempotencyKey, id string) (api.Phone, error) {
	var out api.Phone
	p, err := fillPath(api.PathPhoneSuspension, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: lift phone: %w", err)
	}
	err = c.do(ctx, call{op: "lift phone", method: http.MethodDelete, template: api.PathPhoneSuspension, path: p, key: key, out: &out})
	return out, err
}

// PhoneNotices lists the notices recorded for a phone (revoked by the
// card's cascade, replaced, suspended, resumed), oldest first, those with
// an id above after only (0: all) (GET /v1/phones/{id}/notices). A
// terminal delivers them to the phone at its next tap and remembers the
// last id it delivered.
func (c *Client) PhoneNotices(ctx context.Context, id string, after int64) ([]api.PhoneNotice, error) {
	var out []api.PhoneNotice
	p, err := fillPath(api.PathPhoneNotices, "id", id)
	if err != nil {
		return nil, fmt.Errorf("jlis: phone notices: %w", err)
	}
	if after > 0 {
		p += "?after=" + strconv.FormatInt(after, 10)
	}
	if err := c.do(ctx, call{op: "phone notices", method: http.MethodGet, template: api.PathPhoneNotices, path: p, out: &out}); err != nil {
		return nil, err
	}
	if out == nil {
		out = []api.PhoneNotice{}
	}
	return out, nil
}

// IssueMdoc gets a My Number Card mdoc (ISO/IEC 18013-5, docType
// api.MdocDocType) for an active phone credential, bound to the phone key
// req.DeviceKey (POST /v1/phones/{id}/mdoc). The holder's attributes come
// from the card record; req.Portrait is the card's face photo as read
// from the card. The answer's IssuerSigned is the CBOR to store on the
// phone. A phone credential that is not good is ErrConflict (cert-state).
func (c *Client) IssueMdoc(ctx context.Context, key IdempotencyKey, id string, req api.MdocRequest) (api.Mdoc, error) {
	var out api.Mdoc
	p, err := fillPath(api.PathPhoneMdoc, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: issue mdoc: %w", err)
	}
	err = c.do(ctx, call{op: "issue mdoc", method: http.MethodPost, template: api.PathPhoneMdoc, path: p, key: key, body: req, out: &out})
	return out, err
}

// CreateOffer makes an OpenID4VCI credential offer (pre-authorised code
// with a 6-digit transaction code) for an active phone credential's
// wallet (POST /v1/phones/{id}/offers): show OfferURI as a QR code and
// TxCode to the citizen, who types it on the phone.
func (c *Client) CreateOffer(ctx context.Context, key IdempotencyKey, id string, req api.OfferRequest) (api.Offer, error) {
	var out api.Offer
	p, err := fillPath(api.PathPhoneOffers, "id", id)
	if err != nil {
		return out, fmt.Errorf("jlis: create offer: %w", err)
	}
	err = c.do(ctx, call{op: "create offer", method: http.MethodPost, template: api.PathPhoneOffers, path: p, key: key, body: req, out: &out})
	return out, err
}

// SendEvents delivers a batch of at most api.MaxEventsPerRequest events
// (POST /v1/events); events whose ID the server has seen count as
// duplicates. A larger batch is refused before sending: split it, one key
// per batch.
func (c *Client) SendEvents(ctx context.Context, key IdempotencyKey, ev api.Events) (api.EventsResult, error) {
	var out api.EventsResult
	if len(ev.Events) > api.MaxEventsPerRequest {
		return out, fmt.Errorf("jlis: send events: %w: %d events, at most %d per request",
			ErrInvalidRequest, len(ev.Events), api.MaxEventsPerRequest)
	}
	if ev.Events == nil {
		ev.Events = []api.Event{}
	}
	err := c.do(ctx, call{op: "send events", method: http.MethodPost, template: api.PathEvents, path: api.PathEvents, key: key, body: ev, out: &out})
	return out, err
}

// CreateReservation records that the holder of a card passed a remote
// face check for a PIN reset at an unattended kiosk (POST
// /v1/reservations): r.CardSerial and r.PIN (api.ReservationPINSign or
// api.ReservationPINAuth, the PIN to reset) are required, the server
// fills in the id, state and times. In reality the smartphone face-check
// service creates reservations; the reference server accepts them from
// any terminal. A card that is not issued is ErrConflict (card-state);
// an unknown card ErrNotFound.
func (c *Client) CreateReservation(ctx context.Context, key IdempotencyKey, r api.Reservation) (api.Reservation, error) {
	var out api.Reservation
	if r.CardSerial == "" {
		return out, fmt.Errorf("jlis: create reservation: %w: empty card serial", ErrInvalidRequest)
	}
	err := c.do(ctx, call{op: "create reservation", method: http.MethodPost, template: api.PathReservations, path: api.PathReservations, key: key, body: r, out: &out})
	return out, err
}

// Reservations lists a card's open reservations, oldest first (GET
// /v1/cards/{serial}/reservations): neither used nor expired. A kiosk
// sends one's id with its reset-pin authorisation
// (api.AuthoriseRequest.Reservation).
func (c *Client) Reservations(ctx context.Context, serial string) ([]api.Reservation, error) {
	var out []api.Reservation
	p, err := fillPath(api.PathCardReservations, "serial", serial)
	if err != nil {
		return nil, fmt.Errorf("jlis: reservations: %w", err)
	}
	if err := c.do(ctx, call{op: "reservations", method: http.MethodGet, template: api.PathCardReservations, path: p, out: &out}); err != nil {
		return nil, err
	}
	if out == nil {
		out = []api.Reservation{}
	}
	return out, nil
}

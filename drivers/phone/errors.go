package phone

import (
	"errors"
	"fmt"
)

// Errors of the wallet. Flows test them with errors.Is and errors.As.
// Transport failures keep the card package's errors (card.ErrCardRemoved:
// the phone left the reader; card.ErrReaderGone), wrapped.
var (
	// ErrNotWallet: SELECT of the wallet AID failed (6A82): the thing on
	// the reader is not a phone with the Madoguchi wallet (a card, or a
	// phone without the app, or with the app closed).
	ErrNotWallet = errors.New("phone: no wallet application")
	// ErrNeedsApproval (6982 to SIGN): the holder has not approved a
	// signature on the phone, or the approval expired or was used. Ask the
	// holder to approve on the phone, then send SIGN again.
	ErrNeedsApproval = errors.New("phone: the holder has not approved a signature on the phone")
	// ErrNotFound (6A88): no such key or credential on the phone.
	ErrNotFound = errors.New("phone: key or credential not found")
	// ErrExists (6A89): a credential with this id is already stored.
	ErrExists = errors.New("phone: credential already exists")
	// ErrFull (6A84): no room for another key, credential or for data this
	// large.
	ErrFull = errors.New("phone: not enough memory")
	// ErrRefused (6985): the phone refuses in its current state, e.g.
	// reactivating a revoked credential.
	ErrRefused = errors.New("phone: conditions of use not satisfied")
	// ErrRejected (6A80, 6700, 6A86): the phone found the command's data
	// or parameters wrong.
	ErrRejected = errors.New("phone: command data rejected")
	// ErrMalformed: the phone answered with bytes that do not parse.
	ErrMalformed = errors.New("phone: malformed response")
	// ErrInvalid: the caller's argument is out of range; nothing was sent.
	ErrInvalid = errors.New("phone: invalid argument")
)

// Attestation errors (ParseAttestation, Attestation.Verify). The central
// system maps them to its refusal reasons.
var (
	// ErrAttestationFormat: the bytes are not a well-formed attestation.
	ErrAttestationFormat = errors.New("phone: malformed attestation")
	// ErrAttestationSignature: the attestation signature does not verify
	// with the attestation certificate's key (tampered content).
	ErrAttestationSignature = errors.New("phone: attestation signature invalid")
	// ErrAttestationUntrusted: the attestation certificate does not chain
	// to an approved secure-element vendor (or is expired).
	ErrAttestationUntrusted = errors.New("phone: attestation certificate not trusted")
	// ErrAttestationChallenge: the attestation answers another challenge.
	ErrAttestationChallenge = errors.New("phone: attestation challenge mismatch")
)

// StatusError is any status word the driver does not map.
type StatusError struct {
	Command string // e.g. "PUT CREDENTIAL"
	SW      uint16
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("phone: %s: status %04X", e.Command, e.SW)
}

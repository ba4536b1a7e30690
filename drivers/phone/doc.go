// Package phone is the terminal's driver for a smartphone wallet: the
// holder's phone, held to the counter's contactless reader, answers
// ISO/IEC 7816-4 APDUs through NFC host-card emulation, reached through
// the same PC/SC reader as the Individual Number Card (issue #9,
// domain.md §5).
//
// The real provisioning interface of phone credentials is not public
// (domain.md §4). Madoguchi defines its own, documented byte by byte in
// docs/PHONE-COMMANDS.md: SELECT the wallet by its proprietary AID,
// GET DEVICE INFO, GENERATE KEY (a P-256 key in the secure element, with
// an attestation signed by the secure element's vendor-certified key),
// SIGN (only after the holder approved on the phone), PUT CREDENTIAL,
// GET STATUS, DELETE CREDENTIAL, SET STATE and PUT NOTICE.
//
// The attestation types (Attestation, ParseAttestation, Verify) are also
// what the central system uses; they depend on nothing terminal-only.
// The virtual phone is in drivers/phone/sim.
package phone

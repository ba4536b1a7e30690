package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/mdoc"
)

// The My Number Card mdoc (docs/JLIS-API.md §6.3), signed by the
// simulator's document signer under its IACA root.

// mdocVia says how an mdoc left the central system (phone_mdocs.via).
const (
	viaTerminal = "terminal"
	viaVCI      = "openid4vci"
)

// parseDeviceKey reads the DER SPKI of an mdoc device key: ECDSA P-256.
func parseDeviceKey(spki []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, refuse(400, api.CodeBadRequest, "deviceKey: %v", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, refuse(400, api.CodeBadRequest, "deviceKey: an ECDSA P-256 key is required")
	}
	return pub, nil
}

// checkPortrait accepts the card's face photo as read from the card: JPEG
// 2000 (a JP2 file or a bare codestream), or JPEG; ISO 18013-5 allows both.
func checkPortrait(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A}), // JP2 signature box
		bytes.HasPrefix(b, []byte{0xFF, 0x4F, 0xFF, 0x51}), // J2K codestream: SOC, SIZ
		bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):       // JPEG
		return nil
	}
	return refuse(400, api.CodeBadRequest, "portrait: JPEG 2000 (as read from the card) or JPEG")
}

// mdocElements are the elements of a holder's My Number Card mdoc, from
// the card record: the Japan-specific ones and the ISO 23220-2 ones.
// individual_number_unicode is left out on purpose: a verifier gets no
// more than it needs (domain.md §2), and the central API never carries
// the individual number (docs/JLIS-API.md §1).
func mdocElements(c api.Card, portrait []byte, now time.Time) (jp, iso map[string]any, err error) {
	h := c.Holder
	birth, err := time.Parse("20060102", h.BirthDate)
	if err != nil {
		return nil, nil, fmt.Errorf("card %s: birth date %q: %w", c.Serial, h.BirthDate, err)
	}
	age := jpki.AgeAt(h.BirthDate, now)
	jp = map[string]any{
		"full_name_unicode":  h.Name,
		"birth_date_unicode": fmt.Sprintf("%d年%d月%d日", birth.Year(), int(birth.Month()), birth.Day()),
	}
	if h.Address != "" {
		jp["resident_address_unicode"] = h.Address
	}
	if c.Municipality != "" {
		jp["local_gov_code_unicode"] = c.Municipality
	}
	if len(portrait) > 0 {
		jp["portrait"] = portrait
	}
	iso = map[string]any{
		"birth_date":   mdoc.FullDate(birth.Format("2006-01-02")),
		"age_in_years": uint(max(age, 0)),
		"age_over_20":  age >= 20,
	}
	// ISO/IEC 5218: 0 not known, 1 male, 2 female, 9 not applicable.
	switch h.Sex {
	case "1":
		jp["sex_unicode"] = "男"
		iso["sex"] = uint(1)
	case "2":
		jp["sex_unicode"] = "女"
		iso["sex"] = uint(2)
	case "0", "9":
		iso["sex"] = uint(h.Sex[0] - '0')
	}
	return jp, iso, nil
}

// makeMdoc issues the mdoc of an active phone credential's holder, bound
// to deviceKey, valid until the phone certificate's end, and records it.
// keyOK, when given, vouches for the key once the phone credential is
// loaded (the terminal's path checks its attestation; OpenID4VCI's proof
// was checked before).
func (s *server) makeMdoc(ctx context.Context, tx querier, phoneID string, spki, portrait []byte, via string, keyOK func(api.Phone) error) (api.Mdoc, error) {
	var out api.Mdoc
	dk, err := parseDeviceKey(spki)
	if err != nil {
		return out, err
	}
	if err := checkPortrait(portrait); err != nil {
		return out, err
	}
	p, err := s.loadPhone(ctx, tx, phoneID)
	if err != nil {
		return out, err
	}
	if keyOK != nil {
		if err := keyOK(p); err != nil {
			return out, err
		}
	}
	if p.State != api.CertGood {
		return out, refuse(409, api.CodeCertState, "the phone credential is %s", p.State)
	}
	c, err := s.cardForUpdate(ctx, tx, p.CardSerial)
	if err != nil {
		return out, err
	}
	if c.State != api.StateIssued {
		return out, refuse(409, api.CodeCardState, "an mdoc needs an issued card, this one is %s", c.State)
	}
	now := s.now().UTC().Truncate(time.Second)
	jp, iso, err := mdocElements(c, portrait, now)
	if err != nil {
		return out, err
	}
	until := p.Certificate.NotAfter
	if !until.After(now) {
		return out, refuse(409, api.CodeCertState, "the phone credential has expired")
	}
	b, err := mdoc.Issue(mdoc.IssueInput{
		DocType: api.MdocDocType, Namespace: api.MdocNamespaceJP, Elements: jp,
		More:      map[string]map[string]any{api.MdocNamespaceISO: iso},
		DeviceKey: dk, ValidFrom: now, ValidUntil: until, Signed: now,
		SignerKey: s.docSigner.Key, SignerChain: [][]byte{s.docSigner.Cert.Raw},
	})
	if err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO phone_mdocs (phone_id, doc_type, device_key, via, terminal, issued_at, valid_until) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, api.MdocDocType, spki, via, terminalName(ctx), ts(now), ts(until)); err != nil {
		return out, err
	}
	return api.Mdoc{IssuerSigned: b, DocType: api.MdocDocType, ValidUntil: until.UTC()}, nil
}

// issueMdoc is POST /v1/phones/{id}/mdoc.
func (s *server) issueMdoc(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.MdocRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	// The device key must be attested over a challenge of this terminal's,
	// by the secure element and app of the phone credential; the
	// challenge is used up by the mdoc (in this transaction: a refusal
	// uses nothing).
	m, err := s.makeMdoc(ctx, tx, r.PathValue("id"), req.DeviceKey, req.Portrait, viaTerminal, func(ph api.Phone) error {
		if len(req.Attestation) == 0 || len(req.Challenge) == 0 {
			return refuse(400, api.CodeBadRequest, "attestation and challenge are required: POST %s, then the phone's GENERATE KEY for the mdoc key", api.PathPhoneChallenges)
		}
		if err := s.checkChallenge(ctx, tx, req.Challenge); err != nil {
			return err
		}
		att, err := s.verifyAttestation(api.PhoneRequest{Attestation: req.Attestation, Challenge: req.Challenge, PublicKey: req.DeviceKey})
		if err != nil {
			return err
		}
		if att.SecureElement != ph.SecureElement || att.App != ph.App {
			return attestationRefused("the mdoc key was made in secure element %q with app %q, the phone credential's in %q with %q",
				att.SecureElement, att.App, ph.SecureElement, ph.App)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if err := s.useChallenge(ctx, tx, req.Challenge, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return 201, m, nil
}

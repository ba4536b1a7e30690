package sim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/phone"
)

// Phone credentials (docs/JLIS-API.md §6): key attestation against the
// allow-list, issuance, listing, suspension, revocation, notices.

// phoneChallengeLen is the size of a phone challenge (the phone takes 16
// to 64 bytes, drivers/phone.MinChallenge..MaxChallenge).
const phoneChallengeLen = 32

// phoneChallenge issues a one-time challenge for a phone's GENERATE KEY
// (POST /v1/phone-challenges), bound to the calling terminal.
func (s *server) phoneChallenge(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	if len(bytes.TrimSpace(body)) > 0 {
		var none struct{}
		if err := decode(body, &none); err != nil {
			return 0, nil, err
		}
	}
	now := s.now()
	ch := randBytes(phoneChallengeLen)
	exp := now.Add(api.PhoneChallengeTTL)
	if _, err := tx.ExecContext(ctx, `INSERT INTO phone_challenges (challenge, terminal, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		ch, terminalName(ctx), ts(now), ts(exp)); err != nil {
		return 0, nil, err
	}
	return 201, api.PhoneChallenge{Challenge: ch, ExpiresAt: exp.UTC()}, nil
}

// attestationRefused is a 422 attestation-not-allowed.
func attestationRefused(format string, args ...any) error {
	return refuse(422, api.CodeAttestation, format, args...)
}

// checkChallenge refuses a challenge this terminal was not given, or that
// is used or expired.
func (s *server) checkChallenge(ctx context.Context, tx querier, challenge []byte) error {
	var exp, used string
	err := tx.QueryRowContext(ctx, `SELECT expires_at, used_at FROM phone_challenges WHERE challenge = ? AND terminal = ?`, challenge, terminalName(ctx)).Scan(&exp, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && used != ""):
		return attestationRefused("challenge unknown or used: ask for a new one (POST %s) and generate the key again", api.PathPhoneChallenges)
	case err != nil:
		return err
	case !s.now().Before(parseTS(exp)):
		return attestationRefused("challenge expired at %s: ask for a new one (POST %s) and generate the key again", parseTS(exp).UTC().Format(time.RFC3339), api.PathPhoneChallenges)
	}
	return nil
}

// useChallenge marks a challenge used by what it was granted for (the
// phone credential phoneID, or an mdoc of it).
func (s *server) useChallenge(ctx context.Context, tx querier, challenge []byte, phoneID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE phone_challenges SET used_at = ?, phone_id = ? WHERE challenge = ? AND used_at = ''`, ts(s.now()), phoneID, challenge)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return attestationRefused("challenge unknown or used")
	}
	return nil
}

// verifyAttestation checks a phone's key attestation: it is well formed,
// signs the request's challenge, its secure element and app are an
// approved pair, its certificate chains to that pair's vendor root, and
// the key it attests is the request's public key.
func (s *server) verifyAttestation(req api.PhoneRequest) (phone.Attestation, error) {
	att, err := phone.ParseAttestation(req.Attestation)
	if err != nil {
		return att, attestationRefused("attestation malformed: %v", err)
	}
	if subtle.ConstantTimeCompare(att.Challenge, req.Challenge) != 1 {
		return att, attestationRefused("the attestation signs another challenge than the request's")
	}
	if (req.SecureElement != "" && req.SecureElement != att.SecureElement) || (req.App != "" && req.App != att.App) {
		return att, attestationRefused("the request names secure element %q with app %q, the attestation %q with %q",
			req.SecureElement, req.App, att.SecureElement, att.App)
	}
	var entry *allowEntry
	for i := range s.allow {
		if s.allow[i].SecureElement == att.SecureElement && s.allow[i].App == att.App {
			entry = &s.allow[i]
			break
		}
	}
	if entry == nil {
		return att, attestationRefused("secure element %q with app %q is not on the allow-list", att.SecureElement, att.App)
	}
	if entry.roots == nil {
		return att, attestationRefused("the allow-list entry for secure element %q with app %q has no vendor root", att.SecureElement, att.App)
	}
	if err := att.Verify(entry.roots); err != nil {
		vendor := entry.Vendor
		if vendor == "" {
			vendor = "its vendor"
		}
		switch {
		case errors.Is(err, phone.ErrAttestationUntrusted):
			return att, attestationRefused("attestation does not chain to the approved vendor (%s) of secure element %q with app %q: %v", vendor, att.SecureElement, att.App, err)
		case errors.Is(err, phone.ErrAttestationSignature):
			return att, attestationRefused("attestation signature invalid: %v", err)
		default:
			return att, attestationRefused("attestation refused: %v", err)
		}
	}
	if !bytes.Equal(att.SPKI, req.PublicKey) {
		return att, attestationRefused("the attested key is not the request's publicKey")
	}
	return att, nil
}

func (s *server) issuePhone(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.PhoneRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.DeviceID == "" {
		return 0, nil, refuse(400, api.CodeBadRequest, "deviceId is required")
	}
	if len(req.Attestation) == 0 || len(req.Challenge) == 0 {
		return 0, nil, refuse(400, api.CodeBadRequest, "attestation and challenge are required: POST %s, then the phone's GENERATE KEY", api.PathPhoneChallenges)
	}
	if err := s.checkChallenge(ctx, tx, req.Challenge); err != nil {
		return 0, nil, err
	}
	att, err := s.verifyAttestation(req)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.cardForUpdate(ctx, tx, req.CardSerial)
	if err != nil {
		return 0, nil, err
	}
	if c.State != api.StateIssued {
		return 0, nil, refuse(409, api.CodeCardState, "phone credentials need an issued card, this one is %s", c.State)
	}
	var authNotAfter string
	err = tx.QueryRowContext(ctx, `SELECT not_after FROM certificates WHERE card_serial = ? AND purpose = 'auth' AND state = 'good' ORDER BY not_before DESC LIMIT 1`, c.Serial).Scan(&authNotAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, refuse(409, api.CodeCardState, "the card has no valid authentication certificate")
	}
	if err != nil {
		return 0, nil, err
	}
	pub, err := checkProof(c.Serial, api.CAPhone, req.PublicKey, req.Proof)
	if err != nil {
		return 0, nil, err
	}
	// One phone per holder: a suspended one (a lost phone) counts too.
	var oldID, oldCert string
	err = tx.QueryRowContext(ctx, `SELECT id, cert_serial FROM phones WHERE card_serial = ? AND state IN ('good', 'suspended')`, c.Serial).Scan(&oldID, &oldCert)
	now := s.now()
	switch {
	case err == nil && !req.Replace:
		return 0, nil, refuse(409, api.CodePhoneActive, "the holder has an active phone; confirm its replacement")
	case err == nil:
		if err := s.notePhone(ctx, tx, oldID, api.NoticeRevoked, api.NoticeReasonReplaced); err != nil {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE phones SET state = 'revoked' WHERE id = ?`, oldID); err != nil {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET state = 'revoked', revoked_at = ?, reason = 'superseded' WHERE serial = ?`, ts(now), oldCert); err != nil {
			return 0, nil, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return 0, nil, err
	}
	cert, err := issue(jpki.PhoneTemplate(now.UTC().Truncate(time.Second).Add(-time.Minute), parseTS(authNotAfter), s.endpoints(api.CAPhone)), s.cas[api.CAPhone], pub)
	if err != nil {
		return 0, nil, err
	}
	if err := s.storeCert(ctx, tx, api.CAPhone, api.CAPhone, c.Serial, cert); err != nil {
		return 0, nil, err
	}
	id := hex.EncodeToString(randBytes(12))
	if _, err := tx.ExecContext(ctx, `INSERT INTO phones (id, card_serial, device_id, secure_element, app, app_version, key_id, cert_serial, state, replaced, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'good', ?, ?)`,
		id, c.Serial, req.DeviceID, att.SecureElement, att.App, att.AppVersion, att.KeyID, certSerial(cert), oldID, ts(now)); err != nil {
		return 0, nil, err
	}
	// The challenge is used up by the credential it was granted with (in
	// this transaction: a refused request above uses nothing).
	if err := s.useChallenge(ctx, tx, req.Challenge, id); err != nil {
		return 0, nil, err
	}
	p, err := s.loadPhone(ctx, tx, id)
	return 201, p, err
}

func (s *server) loadPhone(ctx context.Context, q querier, id string) (api.Phone, error) {
	var p api.Phone
	var certSer, created string
	err := q.QueryRowContext(ctx, `SELECT id, card_serial, device_id, secure_element, app, app_version, cert_serial, state, replaced, created_at FROM phones WHERE id = ?`, id).
		Scan(&p.ID, &p.CardSerial, &p.DeviceID, &p.SecureElement, &p.App, &p.AppVersion, &certSer, &p.State, &p.Replaced, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return p, refuse(404, api.CodeNotFound, "no such phone credential")
	}
	if err != nil {
		return p, err
	}
	p.CreatedAt = parseTS(created)
	st, der, _, err := s.certStatus(ctx, q, certSer)
	if err != nil {
		return p, err
	}
	// A suspended card suspends the phone's certificate too.
	if p.State == api.CertGood && st.State == api.CertSuspended {
		p.State = api.CertSuspended
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return p, err
	}
	p.Certificate = s.apiCert(api.CAPhone, api.CAPhone, c)
	return p, nil
}

func (s *server) getPhone(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadPhone(r.Context(), s.db.DB, r.PathValue("id"))
	var pr *problem
	if errors.As(err, &pr) {
		writeProblem(w, pr)
		return
	}
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	writeJSON(w, 200, p)
}

// getCardPhones lists a card's phone credentials in every state, oldest
// first (GET /v1/cards/{serial}/phones).
func (s *server) getCardPhones(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	serial := r.PathValue("serial")
	var n int
	if err := s.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM cards WHERE serial = ?`, serial).Scan(&n); err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	} else if n == 0 {
		writeProblem(w, refuse(404, api.CodeNotFound, "no such card"))
		return
	}
	ids, err := queryStrings(ctx, s.db.DB, `SELECT id FROM phones WHERE card_serial = ? ORDER BY rowid`, serial)
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	out := []api.Phone{}
	for _, id := range ids {
		p, err := s.loadPhone(ctx, s.db.DB, id)
		if err != nil {
			writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
			return
		}
		out = append(out, p)
	}
	writeJSON(w, 200, out)
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// setPhoneState moves a phone credential and its certificate from one of
// the states in from to the state to, and records a notice.
func (s *server) setPhoneState(ctx context.Context, tx querier, id string, from []api.CertState, to api.CertState, code, reason string) (api.Phone, error) {
	p, err := s.loadPhone(ctx, tx, id)
	if err != nil {
		return p, err
	}
	var stored api.CertState
	if err := tx.QueryRowContext(ctx, `SELECT state FROM phones WHERE id = ?`, id).Scan(&stored); err != nil {
		return p, err
	}
	ok := false
	for _, f := range from {
		ok = ok || stored == f
	}
	if !ok {
		return p, refuse(409, api.CodeCertState, "the phone credential is %s", stored)
	}
	if to == api.CertGood {
		var cardState api.CardState
		if err := tx.QueryRowContext(ctx, `SELECT state FROM cards WHERE serial = ?`, p.CardSerial).Scan(&cardState); err != nil {
			return p, err
		}
		if cardState != api.StateIssued {
			return p, refuse(409, api.CodeCardState, "the card is %s: lift the card's suspension first", cardState)
		}
	}
	if err := s.notePhone(ctx, tx, id, code, reason); err != nil {
		return p, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE phones SET state = ? WHERE id = ?`, to, id); err != nil {
		return p, err
	}
	at, crlReason := ts(s.now()), ""
	switch to {
	case api.CertSuspended:
		crlReason = "certificateHold"
	case api.CertRevoked:
		crlReason = "cessationOfOperation"
	default:
		at = ""
	}
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET state = ?, revoked_at = ?, reason = ? WHERE serial = ?`, to, at, crlReason, p.Certificate.Serial); err != nil {
		return p, err
	}
	return s.loadPhone(ctx, tx, id)
}

// revokePhone revokes a phone credential for good (DELETE /v1/phones/{id}).
func (s *server) revokePhone(ctx context.Context, tx querier, r *http.Request, _ []byte) (int, any, error) {
	p, err := s.setPhoneState(ctx, tx, r.PathValue("id"), []api.CertState{api.CertGood, api.CertSuspended}, api.CertRevoked, api.NoticeRevoked, api.NoticeReasonRevoked)
	return 200, p, err
}

// suspendPhone suspends a phone credential, e.g. a lost phone (POST
// /v1/phones/{id}/suspension): the certificate is on hold (CRL reason
// certificateHold) until lifted.
func (s *server) suspendPhone(ctx context.Context, tx querier, r *http.Request, _ []byte) (int, any, error) {
	p, err := s.setPhoneState(ctx, tx, r.PathValue("id"), []api.CertState{api.CertGood}, api.CertSuspended, api.NoticeSuspended, api.NoticeReasonPhoneSuspended)
	return 200, p, err
}

// liftPhone lifts a phone credential's suspension (DELETE
// /v1/phones/{id}/suspension); the card must be issued (not suspended).
func (s *server) liftPhone(ctx context.Context, tx querier, r *http.Request, _ []byte) (int, any, error) {
	p, err := s.setPhoneState(ctx, tx, r.PathValue("id"), []api.CertState{api.CertSuspended}, api.CertGood, api.NoticeResumed, api.NoticeReasonPhoneResumed)
	return 200, p, err
}

// notePhone records a notice for one phone.
func (s *server) notePhone(ctx context.Context, tx querier, id, code, reason string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO phone_notices (phone_id, code, reason, at) VALUES (?, ?, ?, ?)`, id, code, reason, ts(s.now()))
	return err
}

// notePhones records a notice for each of a card's phones in one of the
// states.
func (s *server) notePhones(ctx context.Context, tx querier, cardSerial string, states []api.CertState, code, reason string) error {
	q := `INSERT INTO phone_notices (phone_id, code, reason, at) SELECT id, ?, ?, ? FROM phones WHERE card_serial = ? AND state IN (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(states)), ", ") + `) ORDER BY rowid`
	args := []any{code, reason, ts(s.now()), cardSerial}
	for _, st := range states {
		args = append(args, string(st))
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// getPhoneNotices lists a phone's notices, oldest first (GET
// /v1/phones/{id}/notices[?after=ID]).
func (s *server) getPhoneNotices(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 0 {
			writeProblem(w, refuse(400, api.CodeBadRequest, "after: a notice id"))
			return
		}
		after = v
	}
	if _, err := s.loadPhone(ctx, s.db.DB, id); err != nil {
		var pr *problem
		if errors.As(err, &pr) {
			writeProblem(w, pr)
		} else {
			writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		}
		return
	}
	rows, err := s.db.DB.QueryContext(ctx, `SELECT id, phone_id, code, reason, at FROM phone_notices WHERE phone_id = ? AND id > ? ORDER BY id`, id, after)
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	defer rows.Close()
	out := []api.PhoneNotice{}
	for rows.Next() {
		var n api.PhoneNotice
		var at string
		if err := rows.Scan(&n.ID, &n.PhoneID, &n.Code, &n.Reason, &at); err != nil {
			writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
			return
		}
		n.At = parseTS(at)
		out = append(out, n)
	}
	if rows.Err() != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	writeJSON(w, 200, out)
}

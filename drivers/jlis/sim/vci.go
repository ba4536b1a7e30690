package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"madoguchi/drivers/jlis/api"
)

// OpenID for Verifiable Credential Issuance, pre-authorised code flow
// (docs/JLIS-API.md §6.4). The terminal asks for an offer over the
// mutual-TLS API; the citizen's wallet redeems it on the public
// repository listener: metadata, token (with the transaction code shown
// at the counter), credential (with a key proof JWT; the mdoc is bound to
// that key). The reference server serves this over plain HTTP like its
// CRLs; a production issuer serves it over HTTPS only.

const (
	// offerTTL: how long an offer may be redeemed.
	offerTTL = 10 * time.Minute
	// tokenTTL: how long an access token and its c_nonce are good.
	tokenTTL = 5 * time.Minute
	// proofSkew: how far a key proof's iat may be from now.
	proofSkew = 5 * time.Minute
	// txCodeDigits: the transaction code's length.
	txCodeDigits = 6
	maxVCIBody   = 64 << 10
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hashSecret(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// createOffer makes a credential offer for an active phone credential
// (POST /v1/phones/{id}/offers).
func (s *server) createOffer(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.OfferRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if err := checkPortrait(req.Portrait); err != nil {
		return 0, nil, err
	}
	p, err := s.loadPhone(ctx, tx, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if p.State != api.CertGood {
		return 0, nil, refuse(409, api.CodeCertState, "the phone credential is %s", p.State)
	}
	var cardState api.CardState
	if err := tx.QueryRowContext(ctx, `SELECT state FROM cards WHERE serial = ?`, p.CardSerial).Scan(&cardState); err != nil {
		return 0, nil, err
	}
	if cardState != api.StateIssued {
		return 0, nil, refuse(409, api.CodeCardState, "an offer needs an issued card, this one is %s", cardState)
	}
	if err := s.purgeOffers(ctx, tx); err != nil {
		return 0, nil, err
	}
	code := b64url(randBytes(32))
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return 0, nil, err
	}
	txCode := fmt.Sprintf("%0*d", txCodeDigits, n.Int64())
	now := s.now()
	exp := now.Add(offerTTL)
	portrait := req.Portrait
	if portrait == nil {
		portrait = []byte{}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO vci_offers (code_hash, phone_id, tx_code, portrait, terminal, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hashSecret(code), p.ID, txCode, portrait, terminalName(ctx), ts(now), ts(exp)); err != nil {
		return 0, nil, err
	}
	offer := map[string]any{
		"credential_issuer":            s.publicURL,
		"credential_configuration_ids": []string{api.MdocDocType},
		"grants": map[string]any{
			api.GrantPreAuthorizedCode: map[string]any{
				"pre-authorized_code": code,
				"tx_code": map[string]any{
					"input_mode":  "numeric",
					"length":      txCodeDigits,
					"description": "The 6-digit code shown at the counter / 窓口に表示された6桁の番号",
				},
			},
		},
	}
	ob, err := json.Marshal(offer)
	if err != nil {
		return 0, nil, err
	}
	return 201, api.Offer{
		OfferURI:  "openid-credential-offer://?credential_offer=" + url.QueryEscape(string(ob)),
		TxCode:    txCode,
		ExpiresAt: exp.UTC(),
	}, nil
}

// purgeOffers drops the portraits of offers that can no longer yield a
// credential (expired, dead, or redeemed long enough ago that the token
// has expired) and marks expired open offers dead.
func (s *server) purgeOffers(ctx context.Context, tx querier) error {
	rows, err := tx.QueryContext(ctx, `SELECT code_hash, created_at FROM vci_offers WHERE length(portrait) > 0 OR state = 'open'`)
	if err != nil {
		return err
	}
	var stale [][]byte
	cutoff := s.now().Add(-offerTTL - tokenTTL)
	for rows.Next() {
		var h []byte
		var created string
		if err := rows.Scan(&h, &created); err != nil {
			rows.Close()
			return err
		}
		if parseTS(created).Before(cutoff) {
			stale = append(stale, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range stale {
		if _, err := tx.ExecContext(ctx, `UPDATE vci_offers SET portrait = x'', state = CASE state WHEN 'open' THEN 'dead' ELSE state END WHERE code_hash = ?`, h); err != nil {
			return err
		}
	}
	return nil
}

// oauthError writes an OAuth 2.0 error answer (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", api.ContentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error=%q, error_description=%q`, code, desc))
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// vciIssuerMetadata is the credential issuer's metadata (OpenID4VCI §12.2).
func (s *server) vciIssuerMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL
	display := []map[string]string{{"name": "My Number Card (DEMO)", "locale": "en"}, {"name": "マイナンバーカード（デモ）", "locale": "ja"}}
	var claims []map[string]any
	for _, c := range []struct{ ns, name, en, ja string }{
		{api.MdocNamespaceJP, "full_name_unicode", "Full name", "氏名"},
		{api.MdocNamespaceJP, "resident_address_unicode", "Address", "住所"},
		{api.MdocNamespaceJP, "local_gov_code_unicode", "Local government code", "市町村コード"},
		{api.MdocNamespaceJP, "portrait", "Photo", "顔写真"},
		{api.MdocNamespaceJP, "sex_unicode", "Sex", "性別"},
		{api.MdocNamespaceJP, "birth_date_unicode", "Date of birth", "生年月日"},
		{api.MdocNamespaceISO, "sex", "Sex (ISO/IEC 5218)", "性別コード"},
		{api.MdocNamespaceISO, "birth_date", "Date of birth", "生年月日"},
		{api.MdocNamespaceISO, "age_in_years", "Age", "年齢"},
		{api.MdocNamespaceISO, "age_over_20", "20 or older", "20歳以上"},
	} {
		claims = append(claims, map[string]any{"path": []string{c.ns, c.name},
			"display": []map[string]string{{"name": c.en, "locale": "en"}, {"name": c.ja, "locale": "ja"}}})
	}
	writeJSON(w, 200, map[string]any{
		"credential_issuer":   base,
		"credential_endpoint": base + api.PathVCICredential,
		"display":             []map[string]string{{"name": "Madoguchi central system (DEMO, not J-LIS)", "locale": "en"}, {"name": "窓口 中央システム（デモ）", "locale": "ja"}},
		"credential_configurations_supported": map[string]any{
			api.MdocDocType: map[string]any{
				"format":  api.FormatMsoMdoc,
				"doctype": api.MdocDocType,
				"cryptographic_binding_methods_supported": []string{"cose_key"},
				"credential_signing_alg_values_supported": []int{-7}, // ES256 (COSE)
				"proof_types_supported": map[string]any{
					api.ProofTypeJWT: map[string]any{"proof_signing_alg_values_supported": []string{"ES256"}},
				},
				"display":             display,
				"credential_metadata": map[string]any{"display": display, "claims": claims},
			},
		},
	})
}

// vciASMetadata is the authorisation server's metadata (RFC 8414): the
// credential issuer is its own authorisation server, with the token
// endpoint only.
func (s *server) vciASMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer":                   s.publicURL,
		"token_endpoint":           s.publicURL + api.PathVCIToken,
		"grant_types_supported":    []string{api.GrantPreAuthorizedCode},
		"response_types_supported": []string{},
		"pre-authorized_grant_anonymous_access_supported": true,
		"token_endpoint_auth_methods_supported":           []string{"none"},
	})
}

// vciToken exchanges a pre-authorised code and its transaction code for
// an access token and a c_nonce (OpenID4VCI §6). A wrong transaction code
// counts; after api.MaxTxCodeTries the offer is dead.
func (s *server) vciToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxVCIBody)
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", "form body expected")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != api.GrantPreAuthorizedCode {
		oauthError(w, 400, "unsupported_grant_type", "only the pre-authorized_code grant")
		return
	}
	code := r.PostForm.Get("pre-authorized_code")
	if code == "" {
		oauthError(w, 400, "invalid_request", "pre-authorized_code missing")
		return
	}
	txCode := r.PostForm.Get("tx_code")
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.DB.BeginTx(ctx, nil)
	if err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	defer tx.Rollback()
	h := hashSecret(code)
	var want, state, exp string
	var tries int
	err = tx.QueryRowContext(ctx, `SELECT tx_code, tries, state, expires_at FROM vci_offers WHERE code_hash = ?`, h).Scan(&want, &tries, &state, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		oauthError(w, 400, "invalid_grant", "unknown pre-authorized_code")
		return
	case err != nil:
		oauthError(w, 500, "server_error", "")
		return
	case state == "redeemed":
		oauthError(w, 400, "invalid_grant", "the offer was redeemed already")
		return
	case state != "open":
		oauthError(w, 400, "invalid_grant", "the offer is dead (too many wrong transaction codes): ask at the counter for a new one")
		return
	case !s.now().Before(parseTS(exp)):
		oauthError(w, 400, "invalid_grant", "the offer expired: ask at the counter for a new one")
		return
	case txCode == "":
		oauthError(w, 400, "invalid_request", "tx_code required")
		return
	}
	if subtle.ConstantTimeCompare([]byte(txCode), []byte(want)) != 1 {
		tries++
		newState := "open"
		if tries >= api.MaxTxCodeTries {
			newState = "dead"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE vci_offers SET tries = ?, state = ?, portrait = CASE ? WHEN 'dead' THEN x'' ELSE portrait END WHERE code_hash = ?`, tries, newState, newState, h); err != nil || tx.Commit() != nil {
			oauthError(w, 500, "server_error", "")
			return
		}
		s.log.Info("openid4vci: wrong transaction code", "tries", tries)
		if newState == "dead" {
			oauthError(w, 400, "invalid_grant", "wrong transaction code; the offer is dead now: ask at the counter for a new one")
			return
		}
		oauthError(w, 400, "invalid_grant", fmt.Sprintf("wrong transaction code (%d of %d tries left)", api.MaxTxCodeTries-tries, api.MaxTxCodeTries))
		return
	}
	token, nonce := b64url(randBytes(32)), b64url(randBytes(16))
	now := s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE vci_offers SET state = 'redeemed' WHERE code_hash = ?`, h); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO vci_tokens (token_hash, code_hash, c_nonce, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hashSecret(token), h, nonce, ts(now), ts(now.Add(tokenTTL))); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	if err := tx.Commit(); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	s.log.Info("openid4vci: token issued")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, map[string]any{
		"access_token":       token,
		"token_type":         "Bearer",
		"expires_in":         int(tokenTTL.Seconds()),
		"c_nonce":            nonce,
		"c_nonce_expires_in": int(tokenTTL.Seconds()),
	})
}

// credentialRequest is the body of the credential endpoint: the draft-13
// form (format, doctype, proof) and the 1.0 form
// (credential_configuration_id, proofs) are both taken.
type credentialRequest struct {
	Format                    string `json:"format"`
	Doctype                   string `json:"doctype"`
	CredentialConfigurationID string `json:"credential_configuration_id"`
	Proof                     *struct {
		ProofType string `json:"proof_type"`
		JWT       string `json:"jwt"`
	} `json:"proof"`
	Proofs *struct {
		JWT []string `json:"jwt"`
	} `json:"proofs"`
}

// vciCredential issues the mdoc for an access token, bound to the key of
// the key proof (OpenID4VCI §8, Appendix F.1).
func (s *server) vciCredential(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		oauthError(w, 401, "invalid_token", "a Bearer access token from the token endpoint is required")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxVCIBody))
	if err != nil {
		oauthError(w, 400, "invalid_credential_request", "unreadable body")
		return
	}
	var req credentialRequest
	if err := json.Unmarshal(body, &req); err != nil {
		oauthError(w, 400, "invalid_credential_request", "JSON body expected")
		return
	}
	switch {
	case req.CredentialConfigurationID != "" && req.CredentialConfigurationID != api.MdocDocType:
		oauthError(w, 400, "unknown_credential_configuration", "only "+api.MdocDocType)
		return
	case req.CredentialConfigurationID == "" && req.Format != api.FormatMsoMdoc:
		oauthError(w, 400, "unsupported_credential_format", "only "+api.FormatMsoMdoc)
		return
	case req.Doctype != "" && req.Doctype != api.MdocDocType:
		oauthError(w, 400, "unsupported_credential_type", "only "+api.MdocDocType)
		return
	}
	var proofJWT string
	switch {
	case req.Proof != nil && req.Proofs == nil && req.Proof.ProofType == api.ProofTypeJWT:
		proofJWT = req.Proof.JWT
	case req.Proofs != nil && req.Proof == nil && len(req.Proofs.JWT) == 1:
		proofJWT = req.Proofs.JWT[0]
	}
	if proofJWT == "" {
		oauthError(w, 400, "invalid_proof", "one key proof of type jwt is required")
		return
	}

	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.DB.BeginTx(ctx, nil)
	if err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	defer tx.Rollback()
	th := hashSecret(token)
	var codeHash []byte
	var nonce, exp, used, phoneID, terminal string
	var portrait []byte
	err = tx.QueryRowContext(ctx, `SELECT t.code_hash, t.c_nonce, t.expires_at, t.used_at, o.phone_id, o.terminal, o.portrait
		FROM vci_tokens t JOIN vci_offers o ON o.code_hash = t.code_hash WHERE t.token_hash = ?`, th).
		Scan(&codeHash, &nonce, &exp, &used, &phoneID, &terminal, &portrait)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && used != ""):
		oauthError(w, 401, "invalid_token", "unknown or used access token")
		return
	case err != nil:
		oauthError(w, 500, "server_error", "")
		return
	case !s.now().Before(parseTS(exp)):
		oauthError(w, 401, "invalid_token", "the access token expired")
		return
	}
	key, code, desc := s.checkKeyProof(proofJWT, nonce)
	if key == nil {
		oauthError(w, 400, code, desc)
		return
	}
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		oauthError(w, 400, "invalid_proof", "key")
		return
	}
	// The offer's terminal is recorded as the one that issued it.
	m, err := s.makeMdoc(context.WithValue(ctx, ctxKey{}, terminal), tx, phoneID, spki, portrait, viaVCI, nil)
	var pr *problem
	if errors.As(err, &pr) {
		oauthError(w, 400, "credential_request_denied", pr.detail)
		return
	}
	if err != nil {
		s.log.Error("openid4vci: credential", "err", err)
		oauthError(w, 500, "server_error", "")
		return
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vci_tokens SET used_at = ? WHERE token_hash = ?`, ts(s.now()), th); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vci_offers SET portrait = x'' WHERE code_hash = ?`, codeHash); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	if err := tx.Commit(); err != nil {
		oauthError(w, 500, "server_error", "")
		return
	}
	s.log.Info("openid4vci: credential issued", "phone", phoneID)
	cred := b64url(m.IssuerSigned)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, map[string]any{
		"credential":  cred,                                      // draft 13
		"credentials": []map[string]string{{"credential": cred}}, // 1.0
	})
}

// checkKeyProof verifies a key proof JWT (OpenID4VCI Appendix F.1): typ
// openid4vci-proof+jwt, ES256, the key as a jwk header, aud the credential
// issuer, a recent iat, and the nonce of the access token. It returns the
// key, or nil and the error code and description.
func (s *server) checkKeyProof(proof, nonce string) (*ecdsa.PublicKey, string, string) {
	tok, err := jwt.ParseSigned(proof, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, "invalid_proof", "the proof is not a compact JWS signed with ES256"
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != api.ProofJWTType {
		return nil, "invalid_proof", "typ must be " + api.ProofJWTType
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return nil, "invalid_proof", "the proof must carry its public key as a jwk header"
	}
	key, ok := h.JSONWebKey.Key.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, "invalid_proof", "the key must be EC P-256"
	}
	var std jwt.Claims
	var extra struct {
		Nonce string `json:"nonce"`
	}
	if err := tok.Claims(key, &std, &extra); err != nil {
		return nil, "invalid_proof", "the signature does not verify with the jwk"
	}
	if !std.Audience.Contains(s.publicURL) {
		return nil, "invalid_proof", "aud must be the credential issuer " + s.publicURL
	}
	if std.IssuedAt == nil {
		return nil, "invalid_proof", "iat missing"
	}
	if iat := std.IssuedAt.Time(); iat.Before(s.now().Add(-proofSkew)) || iat.After(s.now().Add(proofSkew)) {
		return nil, "invalid_proof", "iat too far from now"
	}
	if subtle.ConstantTimeCompare([]byte(extra.Nonce), []byte(nonce)) != 1 {
		return nil, "invalid_nonce", "nonce must be the c_nonce of the token response"
	}
	return key, "", ""
}

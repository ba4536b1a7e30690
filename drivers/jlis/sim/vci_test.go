package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/mdoc"
)

// wallet plays the citizen's wallet app: plain HTTP to the issuer, no
// client certificate.
type wallet struct {
	t      *testing.T
	hc     *http.Client
	key    *ecdsa.PrivateKey
	issuer string
	code   string
}

// parseOffer reads an openid-credential-offer:// URI as a wallet does.
func parseOffer(t *testing.T, uri string) (issuer, code string, txCode map[string]any) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "openid-credential-offer" {
		t.Fatalf("offer URI %q: %v", uri, err)
	}
	var offer struct {
		CredentialIssuer           string   `json:"credential_issuer"`
		CredentialConfigurationIDs []string `json:"credential_configuration_ids"`
		Grants                     map[string]struct {
			PreAuthorizedCode string         `json:"pre-authorized_code"`
			TxCode            map[string]any `json:"tx_code"`
		} `json:"grants"`
	}
	if err := json.Unmarshal([]byte(u.Query().Get("credential_offer")), &offer); err != nil {
		t.Fatalf("credential_offer: %v", err)
	}
	g, ok := offer.Grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
	if !ok || g.PreAuthorizedCode == "" || len(offer.CredentialConfigurationIDs) != 1 || offer.CredentialConfigurationIDs[0] != "org.iso.23220.1.jp.mnc" {
		t.Fatalf("offer %+v", offer)
	}
	return offer.CredentialIssuer, g.PreAuthorizedCode, g.TxCode
}

func (w *wallet) getJSON(u string, out any) {
	w.t.Helper()
	res, err := w.hc.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		w.t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wallet) post(u, contentType, bearer string, body []byte) (int, map[string]any, http.Header) {
	w.t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		w.t.Fatalf("POST %s: %d %s", u, res.StatusCode, b)
	}
	return res.StatusCode, out, res.Header
}

// token asks the token endpoint (found through the authorisation
// server's metadata) for an access token.
func (w *wallet) token(txCode string) (int, map[string]any) {
	w.t.Helper()
	var as struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	w.getJSON(w.issuer+"/.well-known/oauth-authorization-server", &as)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {w.code}, "tx_code": {txCode}}
	st, out, _ := w.post(as.TokenEndpoint, "application/x-www-form-urlencoded", "", []byte(form.Encode()))
	return st, out
}

// proof is a key proof JWT over the c_nonce, signed with the wallet's key.
func (w *wallet) proof(nonce, aud, typ string) string {
	w.t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(jose.ContentType(typ))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: w.key}, opts)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(jwt.Claims{Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(time.Now())}).
		Claims(map[string]any{"nonce": nonce}).Serialize()
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *wallet) credential(endpoint, token, proof string) (int, map[string]any) {
	w.t.Helper()
	body, _ := json.Marshal(map[string]any{"format": "mso_mdoc", "doctype": "org.iso.23220.1.jp.mnc",
		"proof": map[string]any{"proof_type": "jwt", "jwt": proof}})
	st, out, _ := w.post(endpoint, "application/json", token, body)
	return st, out
}

func (r *rig) offer(ph api.Phone) api.Offer {
	r.t.Helper()
	var o api.Offer
	if st, p, _, err := r.do(r.hc, "POST", "/v1/phones/"+ph.ID+"/offers", newKey(), api.OfferRequest{Portrait: testPortrait}, &o); st != 201 || err != nil {
		r.t.Fatalf("offer: %d %+v %v", st, p, err)
	}
	return o
}

func newWallet(t *testing.T, o api.Offer) (*wallet, map[string]any) {
	issuer, code, txc := parseOffer(t, o.OfferURI)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &wallet{t: t, hc: &http.Client{Timeout: 10 * time.Second}, key: k, issuer: issuer, code: code}, txc
}

// TestOpenID4VCI runs the pre-authorised code flow as a wallet would.
func TestOpenID4VCI(t *testing.T) {
	r, ph, _, _ := mdocRig(t)
	o := r.offer(ph)
	if len(o.TxCode) != 6 || strings.Trim(o.TxCode, "0123456789") != "" || o.ExpiresAt.Before(time.Now()) {
		t.Fatalf("offer %+v", o)
	}
	w, txc := newWallet(t, o)
	if w.issuer != r.run.PublicURL || txc["input_mode"] != "numeric" || txc["length"] != float64(6) || txc["description"] == "" {
		t.Fatalf("issuer %s, tx_code %v", w.issuer, txc)
	}
	var meta struct {
		CredentialIssuer   string `json:"credential_issuer"`
		CredentialEndpoint string `json:"credential_endpoint"`
		Configs            map[string]struct {
			Format  string `json:"format"`
			Doctype string `json:"doctype"`
		} `json:"credential_configurations_supported"`
	}
	w.getJSON(w.issuer+"/.well-known/openid-credential-issuer", &meta)
	if c := meta.Configs["org.iso.23220.1.jp.mnc"]; meta.CredentialIssuer != w.issuer || c.Format != "mso_mdoc" || c.Doctype != "org.iso.23220.1.jp.mnc" {
		t.Fatalf("metadata %+v", meta)
	}

	// A wrong transaction code first: refused, the offer stays.
	wrong := "000000"
	if o.TxCode == wrong {
		wrong = "111111"
	}
	if st, out := w.token(wrong); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("wrong tx_code: %d %v", st, out)
	}
	st, tok := w.token(o.TxCode)
	if st != 200 || tok["token_type"] != "Bearer" || tok["access_token"] == "" || tok["c_nonce"] == "" {
		t.Fatalf("token: %d %v", st, tok)
	}
	access, nonce := tok["access_token"].(string), tok["c_nonce"].(string)
	if st, out := w.token(o.TxCode); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("the code twice: %d %v", st, out)
	}

	// Proofs that must fail; the token survives them.
	for _, tc := range []struct{ name, proof, code string }{
		{"wrong nonce", w.proof("not-the-nonce", w.issuer, "openid4vci-proof+jwt"), "invalid_nonce"},
		{"wrong audience", w.proof(nonce, "https://elsewhere.example", "openid4vci-proof+jwt"), "invalid_proof"},
		{"wrong typ", w.proof(nonce, w.issuer, "JWT"), "invalid_proof"},
		{"not a JWT", "abc.def.ghi", "invalid_proof"},
	} {
		if st, out := w.credential(meta.CredentialEndpoint, access, tc.proof); st != 400 || out["error"] != tc.code {
			t.Errorf("%s: %d %v", tc.name, st, out)
		}
	}
	if st, out := w.credential(meta.CredentialEndpoint, "no-such-token", w.proof(nonce, w.issuer, "openid4vci-proof+jwt")); st != 401 || out["error"] != "invalid_token" {
		t.Errorf("unknown token: %d %v", st, out)
	}

	st, out := w.credential(meta.CredentialEndpoint, access, w.proof(nonce, w.issuer, "openid4vci-proof+jwt"))
	if st != 200 {
		t.Fatalf("credential: %d %v", st, out)
	}
	cred, _ := out["credential"].(string)
	issuerSigned, err := base64.RawURLEncoding.DecodeString(cred)
	if err != nil {
		t.Fatalf("credential is not base64url: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(r.iacaCert())
	v, err := mdoc.Verify(issuerSigned, roots, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !v.DeviceKey.Equal(&w.key.PublicKey) {
		t.Fatal("the mdoc is not bound to the proof's key")
	}
	if pic, _ := v.Element("portrait"); !bytes.Equal(pic.([]byte), testPortrait) || v.DocType != api.MdocDocType {
		t.Fatal("portrait or docType")
	}
	if creds, _ := out["credentials"].([]any); len(creds) != 1 {
		t.Errorf("credentials %v", out["credentials"])
	}
	// One credential per token; the portrait is gone from the offer.
	if st, out := w.credential(meta.CredentialEndpoint, access, w.proof(nonce, w.issuer, "openid4vci-proof+jwt")); st != 401 || out["error"] != "invalid_token" {
		t.Errorf("token twice: %d %v", st, out)
	}
	var n int
	r.run.s.db.DB.QueryRow(`SELECT count(*) FROM vci_offers WHERE length(portrait) > 0`).Scan(&n)
	if n != 0 {
		t.Errorf("%d portraits kept after issuance", n)
	}
	var via string
	r.run.s.db.DB.QueryRow(`SELECT via || '/' || terminal FROM phone_mdocs`).Scan(&via)
	if via != "openid4vci/terminal-01" {
		t.Errorf("recorded as %q", via)
	}
}

// TestOpenID4VCIWrongTxCode: five wrong transaction codes kill the offer.
func TestOpenID4VCIWrongTxCode(t *testing.T) {
	r, ph, _, _ := mdocRig(t)
	o := r.offer(ph)
	w, _ := newWallet(t, o)
	wrong := "999999"
	if o.TxCode == wrong {
		wrong = "888888"
	}
	if st, out := w.token(""); st != 400 || out["error"] != "invalid_request" {
		t.Fatalf("no tx_code: %d %v", st, out)
	}
	for i := 1; i <= api.MaxTxCodeTries; i++ {
		st, out := w.token(wrong)
		if st != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("wrong try %d: %d %v", i, st, out)
		}
		if i == api.MaxTxCodeTries && !strings.Contains(out["error_description"].(string), "dead") {
			t.Fatalf("last wrong try: %v", out)
		}
	}
	if st, out := w.token(o.TxCode); st != 400 || out["error"] != "invalid_grant" || !strings.Contains(out["error_description"].(string), "dead") {
		t.Fatalf("right code after five wrong ones: %d %v", st, out)
	}
	// An unknown code, an offer for a revoked phone.
	w.code = "no-such-code"
	if st, out := w.token(o.TxCode); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("unknown code: %d %v", st, out)
	}
	r.do(r.hc, "DELETE", "/v1/phones/"+ph.ID, newKey(), nil, nil)
	st, p, _, _ := r.do(r.hc, "POST", "/v1/phones/"+ph.ID+"/offers", newKey(), api.OfferRequest{}, nil)
	wantRefusal(t, "offer for a revoked phone", st, p, 409, api.CodeCertState, "revoked")
}

package sim

import (
	"os"
	"path/filepath"
	"testing"

	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis/api"
)

// TestCardIssuer: Init makes the card issuer and reports it; a directory
// from before it gets one at Start, the one the server then uses.
func TestCardIssuer(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	if r.init.CardIssuer != filepath.Join(r.init.Dir, "card-issuer.json") {
		t.Fatalf("card issuer path %q", r.init.CardIssuer)
	}
	fi, err := os.Stat(r.init.CardIssuer)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("card issuer file: %v %v", fi, err)
	}
	a, err := CardIssuer(r.init.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.CVRootID != r.run.s.cardIssuer.CVRootID || !a.CVRootPublicKey().Equal(r.run.s.cardIssuer.CVRootPublicKey()) {
		t.Fatal("the server's card issuer is not the directory's")
	}
	again, err := Init(r.init.Dir)
	if err != nil || !again.AlreadyExists || again.CardIssuer != r.init.CardIssuer {
		t.Fatalf("Init again: %+v %v", again, err)
	}
	b, _ := CardIssuer(r.init.Dir)
	if !b.CVRootPublicKey().Equal(a.CVRootPublicKey()) {
		t.Fatal("Init on an initialised directory replaced the card issuer")
	}

	// An older directory without the file.
	r.run.Close()
	if err := os.Remove(r.init.CardIssuer); err != nil {
		t.Fatal(err)
	}
	r.start()
	if _, err := os.Stat(r.init.CardIssuer); err != nil {
		t.Fatalf("Start made no card issuer: %v", err)
	}
	c, _ := CardIssuer(r.init.Dir)
	if !c.CVRootPublicKey().Equal(r.run.s.cardIssuer.CVRootPublicKey()) {
		t.Fatal("the server does not use the card issuer it made")
	}

	key, err := CardKey(r.init.Dir, "SERIAL1")
	if err != nil || string(key) != string(card.DiversifyKey(r.run.s.master, "SERIAL1")) {
		t.Fatalf("CardKey: %v", err)
	}
}

// TestChangeDetailsHTTP: the endpoint's idempotency and state rules at
// the HTTP level (the end-to-end flow with a card is in
// drivers/jlis/simcard).
func TestChangeDetailsHTTP(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	serial := r.init.DemoCards[0]
	h := cardsim.DemoHolder
	body := api.DetailsChange{Holder: api.Holder{Name: h.Name, Address: "デモ県デモ市新町", BirthDate: h.BirthDate, Sex: h.Sex}, MyNumberDigest: make([]byte, 32)}
	path := "/v1/cards/" + serial + "/details"
	if code, p, _, _ := r.do(r.hc, "POST", path, "", body, nil); code != 428 || p.Code != api.CodeIdempotencyRequired {
		t.Fatalf("no key: %d %+v", code, p)
	}
	// The demo card is delivered: refused, and the refusal replays.
	key := newKey()
	if code, p, _, _ := r.do(r.hc, "POST", path, key, body, nil); code != 409 || p.Code != api.CodeCardState {
		t.Fatalf("delivered card: %d %+v", code, p)
	}
	if code, p, hdr, _ := r.do(r.hc, "POST", path, key, body, nil); code != 409 || p.Code != api.CodeCardState || hdr.Get(api.HeaderReplayed) != "true" {
		t.Fatalf("replayed refusal: %d %+v", code, p)
	}
	if code, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+serial+"/transitions", newKey(), api.Transition{To: api.StateIssued}, nil); code != 200 {
		t.Fatalf("issue: %d %+v", code, p)
	}
	var td api.TextData
	key = newKey()
	if code, p, _, _ := r.do(r.hc, "POST", path, key, body, &td); code != 200 {
		t.Fatalf("change: %d %+v", code, p)
	}
	if td.Card.Holder != body.Holder || len(td.BasicFour) == 0 || len(td.Integrity) != 336 {
		t.Fatalf("answer: %+v", td)
	}
	// The record is signed by the directory's card issuer over the digest
	// sent: the same record the issuer makes locally.
	iss, _ := CardIssuer(r.init.Dir)
	ef, _ := cardsim.BasicFourEF(cardsim.Holder{Name: h.Name, Address: body.Holder.Address, BirthDate: h.BirthDate, Sex: h.Sex})
	if string(ef) != string(td.BasicFour) {
		t.Fatal("EF 0002 differs from cardsim.BasicFourEF")
	}
	cv := cvOf(t, iss)
	if err := card.CheckIntegrity(td.Integrity, cv, td.BasicFour, nil, []card.IssuerKey{{ID: iss.CVRootID, Key: iss.CVRootPublicKey()}}); err != nil {
		t.Fatal(err)
	}
	var rec api.Card
	if code, _, _, _ := r.do(r.hc, "GET", "/v1/cards/"+serial, "", nil, &rec); code != 200 || rec.Holder != body.Holder {
		t.Fatalf("record: %+v", rec)
	}
}

// cvOf is the CV certificate (EF 0004) a card made by iss carries.
func cvOf(t *testing.T, iss *cardsim.Issuer) []byte {
	t.Helper()
	st, err := cardsim.Generate(iss, cardsim.Options{Holder: cardsim.DemoHolder, Blank: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Apps {
		if string(a.AID) == string(card.AIDInputAssist) {
			return a.Files[card.EFCVCert]
		}
	}
	t.Fatal("no input-assist application")
	return nil
}

package sim

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// testPhone is a virtual phone on an in-process reader, driven through
// the phone driver as a terminal would.
type testPhone struct {
	sim *phonesim.Phone
	drv *phone.Phone
}

func newTestPhone(t testing.TB, v *phonesim.Vendor, se, app string) *testPhone {
	t.Helper()
	p, err := phonesim.New(phonesim.Options{Vendor: v, SecureElement: se, App: app, AutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := phone.Open(context.Background(), phonesim.NewSlot(p))
	if err != nil {
		t.Fatal(err)
	}
	return &testPhone{sim: p, drv: d}
}

// vendor is the rig's virtual secure-element vendor (made by Init).
func (r *rig) vendor() *phonesim.Vendor {
	r.t.Helper()
	v, err := phonesim.LoadOrCreateVendor(r.init.PhoneVendor, phonesim.DefaultVendorName)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// approvedPhone is a virtual phone of the approved pair and vendor.
func (r *rig) approvedPhone() *testPhone { return newTestPhone(r.t, r.vendor(), "", "") }

func (r *rig) challenge() []byte {
	r.t.Helper()
	var ch api.PhoneChallenge
	if st, p, _, err := r.do(r.hc, "POST", api.PathPhoneChallenges, newKey(), nil, &ch); st != 201 || err != nil {
		r.t.Fatalf("phone challenge: %d %+v %v", st, p, err)
	}
	if len(ch.Challenge) != 32 || ch.ExpiresAt.Sub(time.Now()) > api.PhoneChallengeTTL+time.Second {
		r.t.Fatalf("challenge %+v", ch)
	}
	return ch.Challenge
}

// phoneRequest generates a key on the phone over challenge and signs the
// proof of possession with it (the phone auto-approves).
func (tp *testPhone) request(t testing.TB, card, device string, challenge []byte, replace bool) api.PhoneRequest {
	t.Helper()
	ctx := context.Background()
	att, err := tp.drv.GenerateKey(ctx, phone.PurposeAuth, challenge)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(api.PoPMessage(card, api.CAPhone, att.SPKI))
	proof, err := tp.drv.Sign(ctx, att.KeyID, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return api.PhoneRequest{CardSerial: card, DeviceID: device, Attestation: att.Raw, Challenge: challenge,
		PublicKey: att.SPKI, Proof: proof, Replace: replace}
}

// issuedCard makes a demo card issued with an auth certificate.
func (r *rig) issuedCard(i int) (string, api.Certificate) {
	r.t.Helper()
	card := r.init.DemoCards[i]
	auth := r.issue(card, "auth")
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateIssued}, nil); st != 200 {
		r.t.Fatalf("issue card: %d %+v", st, p)
	}
	return card, auth
}

func (r *rig) newPhone(card string, tp *testPhone, replace bool) api.Phone {
	r.t.Helper()
	var ph api.Phone
	if st, p, _, err := r.do(r.hc, "POST", api.PathPhones, newKey(), tp.request(r.t, card, "device-"+newKey(), r.challenge(), replace), &ph); st != 201 || err != nil {
		r.t.Fatalf("phone: %d %+v %v", st, p, err)
	}
	return ph
}

func wantRefusal(t *testing.T, what string, st int, p api.Problem, status int, code, detail string) {
	t.Helper()
	if st != status || p.Code != code || !strings.Contains(p.Detail, detail) {
		t.Errorf("%s: %d %s %q, want %d %s %q", what, st, p.Code, p.Detail, status, code, detail)
	}
}

func TestPhoneAttestation(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card, _ := r.issuedCard(0)
	good := r.approvedPhone()

	// The default allow-list approves the virtual phone under this
	// directory's vendor.
	ch := r.challenge()
	req := good.request(t, card, "device-1", ch, false)
	var first api.Phone
	if st, p, _, _ := r.do(r.hc, "POST", api.PathPhones, newKey(), req, &first); st != 201 {
		t.Fatalf("approved phone: %d %+v", st, p)
	}
	if first.SecureElement != phonesim.DefaultSecureElement || first.App != phonesim.DefaultApp || first.AppVersion != phonesim.DefaultAppVersion || first.State != api.CertGood {
		t.Fatalf("phone %+v", first)
	}
	pc, _ := x509.ParseCertificate(first.Certificate.DER)
	if spki, _ := x509.MarshalPKIXPublicKey(pc.PublicKey); string(spki) != string(req.PublicKey) {
		t.Fatal("the certificate is not for the attested key")
	}
	var used string
	r.run.s.db.DB.QueryRow(`SELECT phone_id FROM phone_challenges WHERE challenge = ?`, ch).Scan(&used)
	if used != first.ID {
		t.Fatalf("challenge used by %q", used)
	}

	// A used challenge, even with a fresh attestation over it.
	again := good.request(t, card, "device-1", ch, true)
	st, p, _, _ := r.do(r.hc, "POST", api.PathPhones, newKey(), again, nil)
	wantRefusal(t, "reused challenge", st, p, 422, api.CodeAttestation, "challenge unknown or used")

	// A challenge this server never issued.
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), good.request(t, card, "device-1", make([]byte, 32), true), nil)
	wantRefusal(t, "unknown challenge", st, p, 422, api.CodeAttestation, "challenge unknown or used")

	// A challenge issued to another terminal.
	cp, kp, err := AddTerminal(r.init.Dir, "terminal-02")
	if err != nil {
		t.Fatal(err)
	}
	var other api.PhoneChallenge
	r.do(r.client(cp, kp), "POST", api.PathPhoneChallenges, newKey(), nil, &other)
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), good.request(t, card, "device-1", other.Challenge, true), nil)
	wantRefusal(t, "another terminal's challenge", st, p, 422, api.CodeAttestation, "challenge unknown or used")

	// A secure element that is not approved (same vendor).
	rogue := newTestPhone(t, r.vendor(), "Rogue SE", "")
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), rogue.request(t, card, "device-2", r.challenge(), true), nil)
	wantRefusal(t, "SE not approved", st, p, 422, api.CodeAttestation, `secure element "Rogue SE" with app "Madoguchi Wallet" is not on the allow-list`)
	// An app that is not approved.
	rogueApp := newTestPhone(t, r.vendor(), "", "Other Wallet")
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), rogueApp.request(t, card, "device-2", r.challenge(), true), nil)
	wantRefusal(t, "app not approved", st, p, 422, api.CodeAttestation, "is not on the allow-list")

	// The approved pair's names, attested by another vendor.
	otherVendor, err := phonesim.NewVendor("Other Vendor")
	if err != nil {
		t.Fatal(err)
	}
	forged := newTestPhone(t, otherVendor, "", "")
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), forged.request(t, card, "device-3", r.challenge(), true), nil)
	wantRefusal(t, "wrong vendor", st, p, 422, api.CodeAttestation, "attestation does not chain to the approved vendor")

	// An attestation over another challenge than the request's.
	req = good.request(t, card, "device-4", r.challenge(), true)
	req.Challenge = r.challenge()
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "challenge mismatch", st, p, 422, api.CodeAttestation, "another challenge")

	// The attested key is not the one to certify.
	req = good.request(t, card, "device-4", r.challenge(), true)
	otherReq := good.request(t, card, "device-4", r.challenge(), true)
	req.PublicKey, req.Proof = otherReq.PublicKey, otherReq.Proof
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "key not attested", st, p, 422, api.CodeAttestation, "not the request's publicKey")

	// A tampered attestation (the app name changed after signing).
	req = good.request(t, card, "device-4", r.challenge(), true)
	req.Attestation = append([]byte{}, req.Attestation...)
	i := strings.Index(string(req.Attestation), phonesim.DefaultApp)
	req.Attestation[i] ^= 0x20
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "tampered", st, p, 422, api.CodeAttestation, "")

	// The request naming another secure element than attested.
	req = good.request(t, card, "device-4", r.challenge(), true)
	req.SecureElement = "DEMO-eSE"
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "names differ", st, p, 422, api.CodeAttestation, "the attestation")

	// The proof of possession is still checked.
	req = good.request(t, card, "device-4", r.challenge(), true)
	req.Proof[len(req.Proof)-1] ^= 1
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	if st != 422 || (p.Code != api.CodeProofInvalid && p.Code != api.CodeBadRequest) {
		t.Errorf("forged proof: %d %+v", st, p)
	}

	// No attestation at all.
	req = good.request(t, card, "device-4", r.challenge(), true)
	req.Attestation = nil
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "no attestation", st, p, 400, api.CodeBadRequest, "attestation and challenge are required")

	// An expired challenge.
	ch = r.challenge()
	req = good.request(t, card, "device-4", ch, true)
	if _, err := r.run.s.db.DB.Exec(`UPDATE phone_challenges SET expires_at = ? WHERE challenge = ?`, ts(time.Now().Add(-time.Second)), ch); err != nil {
		t.Fatal(err)
	}
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "expired challenge", st, p, 422, api.CodeAttestation, "challenge expired")

	// A refusal uses nothing: phone-active, then the clerk confirms and
	// the same attestation and challenge go again with replace.
	ch = r.challenge()
	req = good.request(t, card, "device-5", ch, false)
	st, p, _, _ = r.do(r.hc, "POST", api.PathPhones, newKey(), req, nil)
	wantRefusal(t, "second phone", st, p, 409, api.CodePhoneActive, "")
	req.Replace = true
	var second api.Phone
	if st, p, _, _ := r.do(r.hc, "POST", api.PathPhones, newKey(), req, &second); st != 201 || second.Replaced != first.ID {
		t.Fatalf("replacement after phone-active: %d %+v %+v", st, p, second)
	}
}

// TestOldDirectoryGetsPhoneTrust: a directory from before vendor roots
// (its allow-list without them) gets the vendor and a new allow-list at
// the next start.
func TestOldDirectoryGetsPhoneTrust(t *testing.T) {
	dir := t.TempDir()
	ir, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ir.PhoneAllow, []byte(`[{"secureElement": "DEMO-eSE", "app": "jp.madoguchi.wallet.demo"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(ir.PhoneVendor); err != nil {
		t.Fatal(err)
	}
	run, err := Start(context.Background(), Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if len(run.s.allow) != 1 || run.s.allow[0].roots == nil || run.s.allow[0].SecureElement != phonesim.DefaultSecureElement {
		t.Fatalf("allow-list after start: %+v", run.s.allow)
	}
	if _, err := os.Stat(ir.PhoneAllow + ".old"); err != nil {
		t.Fatalf("old allow-list not kept: %v", err)
	}
}

func TestPhoneListSuspendLift(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card, _ := r.issuedCard(0)
	first := r.newPhone(card, r.approvedPhone(), false)
	second := r.newPhone(card, r.approvedPhone(), true)

	list := func() []api.Phone {
		t.Helper()
		var ps []api.Phone
		if st, p, _, _ := r.do(r.hc, "GET", "/v1/cards/"+card+"/phones", "", nil, &ps); st != 200 {
			t.Fatalf("list: %d %+v", st, p)
		}
		return ps
	}
	ps := list()
	if len(ps) != 2 || ps[0].ID != first.ID || ps[0].State != api.CertRevoked || ps[1].ID != second.ID || ps[1].State != api.CertGood {
		t.Fatalf("phones %+v", ps)
	}
	var none []api.Phone
	if st, _, _, _ := r.do(r.hc, "GET", "/v1/cards/"+r.init.DemoCards[1]+"/phones", "", nil, &none); st != 200 || none == nil || len(none) != 0 {
		t.Fatalf("a card without phones: %d %v", st, none)
	}
	if st, p, _, _ := r.do(r.hc, "GET", "/v1/cards/NOPE/phones", "", nil, nil); st != 404 || p.Code != api.CodeNotFound {
		t.Fatalf("unknown card: %d %+v", st, p)
	}

	certState := func(serial string) api.CertState {
		t.Helper()
		var cs api.CertStatus
		r.do(r.hc, "GET", "/v1/certificates/"+serial, "", nil, &cs)
		return cs.State
	}
	var ph api.Phone
	path := "/v1/phones/" + second.ID + "/suspension"
	if st, p, _, _ := r.do(r.hc, "POST", path, newKey(), nil, &ph); st != 200 || ph.State != api.CertSuspended {
		t.Fatalf("suspend: %d %+v %+v", st, p, ph)
	}
	if s := certState(second.Certificate.Serial); s != api.CertSuspended {
		t.Fatalf("certificate after suspension: %s", s)
	}
	st, p, _, _ := r.do(r.hc, "POST", path, newKey(), nil, nil)
	wantRefusal(t, "suspend twice", st, p, 409, api.CodeCertState, "suspended")
	st, p, _, _ = r.do(r.hc, "POST", "/v1/phones/"+first.ID+"/suspension", newKey(), nil, nil)
	wantRefusal(t, "suspend a revoked phone", st, p, 409, api.CodeCertState, "revoked")

	// The card's suspension and lifting leave the phone's own suspension.
	r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateSuspended, Reason: "lost"}, nil)
	st, p, _, _ = r.do(r.hc, "DELETE", path, newKey(), nil, nil)
	wantRefusal(t, "lift while the card is suspended", st, p, 409, api.CodeCardState, "suspended")
	r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateIssued, Reason: "found"}, nil)
	if s := certState(second.Certificate.Serial); s != api.CertSuspended {
		t.Fatalf("lifting the card lifted the phone's own suspension: %s", s)
	}

	if st, p, _, _ := r.do(r.hc, "DELETE", path, newKey(), nil, &ph); st != 200 || ph.State != api.CertGood {
		t.Fatalf("lift: %d %+v %+v", st, p, ph)
	}
	if s := certState(second.Certificate.Serial); s != api.CertGood {
		t.Fatalf("certificate after lifting: %s", s)
	}
	st, p, _, _ = r.do(r.hc, "DELETE", path, newKey(), nil, nil)
	wantRefusal(t, "lift twice", st, p, 409, api.CodeCertState, "good")

	// A suspended card shows its phones suspended, and lifting it lifts
	// them.
	r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateSuspended, Reason: "lost"}, nil)
	if ps := list(); ps[1].State != api.CertSuspended {
		t.Fatalf("phone of a suspended card: %s", ps[1].State)
	}
	r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateIssued, Reason: "found"}, nil)
	if ps := list(); ps[1].State != api.CertGood {
		t.Fatalf("phone after the card's suspension was lifted: %s", ps[1].State)
	}

	var ns []api.PhoneNotice
	r.do(r.hc, "GET", "/v1/phones/"+second.ID+"/notices", "", nil, &ns)
	var got []string
	for _, n := range ns {
		got = append(got, n.Code+"/"+n.Reason)
	}
	want := "suspended/phoneSuspended resumed/phoneResumed suspended/cardSuspended resumed/cardResumed"
	if strings.Join(got, " ") != want {
		t.Fatalf("notices %v, want %s", got, want)
	}
	var older []api.PhoneNotice
	r.do(r.hc, "GET", "/v1/phones/"+first.ID+"/notices", "", nil, &older)
	if len(older) != 1 || older[0].Code != api.NoticeRevoked || older[0].Reason != api.NoticeReasonReplaced {
		t.Fatalf("replaced phone's notices %+v", older)
	}
}

// TestPhoneCascadeNotice: the card's end revokes its phone, and the phone
// gets a notice for the next tap.
func TestPhoneCascadeNotice(t *testing.T) {
	r := startRig(t, Options{RateLimit: 1000})
	card, _ := r.issuedCard(0)
	ph := r.newPhone(card, r.approvedPhone(), false)
	if st, p, _, _ := r.do(r.hc, "POST", "/v1/cards/"+card+"/transitions", newKey(), api.Transition{To: api.StateReturned}, nil); st != 200 {
		t.Fatalf("return: %d %+v", st, p)
	}
	var got api.Phone
	r.do(r.hc, "GET", "/v1/phones/"+ph.ID, "", nil, &got)
	if got.State != api.CertRevoked {
		t.Fatalf("phone of a returned card: %s", got.State)
	}
	var ns []api.PhoneNotice
	if st, p, _, _ := r.do(r.hc, "GET", "/v1/phones/"+ph.ID+"/notices", "", nil, &ns); st != 200 || len(ns) != 1 {
		t.Fatalf("notices: %d %+v %+v", st, p, ns)
	}
	n := ns[0]
	if n.Code != api.NoticeRevoked || n.Reason != api.NoticeReasonCardReturned || n.PhoneID != ph.ID || time.Since(n.At) > time.Minute {
		t.Fatalf("notice %+v", n)
	}
	var after []api.PhoneNotice
	if st, _, _, _ := r.do(r.hc, "GET", "/v1/phones/"+ph.ID+"/notices?after="+strconv.FormatInt(n.ID, 10), "", nil, &after); st != 200 || len(after) != 0 {
		t.Fatalf("after the last: %d %+v", st, after)
	}

	// Revoking the card's authentication certificate.
	card2, auth2 := r.issuedCard(1)
	ph2 := r.newPhone(card2, r.approvedPhone(), false)
	r.do(r.hc, "POST", "/v1/certificates/"+auth2.Serial+"/revocation", newKey(), api.Revocation{Reason: "keyCompromise"}, nil)
	r.do(r.hc, "GET", "/v1/phones/"+ph2.ID+"/notices", "", nil, &ns)
	if len(ns) != 1 || ns[0].Code != api.NoticeRevoked || ns[0].Reason != api.NoticeReasonAuthCertRevoked {
		t.Fatalf("notices after the auth certificate's revocation: %+v", ns)
	}
	if st, p, _, _ := r.do(r.hc, "GET", "/v1/phones/nosuch/notices", "", nil, nil); st != 404 || p.Code != api.CodeNotFound {
		t.Fatalf("unknown phone: %d %+v", st, p)
	}
}

package main

// The counter's smartphone credential screens and the supervisor's screens
// end to end in headless Chromium against the built binary, in Japanese
// and in English.
//
// Phone: a blank demo card is issued through the counter's screens first
// (the demo's factory "issued" card is unknown to the central system's
// certificate records), then the phone wizard proves the holder with it
// and its signature password; a phone of an unknown secure-element vendor
// is refused (attestation), the supported demo phone receives the
// credential (receipt); the list shows it, the OpenID4VCI offer shows a QR
// code and a 6-digit transaction code, and Revoke revokes it.
//
// Supervisor: after a PIN reset through the CLI in the same data dir,
// `serve --mode supervisor`: a wrong password is refused, the supervisor
// logs in (WhoAmI keeps the session over a reload), the dashboard counts
// the reset, another day shows nothing, the report is exported as CSV,
// XLSX and PDF through the page's buttons (the download intercepted), and
// the queue's dead letters are retried and discarded.
//
// Uses need, startServe, seedQueue and chromium from e2e_test.go, and
// counterRun with its steps (issuance, identity) from counter_e2e_test.go.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// phoneText is what the phone and supervisor screens say in one language.
type phoneText struct {
	lang        string
	stored      string // phonescreen.result.done
	attestation string // phone.error.attestation
	stepCertify string // flow.step.certify
	revoked     string // phonescreen.state.revoked
	wrongLogin  string // staff.error.login
	dashboard   string // supervisor.dashboard.title
	pinReset    string // the procedure's name in the dashboard
}

var phoneTexts = []phoneText{
	{
		lang: "ja", stored: "電子証明書を搭載しました", attestation: "登録が認められていません", stepCertify: "電子証明書の発行",
		revoked: "失効", wrongLogin: "ログインIDまたはパスワードが違います", dashboard: "その日の集計", pinReset: "暗証番号",
	},
	{
		lang: "en", stored: "The credential is stored on the phone", attestation: "not approved", stepCertify: "Certificates",
		revoked: "Revoked", wrongLogin: "Wrong login or password", dashboard: "Figures of the day", pinReset: "PIN",
	},
}

func counterTextOf(t *testing.T, lang string) counterText {
	t.Helper()
	for _, c := range counterTexts {
		if c.lang == lang {
			return c
		}
	}
	t.Fatalf("no counter texts for %s", lang)
	return counterText{}
}

// axeCheck runs the kiosk tests' check on the screen as it is: axe-core
// (no serious or critical violation) and no message key shown raw; the
// screenshot is the kiosk check's (named kiosk-…, numbered in sequence).
func (r *counterRun) axeCheck(axe, screen string) {
	r.t.Helper()
	k := &kioskRun{t: r.t, ctx: r.ctx, tx: kioskText{lang: r.tx.lang}, name: r.name, shots: r.shots, axe: axe, n: r.n}
	k.check(screen)
	r.n = k.n
}

func TestPhoneScreens(t *testing.T) {
	for _, tx := range phoneTexts {
		t.Run(tx.lang, func(t *testing.T) { phoneStorage(t, tx) })
	}
}

// issueBlank issues a blank demo card through the counter's screens (one
// value for the three 4-digit PINs) and returns its expiry (YYYY-MM-DD);
// the card stays on the reader.
func (r *counterRun) issueBlank(signPIN string) string {
	r.t.Helper()
	r.start("issuance")
	r.step("card")
	expiry := r.placeDemoCard("blank")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.identity(faceCheckB(expiry))
	r.step("pins")
	r.run("one value for the 4-digit PINs", chromedp.Click(`#shared`), chromedp.WaitVisible(`#pad-shared-pin`))
	r.newPIN("pad-shared", "7391")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.newPIN("pad-sign", signPIN)
	r.run("issue", chromedp.Click(`button[data-action="next"]`))
	r.resultOK()
	r.run("finish", chromedp.Click(`button[data-action="finish"]`), chromedp.WaitVisible(`li[data-procedure="phone"] button`))
	return expiry
}

func phoneStorage(t *testing.T, tx phoneText) {
	axe := kioskAxe(t)
	r := newCounterRun(t, counterTextOf(t, tx.lang), "phone")
	var note string
	r.run("the phone procedure", chromedp.Evaluate(`fetch('/api/Procedures', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '["counter"]' }).then(r => r.json())
	  .then(b => { const p = (b.result || []).find(p => p.id === 'phone'); return p ? (p.note || '') : 'missing'; })`, &note,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if note == "mode.coming" || note == "missing" {
		t.Fatalf("the counter's list offers no phone procedure (app/procedures.go: \"phone\" is not Built; note %q)", note)
	}
	const signPIN = "KADO7MISE"
	expiry := r.issueBlank(signPIN)

	// The card and the holder; the list's second entry is there too.
	r.run("list entry", chromedp.WaitVisible(`li[data-procedure="phone"] button[data-action="phone-list"]`))
	r.shot("procedures")
	r.start("phone")
	r.step("card")
	if p := r.text(`#progress`); !strings.Contains(p, "1") || !strings.Contains(p, "5") {
		t.Errorf("progress %q, want step 1 of 5", p)
	}
	r.run("read the card on the reader", chromedp.Click(`button[data-action="read-card"]`), chromedp.WaitVisible(`#card-summary [data-field="state"]`))
	r.axeCheck(axe, "card")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.identity(faceCheckB(expiry))
	r.step("password")
	if n := r.text(`#pad-sign-notice`); strings.TrimSpace(n) == "" {
		t.Errorf("no tries notice before the signature password")
	}
	r.run("signature password", chromedp.SendKeys(`#pad-sign-pin`, signPIN))
	r.axeCheck(axe, "password")
	r.run("prove the holder", chromedp.Click(`button[data-action="next"]`))
	r.step("phone")
	r.run("holder proven", chromedp.WaitVisible(`#holder-proven`))
	r.noSecretsLeft(signPIN)
	var mdoc bool
	r.eval(`document.getElementById('mdoc').checked`, &mdoc)
	if !mdoc {
		t.Errorf("the mdoc option is not checked by default")
	}
	var warned bool
	r.eval(`!!document.getElementById('replace-warning')`, &warned)
	if warned {
		t.Errorf("a replacement warning shows for a holder without a phone")
	}

	// A phone whose secure element the central system does not trust.
	r.run("unsupported phone", chromedp.Click(`button[data-demo-phone="phone-unapproved"]`),
		chromedp.WaitVisible(`button[data-demo-phone="phone-unapproved"][aria-pressed="true"]`))
	r.axeCheck(axe, "phone")
	r.run("store", chromedp.Click(`button[data-action="store"]`))
	r.step("result")
	var code string
	r.run("failure code", chromedp.AttributeValue(`[data-result="failure"]`, "data-code", &code, nil))
	if msg := r.text(`[data-result="failure"]`); code != "phone.error.attestation" || !strings.Contains(msg, tx.attestation) {
		t.Errorf("unsupported phone: failure %s %q, want phone.error.attestation %q", code, msg, tx.attestation)
	}
	if step := r.text(`[data-result="step"]`); !strings.Contains(step, tx.stepCertify) {
		t.Errorf("unsupported phone: step %q, want %q", step, tx.stepCertify)
	}
	r.axeCheck(axe, "result-attestation")

	// Another phone, without proving the holder again.
	r.run("another phone", chromedp.Click(`button[data-action="phone-again"]`))
	r.step("phone")
	r.run("supported phone", chromedp.Click(`button[data-demo-phone="phone"]`),
		chromedp.WaitVisible(`button[data-demo-phone="phone"][aria-pressed="true"]`))
	r.run("store", chromedp.Click(`button[data-action="store"]`))
	r.resultOK()
	if s := r.text(`[data-result="ok"]`); !strings.Contains(s, tx.stored) {
		t.Errorf("result %q, want %q", s, tx.stored)
	}
	if e := r.text(`#phone-result [data-field="cert-expiry"]`); !strings.Contains(e, r.tx.era) {
		t.Errorf("the phone certificate's expiry %q is not in the Japanese era", e)
	}
	if d := r.text(`#phone-result [data-field="device"]`); strings.TrimSpace(d) == "" {
		t.Errorf("no device on the result")
	}
	r.axeCheck(axe, "result")

	// The list of the card's phone credentials.
	r.run("list", chromedp.Click(`button[data-action="phone-list"]`), chromedp.WaitVisible(`section.counter[data-step="list"] #step-title`))
	r.run("read the card", chromedp.Click(`button[data-action="read-card"]`), chromedp.WaitVisible(`#card-summary`))
	r.run("show the credentials", chromedp.Click(`button[data-action="list"]`), chromedp.WaitVisible(`#phone-list tr[data-state="good"]`))
	r.shot("list")

	// The OpenID4VCI offer: a QR code and the transaction code.
	r.run("offer", chromedp.Click(`#phone-list tr[data-state="good"] button[data-action="offer"]`), chromedp.WaitVisible(`#offer-qr`))
	r.waitTrue("the offer's QR code is a decoded PNG shown large",
		`(() => { const i = document.getElementById('offer-qr');
		  return !!i && i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/png')
		    && i.getBoundingClientRect().width >= 240; })()`)
	var txCode string
	r.run("transaction code", chromedp.AttributeValue(`#offer-code`, "data-code", &txCode, nil))
	if !regexp.MustCompile(`^\d{6}$`).MatchString(txCode) || strings.ReplaceAll(r.text(`#offer-code`), "\n", "") != txCode {
		t.Errorf("transaction code %q (shown %q), want 6 digits", txCode, r.text(`#offer-code`))
	}
	r.axeCheck(axe, "offer")

	// Revoke, after a confirmation.
	r.run("revoke", chromedp.Click(`#phone-list tr[data-state="good"] button[data-action="revoke"]`), chromedp.WaitVisible(`#revoke-dialog`))
	r.axeCheck(axe, "revoke-confirm")
	r.run("confirm", chromedp.Click(`#revoke-dialog [data-action="revoke-confirm"]`), chromedp.WaitVisible(`#phone-list tr[data-state="revoked"]`))
	if s := r.text(`#phone-list tr[data-state="revoked"] td.cert-state`); !strings.Contains(s, tx.revoked) {
		t.Errorf("revoked state shown as %q, want %q", s, tx.revoked)
	}
	var left bool
	r.eval(`!!document.querySelector('#phone-list tr[data-state="good"]') || !!document.getElementById('offer')`, &left)
	if left {
		t.Errorf("an active credential or its offer is still shown after the revocation")
	}
	if info := r.text(`#step-info`); !regexp.MustCompile(`\d`).MatchString(info) {
		t.Errorf("no receipt number after the revocation: %q", info)
	}
	r.shot("revoked")
	if tx.lang == "ja" {
		// Easy Japanese: the open screen's texts carry furigana, never raw markup.
		r.clickOutside("easy Japanese", `button[data-lang="ja-x-easy"]`, `html[lang="ja-x-easy"]`)
		r.waitTrue("furigana on the phone list", `!!document.querySelector('section.phone #step-title ruby rt')
		  && !document.querySelector('section.phone').innerText.includes('<ruby')`)
		r.shot("list-easy")
	}
	r.run("finish", chromedp.Click(`button[data-action="finish"]`), chromedp.WaitVisible(`li[data-procedure="phone"] button`))
}

func TestSupervisorScreens(t *testing.T) {
	bin := need(t, "chromium")
	axe := kioskAxe(t)
	data := t.TempDir()
	// A procedure in this data dir today: a PIN reset through the CLI.
	cmd := exec.Command(bin, "pin-reset", "--pin", "auth", "--data", data, "--config", filepath.Join(data, "none.toml"),
		"--pin-fd", "3", "--lang", "en", "--documents", "driving-licence", "--face-matched")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{pr}
	pw.Write([]byte("5827\n5827\n"))
	pw.Close()
	out, err := cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		t.Fatalf("pin-reset: %v\n%s", err, out)
	}
	// Dead letters for the queue screen, two for each language.
	seedQueue(t, data, 1, 2*len(phoneTexts))
	url := startServe(t, bin, data, "--mode", "supervisor")
	for _, tx := range phoneTexts {
		t.Run(tx.lang, func(t *testing.T) { supervisorScreens(t, url, axe, tx) })
	}
}

func supervisorScreens(t *testing.T, url, axe string, tx phoneText) {
	// Each language starts logged out (the session is the terminal's).
	if res, err := http.Post(url+"api/Logout", "application/json", strings.NewReader("[]")); err == nil {
		res.Body.Close()
	}
	ctx, cancel := chromium(t)
	t.Cleanup(cancel)
	r := &counterRun{t: t, ctx: ctx, tx: counterTextOf(t, tx.lang), shots: counterShots(t), name: "supervisor"}
	r.run("open", chromedp.Navigate(url), chromedp.WaitVisible(`section.supervisor[data-screen="login"] #sup-login`))
	if tx.lang != "ja" {
		r.clickOutside("switch language", `button[data-lang="`+tx.lang+`"]`, `html[lang="`+tx.lang+`"]`)
	}
	r.run("demo accounts", chromedp.WaitVisible(`#demo-accounts tr[data-account="supervisor"]`), chromedp.WaitVisible(`#demo-accounts tr[data-account="clerk"]`))
	r.axeCheck(axe, "login")

	// A wrong password.
	r.run("wrong password",
		chromedp.SendKeys(`#sup-login`, "supervisor"),
		chromedp.SendKeys(`#sup-password`, "not-the-password"),
		chromedp.Click(`button[data-action="login"]`),
		chromedp.WaitVisible(`#login-error`),
	)
	if e := r.text(`#login-error`); !strings.Contains(e, tx.wrongLogin) {
		t.Errorf("wrong password: %q, want %q", e, tx.wrongLogin)
	}
	var typed string
	r.eval(`document.getElementById('sup-password').value`, &typed)
	if typed != "" {
		t.Errorf("the password stays in its field after a failed login")
	}
	r.shot("login-failed")

	// The supervisor; the session survives a reload (WhoAmI).
	r.run("log in",
		chromedp.SetValue(`#sup-login`, "supervisor"),
		chromedp.SendKeys(`#sup-password`, "supervisor-demo"),
		chromedp.Click(`button[data-action="login"]`),
		chromedp.WaitVisible(`section.supervisor[data-screen="dashboard"] #report`),
	)
	r.run("reload", chromedp.Reload(), chromedp.WaitVisible(`section.supervisor[data-screen="dashboard"] #report`))
	if who := r.text(`#sup-who`); !strings.Contains(who, "管理") {
		t.Errorf("session bar %q, want the demo supervisor's name", who)
	}
	if h := r.text(`#sup-title`); h != tx.dashboard {
		t.Errorf("dashboard heading %q, want %q", h, tx.dashboard)
	}

	// Today's figures count the PIN reset.
	var today, shown string
	today = time.Now().In(time.FixedZone("JST", 9*3600)).Format("2006-01-02")
	r.eval(`document.getElementById('report-date').value`, &shown)
	if shown != today {
		t.Errorf("date picker %q, want today %q", shown, today)
	}
	if d := r.text(`#report-date-text`); !strings.Contains(d, r.tx.era) || !strings.Contains(d, today) {
		t.Errorf("the day %q is not shown in both calendars", d)
	}
	var procs string
	r.run("procedures figure", chromedp.AttributeValue(`[data-figure="procedures"]`, "data-value", &procs, nil))
	if procs == "" || procs == "0" {
		t.Errorf("the dashboard counts %q procedures today after a PIN reset", procs)
	}
	if row := r.text(`#report-procedures tr[data-row="pin_reset"]`); !strings.Contains(row, tx.pinReset) || !regexp.MustCompile(`[1-9]`).MatchString(row) {
		t.Errorf("PIN reset row %q", row)
	}
	r.axeCheck(axe, "dashboard")

	// Each export, through its button: the file handed to the browser.
	// The page's Blob and the <a download> click are caught; the Blob is
	// read in the page (the page's CSP allows no fetch of blob: URLs).
	r.eval(`(() => { window.madoguchiDownloads = []; const blobs = new Map();
	  const create = URL.createObjectURL;
	  URL.createObjectURL = (b) => { const u = create(b); blobs.set(u, b); return u; };
	  const click = HTMLAnchorElement.prototype.click;
	  HTMLAnchorElement.prototype.click = function () {
	    const b = blobs.get(this.href);
	    if (!this.download || !b) return click.call(this);
	    const name = this.download;
	    window.madoguchiDownloads.push(b.arrayBuffer().then(buf => {
	      let s = ''; new Uint8Array(buf).forEach(c => s += String.fromCharCode(c));
	      return { name, type: b.type, data: btoa(s) };
	    }));
	  };
	  return true; })()`, nil)
	for i, f := range []struct {
		format, magic string
	}{{"csv", "\xef\xbb\xbf"}, {"xlsx", "PK"}, {"pdf", "%PDF"}} {
		r.run("export "+f.format, chromedp.Click(`button[data-export="`+f.format+`"]`))
		r.waitTrue("the "+f.format+" download", fmt.Sprintf(`window.madoguchiDownloads.length > %d`, i))
		var got string
		r.run("read the "+f.format+" download", chromedp.Evaluate(fmt.Sprintf(`window.madoguchiDownloads[%d].then(JSON.stringify)`, i), &got,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		var file struct{ Name, Data string }
		json.Unmarshal([]byte(got), &file)
		b, err := base64.StdEncoding.DecodeString(file.Data)
		if err != nil || !strings.HasPrefix(string(b), f.magic) || !strings.HasSuffix(file.Name, "."+f.format) || len(b) < 100 {
			t.Errorf("export %s: file %q of %d bytes starting %q (%v)", f.format, file.Name, len(b), string(b[:min(len(b), 8)]), err)
		}
		r.run("saved note", chromedp.WaitVisible(`#sup-info`))
	}
	r.shot("exported")

	// Another day: the picker runs the report again.
	r.eval(`(() => { const i = document.getElementById('report-date'); i.value = '2020-01-06';
	  i.dispatchEvent(new Event('change', { bubbles: true })); return true; })()`, nil)
	r.waitTrue("the report of 2020-01-06", `(() => { const r = document.getElementById('report'); return !!r && r.dataset.date === '2020-01-06'; })()`)
	r.run("no procedures that day", chromedp.WaitVisible(`[data-figure="procedures"][data-value="0"]`))
	r.shot("other-day")

	// The queue: a dead letter sent again, another discarded with a reason.
	r.run("queue", chromedp.Click(`button[data-tab="queue"]`), chromedp.WaitVisible(`#queue-jobs tr[data-state="dead"]`))
	r.axeCheck(axe, "queue")
	var retried string
	r.run("retry", chromedp.AttributeValue(`#queue-jobs tr[data-state="dead"]`, "data-job", &retried, nil),
		chromedp.Click(`#queue-jobs tr[data-state="dead"] button[data-action="retry"]`), chromedp.WaitVisible(`#sup-info`))
	if info := r.text(`#sup-info`); !strings.Contains(info, retried) {
		t.Errorf("after retrying job %s: %q", retried, info)
	}
	var discarded string
	r.run("another dead letter", chromedp.AttributeValue(`#queue-jobs tr[data-state="dead"]:not([data-job="`+retried+`"])`, "data-job", &discarded, nil))
	r.run("discard", chromedp.Click(`#queue-jobs tr[data-job="`+discarded+`"] button[data-action="discard"]`), chromedp.WaitVisible(`#discard-dialog`))
	r.run("no reason", chromedp.Click(`#discard-dialog [data-action="discard-confirm"]`), chromedp.WaitVisible(`#discard-error .error`))
	r.run("reason", chromedp.SendKeys(`#discard-reason`, "test job of the browser test"))
	r.axeCheck(axe, "discard")
	r.run("confirm", chromedp.Click(`#discard-dialog [data-action="discard-confirm"]`), chromedp.WaitNotPresent(`#discard-dialog`))
	r.waitTrue("the discarded job leaves the list", `!document.querySelector('#queue-jobs tr[data-job="`+discarded+`"]')`)
	if info := r.text(`#sup-info`); !strings.Contains(info, discarded) {
		t.Errorf("after discarding job %s: %q", discarded, info)
	}
	r.shot("queue-after")

	// Reprints: the CLI's receipt printed again from the list (audited).
	r.run("reprints", chromedp.Click(`button[data-tab="reprints"]`), chromedp.WaitVisible(`#reprints tr[data-receipt]`))
	r.axeCheck(axe, "reprints")
	r.run("reprint", chromedp.Click(`#reprints tr[data-receipt] button[data-action^="reprint-"]`), chromedp.WaitVisible(`#sup-info`))
	r.shot("reprints-after")

	r.run("log out", chromedp.Click(`button[data-action="logout"]`), chromedp.WaitVisible(`section.supervisor[data-screen="login"] #sup-login`))
	// The session is gone: the login screen after a reload too.
	r.run("reload", chromedp.Reload(), chromedp.WaitVisible(`section.supervisor[data-screen="login"] #sup-login`))
	if tx.lang == "ja" {
		// Easy Japanese: furigana, never raw markup.
		r.clickOutside("easy Japanese", `button[data-lang="ja-x-easy"]`, `html[lang="ja-x-easy"]`)
		r.waitTrue("furigana on the login screen", `!!document.querySelector('#sup-title ruby rt')
		  && !document.querySelector('section.supervisor').innerText.includes('<ruby')`)
		r.shot("login-easy")
	}
}

package main

// The counter screens end to end in headless Chromium against the built
// binary (`madoguchi serve --mode counter`, demo: the built-in virtual card
// and central simulator), in Japanese and in English: an issuance of a
// blank card through every screen (card, identity with the face photo,
// the PIN pad with a weak PIN and a mismatch), a PIN reset, and a
// certificate renewal that stops because the certificates are not due.
// Uses need, startServe and chromium from e2e_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// counterText is what the screens say in one language (substrings).
type counterText struct {
	lang       string
	cardTitle  string // the card step's heading
	birthEra   string // the demo holder's birth date in the Japanese era
	mismatch   string // counter.pin.mismatch
	resultOK   string // counter.result.ok_title
	era        string // in every formatted date
	notDue     string // flow.error.not_due
	stepChecks string // flow.step.checks
	noticeAuth string // the notice before the auth PIN (3 tries)
}

var counterTexts = []counterText{
	{
		lang: "ja", cardTitle: "カードをリーダーに置いてください", birthEra: "昭和60年4月1日", mismatch: "一致しません",
		resultOK: "手続きが完了しました", era: "令和", notDue: "まだ更新できません", stepChecks: "確認", noticeAuth: "あと3回",
	},
	{
		lang: "en", cardTitle: "Place the card on the reader", birthEra: "Shōwa 60", mismatch: "differ",
		resultOK: "The procedure is complete", era: "Reiwa", notDue: "cannot be renewed yet", stepChecks: "Checks", noticeAuth: "3 more times",
	},
}

// counterShots is where the screenshots go: MADOGUCHI_ARTIFACTS if set.
func counterShots(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MADOGUCHI_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// counterRun drives one scenario: a fresh data dir, serve in counter
// mode, a fresh browser on the procedure list in the scenario's language.
type counterRun struct {
	t     *testing.T
	ctx   context.Context
	tx    counterText
	shots string
	name  string
	n     int
}

func newCounterRun(t *testing.T, tx counterText, name string) *counterRun {
	t.Helper()
	bin := need(t, "chromium")
	url := startServe(t, bin, t.TempDir(), "--mode", "counter")
	ctx, cancel := chromium(t)
	t.Cleanup(cancel)
	r := &counterRun{t: t, ctx: ctx, tx: tx, shots: counterShots(t), name: name}
	r.run("open the counter",
		chromedp.Navigate(url),
		chromedp.WaitVisible(`li[data-procedure="issuance"] button`),
	)
	if tx.lang != "ja" {
		r.clickOutside("switch language", `button[data-lang="`+tx.lang+`"]`, `html[lang="`+tx.lang+`"]`)
	}
	return r
}

// clickOutside clicks an element outside the wizard, which the status
// refresh re-creates every 1.5 s: a click that lands between the two is
// tried again, until the element waited for shows.
func (r *counterRun) clickOutside(what, sel, wait string) {
	r.t.Helper()
	var err error
	for try := 0; try < 3; try++ {
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		err = chromedp.Run(ctx, chromedp.Click(sel), chromedp.WaitVisible(wait))
		cancel()
		if err == nil {
			return
		}
	}
	r.shot("failed")
	r.t.Fatalf("%s: %s: %v", r.name, what, err)
}

func (r *counterRun) run(what string, actions ...chromedp.Action) {
	r.t.Helper()
	if err := chromedp.Run(r.ctx, actions...); err != nil {
		var html string
		chromedp.Run(r.ctx, chromedp.OuterHTML(`section.counter`, &html, chromedp.AtLeast(0)))
		r.shot("failed")
		r.t.Fatalf("%s: %s: %v\nwizard: %.3000s", r.name, what, err, html)
	}
}

// shot saves a screenshot of the screen as it is.
func (r *counterRun) shot(screen string) {
	r.t.Helper()
	var png []byte
	if err := chromedp.Run(r.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		r.t.Logf("screenshot %s: %v", screen, err)
		return
	}
	r.n++
	p := filepath.Join(r.shots, fmt.Sprintf("counter-%s-%s-%02d-%s.png", r.tx.lang, r.name, r.n, screen))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		r.t.Logf("screenshot %s: %v", screen, err)
	}
}

func (r *counterRun) text(sel string) string {
	r.t.Helper()
	var s string
	r.run("read "+sel, chromedp.Text(sel, &s, chromedp.NodeVisible))
	return s
}

func (r *counterRun) eval(js string, out any) {
	r.t.Helper()
	r.run("evaluate "+js, chromedp.Evaluate(js, out))
}

// waitTrue polls a JavaScript condition.
func (r *counterRun) waitTrue(what, js string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		if err := chromedp.Run(r.ctx, chromedp.Evaluate(js, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			r.shot("failed")
			r.t.Fatalf("%s: %s: still false: %s", r.name, what, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// step waits for a wizard step and checks its heading has the focus.
func (r *counterRun) step(id string) {
	r.t.Helper()
	r.run("step "+id, chromedp.WaitVisible(`section.counter[data-step="`+id+`"] #step-title`))
	r.waitTrue("focus on the heading of "+id, `document.activeElement && document.activeElement.id === 'step-title'`)
}

// start opens a procedure from the counter's list.
func (r *counterRun) start(procedure string) {
	r.t.Helper()
	sel := `li[data-procedure="` + procedure + `"] button`
	r.run("find "+procedure, chromedp.WaitVisible(sel))
	// Procedures that need the central system are enabled once the status
	// check has seen it (the list is refreshed every 1.5 s).
	r.waitTrue("the procedure "+procedure+" is available on the counter's list (app.Procedures)", `!document.querySelector('`+sel+`').disabled`)
	r.clickOutside("start "+procedure, sel, `section.counter[data-procedure]`)
}

// placeDemoCard puts a demo card on the reader and returns the card's
// expiry (YYYY-MM-DD) as the card step shows it.
func (r *counterRun) placeDemoCard(kind string) string {
	r.t.Helper()
	r.run("demo card "+kind,
		chromedp.Click(`button[data-demo="`+kind+`"]`),
		chromedp.WaitVisible(`#card-summary [data-expiry="card"]`),
	)
	var iso string
	r.run("card expiry", chromedp.AttributeValue(`#card-summary [data-expiry="card"]`, "data-iso", &iso, nil))
	if len(iso) != 10 {
		r.t.Fatalf("%s: card expiry %q", r.name, iso)
	}
	if name := r.text(`#card-summary [data-field="name"]`); !strings.Contains(name, "花子") {
		r.t.Errorf("%s: holder %q", r.name, name)
	}
	if birth := r.text(`#card-summary [data-field="birth"]`); !strings.Contains(birth, r.tx.birthEra) || !strings.Contains(birth, "1985-04-01") {
		r.t.Errorf("%s: birth date %q, want %q and 1985-04-01", r.name, birth, r.tx.birthEra)
	}
	return iso
}

// faceCheckB is the demo holder's 照合番号B: the birth date as Japanese-era
// YYMMDD (1985-04-01 is 昭和60年: 600401), the card's expiry year and the
// security code (drivers/card/sim: checkB; card-reference.md).
func faceCheckB(cardExpiry string) string {
	return "600401" + cardExpiry[:4] + "1234"
}

// identity ticks a photo document, shows the face photo and confirms it.
func (r *counterRun) identity(check string) {
	r.t.Helper()
	r.step("identity")
	r.run("identity",
		chromedp.WaitVisible(`input[data-doc="driving-licence"]`),
		chromedp.Click(`input[data-doc="driving-licence"]`),
		chromedp.SendKeys(`#face-check`, check),
		chromedp.Click(`button[data-action="show-photo"]`),
		chromedp.WaitVisible(`#face-photo`),
	)
	r.waitTrue("the face photo is a decoded PNG shown large",
		`(() => { const i = document.getElementById('face-photo');
		  return !!i && i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/png')
		    && i.getBoundingClientRect().width >= 240; })()`)
	var left string
	r.eval(`document.getElementById('face-check').value`, &left)
	if left != "" {
		r.t.Errorf("%s: the check number stays in its field after the photo was shown", r.name)
	}
	r.run("face matches", chromedp.Click(`#face-matched`))
	r.waitTrue("face matches ticked", `document.getElementById('face-matched').checked`)
	r.shot("identity")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
}

// newPIN types a new PIN and its confirmation on pad id and waits until
// they are accepted.
func (r *counterRun) newPIN(pad, pin string) {
	r.t.Helper()
	r.run("pad "+pad,
		chromedp.WaitVisible(`#`+pad+`-pin`),
		chromedp.SendKeys(`#`+pad+`-pin`, pin),
		chromedp.SendKeys(`#`+pad+`-confirm`, pin),
		chromedp.WaitVisible(`#`+pad+`-pad [data-pad="ok"]`),
	)
}

// noSecretsLeft: after the PIN step no input holds a PIN, and neither the
// page, the URL nor the storage contains one.
func (r *counterRun) noSecretsLeft(pins ...string) {
	r.t.Helper()
	for _, p := range pins {
		var found bool
		// A 4-digit PIN may appear by chance in a receipt number or a
		// figure: the page's text is searched for long ones only.
		js := fmt.Sprintf(`(() => { const p = %q;
		  return [...document.querySelectorAll('input')].some(i => i.value.includes(p))
		    || (p.length >= 6 && document.documentElement.outerHTML.includes(p)) || location.href.includes(p)
		    || JSON.stringify(Object.assign({}, localStorage, sessionStorage)).includes(p); })()`, p)
		r.eval(js, &found)
		if found {
			r.t.Errorf("%s: a PIN is still in the page, URL or storage after it was sent", r.name)
		}
	}
}

func (r *counterRun) resultOK() {
	r.t.Helper()
	r.step("result")
	if h := r.text(`#step-title`); !strings.Contains(h, r.tx.resultOK) {
		r.shot("failed")
		var why string
		chromedp.Run(r.ctx, chromedp.Text(`section.counter`, &why, chromedp.NodeVisible))
		r.t.Fatalf("%s: result %q, want %q:\n%s", r.name, h, r.tx.resultOK, why)
	}
	if n := r.text(`#receipt-number`); strings.TrimSpace(n) == "" {
		r.t.Errorf("%s: no receipt number", r.name)
	}
}

func TestCounterScreens(t *testing.T) {
	for _, tx := range counterTexts {
		t.Run(tx.lang, func(t *testing.T) {
			t.Run("Issuance", func(t *testing.T) { counterIssuance(t, tx) })
			t.Run("PINReset", func(t *testing.T) { counterPINReset(t, tx) })
			t.Run("CertRenewalNotDue", func(t *testing.T) { counterNotDue(t, tx) })
		})
	}
}

// counterIssuance: a blank demo card issued through every screen. In
// English the language is switched while the wizard is open, and the
// three 4-digit PINs are set with one value.
func counterIssuance(t *testing.T, tx counterText) {
	r := newCounterRun(t, counterTexts[0], "issuance")
	r.tx = tx
	r.start("issuance")
	r.step("card")
	if tx.lang != "ja" {
		// Every text changes at run time, the open wizard's included.
		r.clickOutside("switch language in the wizard", `button[data-lang="`+tx.lang+`"]`, `html[lang="`+tx.lang+`"]`)
	}
	if h := r.text(`#step-title`); h != tx.cardTitle {
		t.Fatalf("card step heading %q, want %q", h, tx.cardTitle)
	}
	if p := r.text(`#progress`); !strings.Contains(p, "1") || !strings.Contains(p, "4") {
		t.Errorf("progress %q, want step 1 of 4", p)
	}
	r.shot("card-empty")
	expiry := r.placeDemoCard("blank")
	r.shot("card")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.identity(faceCheckB(expiry))

	r.step("pins")
	pad := "pad-auth"
	if tx.lang != "ja" {
		pad = "pad-shared"
		r.run("one value for the three 4-digit PINs", chromedp.Click(`#shared`), chromedp.WaitVisible(`#pad-shared-pin`))
	}
	// A weak PIN: the warning shows and asks for an explicit choice.
	r.run("weak PIN",
		chromedp.SendKeys(`#`+pad+`-pin`, "1111"),
		chromedp.WaitVisible(`#`+pad+`-pad [data-warning="repeated"]`),
		chromedp.WaitVisible(`#`+pad+`-pad [data-pad="anyway"]`),
	)
	// The confirmation differs: an error that blocks.
	r.run("mismatch",
		chromedp.SendKeys(`#`+pad+`-confirm`, "1112"),
		chromedp.WaitVisible(`#`+pad+`-pad [data-pad="error"]`),
	)
	if e := r.text(`#` + pad + `-pad [data-pad="error"]`); !strings.Contains(e, tx.mismatch) {
		t.Errorf("mismatch error %q, want %q", e, tx.mismatch)
	}
	r.shot("pin-weak-mismatch")
	r.run("next refused", chromedp.Click(`button[data-action="next"]`), chromedp.WaitVisible(`#step-problems`))
	// Good values, typed with the on-screen keys into the PIN field.
	r.run("keypad",
		chromedp.Click(`#`+pad+`-pin`),
		chromedp.Click(`#`+pad+`-pad button[data-key="clear"]`),
		chromedp.Click(`#`+pad+`-pad button[data-key="7"]`),
		chromedp.Click(`#`+pad+`-pad button[data-key="3"]`),
		chromedp.Click(`#`+pad+`-pad button[data-key="9"]`),
		chromedp.Click(`#`+pad+`-pad button[data-key="1"]`),
		chromedp.Click(`#`+pad+`-confirm`),
		chromedp.Click(`#`+pad+`-pad button[data-key="clear"]`),
		chromedp.SendKeys(`#`+pad+`-confirm`, "7391"),
		chromedp.WaitVisible(`#`+pad+`-pad [data-pad="ok"]`),
	)
	r.waitTrue("no weak-PIN warning for 7391", `!document.querySelector('[data-pad="warning"]')`)
	r.shot("pin-ok")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	if tx.lang == "ja" {
		r.newPIN("pad-input-assist", "5820")
		r.run("next", chromedp.Click(`button[data-action="next"]`))
		r.newPIN("pad-resident", "6047")
		r.run("next", chromedp.Click(`button[data-action="next"]`))
	}
	// The signature password: letters are upper-cased as typed.
	r.run("signature password", chromedp.WaitVisible(`#pad-sign-pin`), chromedp.SendKeys(`#pad-sign-pin`, "kado7mise"))
	var typed string
	r.eval(`document.getElementById('pad-sign-pin').value`, &typed)
	if typed != "KADO7MISE" {
		t.Errorf("signature password field holds %q, want KADO7MISE", typed)
	}
	r.run("confirm password", chromedp.SendKeys(`#pad-sign-confirm`, "KADO7MISE"), chromedp.WaitVisible(`#pad-sign-pad [data-pad="ok"]`))
	r.shot("pin-sign")
	r.run("issue", chromedp.Click(`button[data-action="next"]`))

	r.resultOK()
	for _, which := range []string{"card", "auth", "sign"} {
		var iso string
		r.run("expiry "+which, chromedp.AttributeValue(`#result-expiry [data-expiry="`+which+`"]`, "data-iso", &iso, nil))
		if len(iso) != 10 {
			t.Errorf("result: %s expiry %q", which, iso)
		}
	}
	if e := r.text(`#result-expiry`); strings.Count(e, tx.era) < 3 {
		t.Errorf("result expiry dates not in the Japanese era: %q", e)
	}
	r.shot("result")
	r.noSecretsLeft("7391", "5820", "6047", "KADO7MISE")
	r.run("finish", chromedp.Click(`button[data-action="finish"]`), chromedp.WaitVisible(`li[data-procedure="issuance"] button`))
}

// counterPINReset: the issued demo card's user-authentication PIN reset.
func counterPINReset(t *testing.T, tx counterText) {
	r := newCounterRun(t, tx, "pin-reset")
	r.start("pin_reset")
	r.step("card")
	expiry := r.placeDemoCard("issued")
	r.shot("card")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.identity(faceCheckB(expiry))
	r.step("pins")
	r.waitTrue("the auth PIN is the default", `document.getElementById('target-auth').checked`)
	r.newPIN("pad-auth", "4826")
	r.shot("pin")
	r.run("reset", chromedp.Click(`button[data-action="next"]`))
	r.resultOK()
	r.shot("result")
	r.noSecretsLeft("4826")
}

// counterNotDue: the certificates of a freshly issued card cannot be
// renewed yet; the failure screen says where and why.
func counterNotDue(t *testing.T, tx counterText) {
	r := newCounterRun(t, tx, "cert-renewal")
	r.start("cert_renewal")
	r.step("card")
	expiry := r.placeDemoCard("issued")
	var due string
	r.run("cert expiry", chromedp.AttributeValue(`#card-summary [data-expiry="auth"]`, "data-due", &due, nil))
	if due != "false" {
		t.Errorf("a fresh card's certificates show as due")
	}
	r.shot("card")
	r.run("next", chromedp.Click(`button[data-action="next"]`))
	r.identity(faceCheckB(expiry))
	r.step("pins")
	// The PINs the citizen knows: the tries left are said before each.
	if n := r.text(`#pad-auth-notice`); !strings.Contains(n, tx.noticeAuth) {
		t.Errorf("notice before the auth PIN: %q, want %q", n, tx.noticeAuth)
	}
	r.shot("pin-existing")
	r.run("auth PIN", chromedp.SendKeys(`#pad-auth-pin`, "1234"), chromedp.Click(`button[data-action="next"]`))
	r.run("signature password", chromedp.WaitVisible(`#pad-sign-pin`), chromedp.SendKeys(`#pad-sign-pin`, "MADOGUCHI1"), chromedp.Click(`button[data-action="next"]`))
	r.step("result")
	step := r.text(`[data-result="step"]`)
	msg := r.text(`[data-result="failure"]`)
	if !strings.Contains(step, tx.stepChecks) || !strings.Contains(msg, tx.notDue) {
		t.Errorf("not-due failure: step %q message %q", step, msg)
	}
	r.shot("result-not-due")
	r.noSecretsLeft("MADOGUCHI1")
	r.run("finish", chromedp.Click(`button[data-action="finish"]`), chromedp.WaitVisible(`li[data-procedure="cert_renewal"] button`))
}

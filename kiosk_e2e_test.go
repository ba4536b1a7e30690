package main

// The kiosk screens end to end in headless Chromium against the built
// binary (`madoguchi serve --mode kiosk`, demo: the built-in virtual card
// and central simulator), in Japanese, in English and in one more language
// when its kiosk messages are there: the certificate and expiry check on
// an issued card, the PUK unlock on a next-generation card (screens and
// taps counted), the reset of a PIN reserved with the smartphone face
// check (first without a reservation, then with one), and the idle
// timeout, after which nothing of the citizen is left in the page or in
// Go. axe-core checks every screen (no serious or critical violation), and
// every screen is saved as a screenshot (MADOGUCHI_ARTIFACTS).
// Uses need, startServe and chromium from e2e_test.go and counterShots
// from counter_e2e_test.go.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"madoguchi/app/i18n"
	"madoguchi/locales"
)

// kioskText is what the kiosk says in one language (substrings; empty:
// not checked).
type kioskText struct {
	lang          string
	statusTitle   string // kiosk.status.title
	okTitle       string // kiosk.result.ok_title
	noReservation string // kiosk.failure.no_reservation
	noPUK         string // kiosk.puk.none_title
	era           string // in every formatted date
}

var kioskTexts = []kioskText{
	{lang: "ja", statusTitle: "カードの状態", okTitle: "手続きが終わりました", noReservation: "予約が見つかりません", noPUK: "PUKがありません", era: "令和"},
	{lang: "en", statusTitle: "Your card", okTitle: "Done", noReservation: "No reservation was found", noPUK: "no PUK", era: "Reiwa"},
}

// kioskThirdLanguages: the first of these whose kiosk messages are
// translated is tested too.
var kioskThirdLanguages = []string{"vi", "pt-BR"}

// kioskAxe returns axe-core's source (frontend/node_modules, a dev
// dependency), or skips.
func kioskAxe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("frontend", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("MADOGUCHI_E2E") == "require" {
			t.Fatalf("the kiosk tests need axe-core (cd frontend && npm ci): %v", err)
		}
		t.Skipf("skipping: needs axe-core (cd frontend && npm ci): %v", err)
	}
	return string(src)
}

// kioskRun drives one scenario: a fresh data dir, serve in kiosk mode, a
// fresh browser on the attract screen.
type kioskRun struct {
	t     *testing.T
	ctx   context.Context
	url   string
	bin   string
	data  string
	tx    kioskText
	name  string
	shots string
	axe   string
	n     int
	taps  int // taps (clicks) and key presses of the citizen
	// firstInteractive: navigation to an attract screen that takes a tap.
	firstInteractive time.Duration
}

func newKioskRun(t *testing.T, tx kioskText, name, config string, reducedMotion bool) *kioskRun {
	t.Helper()
	bin := need(t, "chromium")
	axe := kioskAxe(t)
	data := t.TempDir()
	args := []string{"--mode", "kiosk"}
	if config != "" {
		cfg := filepath.Join(data, "kiosk.toml")
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	url := startServe(t, bin, data, args...)
	ctx, cancel := chromium(t)
	t.Cleanup(cancel)
	r := &kioskRun{t: t, ctx: ctx, url: url, bin: bin, data: data, tx: tx, name: name, shots: counterShots(t), axe: axe}
	if reducedMotion {
		r.run("prefers-reduced-motion", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}))
	}
	r.run("warm up the browser", chromedp.Navigate("about:blank"))
	started := time.Now()
	r.run("open the kiosk", chromedp.Navigate(url+"?test=1"), chromedp.WaitVisible(`#kiosk-start[data-ready]`))
	r.waitTrue("the start button takes a tap",
		`(() => { const b = document.getElementById('kiosk-start'); if (!b || b.disabled) return false;
		  const q = b.getBoundingClientRect(); const e = document.elementFromPoint(q.left + q.width / 2, q.top + q.height / 2);
		  return e === b || b.contains(e); })()`)
	r.firstInteractive = time.Since(started)
	t.Logf("%s %s: first interactive screen (attract, clickable) %d ms after navigation", name, tx.lang, r.firstInteractive.Milliseconds())
	// Every change of screen is logged in the page (not by the app).
	r.eval(`(() => { window.kioskViews = [document.getElementById('app').dataset.view || 'attract'];
	  new MutationObserver(() => { const v = document.getElementById('app').dataset.view;
	    if (v && v !== window.kioskViews[window.kioskViews.length - 1]) window.kioskViews.push(v); })
	    .observe(document.getElementById('app'), { attributes: true, attributeFilter: ['data-view'] }); return true; })()`, nil)
	return r
}

func (r *kioskRun) fail(format string, args ...any) {
	r.t.Helper()
	var html string
	chromedp.Run(r.ctx, chromedp.OuterHTML(`#app`, &html, chromedp.AtLeast(0)))
	r.shot("failed")
	r.t.Fatalf("%s %s: %s\npage: %.4000s", r.name, r.tx.lang, fmt.Sprintf(format, args...), html)
}

func (r *kioskRun) run(what string, actions ...chromedp.Action) {
	r.t.Helper()
	if err := chromedp.Run(r.ctx, actions...); err != nil {
		r.fail("%s: %v", what, err)
	}
}

func (r *kioskRun) eval(js string, out any) {
	r.t.Helper()
	r.run("evaluate "+js, chromedp.Evaluate(js, out))
}

func (r *kioskRun) text(sel string) string {
	r.t.Helper()
	var s string
	r.run("read "+sel, chromedp.Text(sel, &s, chromedp.NodeVisible))
	return s
}

// waitTrue polls a JavaScript condition.
func (r *kioskRun) waitTrue(what, js string) {
	r.t.Helper()
	r.waitTrueFor(what, js, 20*time.Second)
}

func (r *kioskRun) waitTrueFor(what, js string, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		if err := chromedp.Run(r.ctx, chromedp.Evaluate(js, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			r.fail("%s: still false after %s: %s", what, d, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tap is the citizen's tap on an element.
func (r *kioskRun) tap(what, sel string) {
	r.t.Helper()
	r.taps++
	r.run("tap "+what, chromedp.Click(sel, chromedp.NodeVisible))
}

// keys is the citizen typing on a keyboard (each key counted).
func (r *kioskRun) keys(what, s string) {
	r.t.Helper()
	r.taps += len([]rune(s))
	r.run("type "+what, chromedp.KeyEvent(s))
}

// screen waits for a kiosk screen (data-screen) and its heading.
func (r *kioskRun) screen(id string) {
	r.t.Helper()
	r.waitTrue("screen "+id, `document.getElementById('app').dataset.screen === '`+id+`' && !!document.getElementById('step-title')`)
}

// check saves a screenshot of the screen and runs axe-core on it: no
// violation of impact serious or critical, and no message key shown raw.
func (r *kioskRun) check(shot string) {
	r.t.Helper()
	r.shot(shot)
	var has bool
	r.eval(`typeof window.axe === 'object'`, &has)
	if !has {
		r.run("inject axe-core", chromedp.Evaluate(r.axe+"\n;true", nil))
	}
	var out string
	r.run("axe "+shot, chromedp.Evaluate(`axe.run(document, { resultTypes: ['violations'] }).then(res => JSON.stringify(
	    res.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
	      .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + n.failureSummary) }))))`,
		&out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if out != "[]" {
		r.t.Errorf("%s %s: axe on %s: %s", r.name, r.tx.lang, shot, out)
	}
	var raw string
	r.eval(`(() => { const m = document.body.innerText.match(/\b(kiosk|counter|flow|pin|procedure|error|demo)\.[a-z_]+(\.[a-z_-]+)*\b/); return m ? m[0] : ''; })()`, &raw)
	if raw != "" {
		r.t.Errorf("%s %s: %s shows a message key raw: %q", r.name, r.tx.lang, shot, raw)
	}
}

func (r *kioskRun) shot(screen string) {
	r.t.Helper()
	var png []byte
	if err := chromedp.Run(r.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		r.t.Logf("screenshot %s: %v", screen, err)
		return
	}
	r.n++
	p := filepath.Join(r.shots, fmt.Sprintf("kiosk-%s-%s-%02d-%s.png", r.tx.lang, r.name, r.n, screen))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		r.t.Logf("screenshot %s: %v", screen, err)
	}
}

// begin goes from the attract screen through the language choice to the menu.
func (r *kioskRun) begin() {
	r.t.Helper()
	r.screen("attract")
	r.check("attract")
	r.tap("start", `#kiosk-start`)
	r.screen("language")
	r.waitTrue("the language choice has the focus on its heading", `document.activeElement && document.activeElement.id === 'step-title'`)
	r.check("language")
	r.tap("language "+r.tx.lang, `button[data-lang="`+r.tx.lang+`"]`)
	r.screen("menu")
	r.waitTrue("html lang is the chosen language", `document.documentElement.lang === '`+r.tx.lang+`'`)
	r.check("menu")
}

// choose starts a procedure from the menu.
func (r *kioskRun) choose(proc string) {
	r.t.Helper()
	sel := `button[data-proc="` + proc + `"]`
	var off bool
	r.eval(`(() => { const b = document.querySelector('`+sel+`'); return !b || b.disabled; })()`, &off)
	if off {
		r.fail("the kiosk menu offers %s disabled: app.Procedures(\"kiosk\") says it is not available (app/procedures.go: Built)", proc)
	}
	r.tap(proc, sel)
}

// placeDemoCard puts a demo card on the reader with the demo panel (the
// citizen's placing of the card: not a tap).
func (r *kioskRun) placeDemoCard(kind string) {
	r.t.Helper()
	r.run("demo card "+kind, chromedp.Click(`.kiosk-demo button[data-demo="`+kind+`"]`, chromedp.NodeVisible))
}

// api calls a method of app.App over HTTP as the frontend does.
func (r *kioskRun) api(method string, out any, args ...any) {
	r.t.Helper()
	if args == nil {
		args = []any{}
	}
	body, _ := json.Marshal(args)
	res, err := http.Post(r.url+"api/"+method, "application/json", strings.NewReader(string(body)))
	if err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Error != "" || res.StatusCode != 200 {
		r.t.Fatalf("%s: %d %s", method, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			r.t.Fatalf("%s: %v", method, err)
		}
	}
}

// finish ends the procedure on its result: the take-card screen, then
// (by its button, or waiting) the attract screen again.
func (r *kioskRun) finish(wait bool) {
	r.t.Helper()
	r.tap("finish", `[data-action="finish"]`)
	r.screen("takecard")
	r.check("take-card")
	if wait {
		r.waitTrueFor("back to the attract screen by itself", `document.getElementById('app').dataset.screen === 'attract'`, 15*time.Second)
	} else {
		r.run("done", chromedp.Click(`[data-action="done"]`, chromedp.NodeVisible))
		r.screen("attract")
	}
	r.waitTrue("the terminal's language again", `document.documentElement.lang === 'ja'`)
	var st struct {
		Active bool `json:"active"`
		Card   bool `json:"card"`
	}
	r.api("KioskState", &st)
	if st.Active || st.Card {
		r.t.Errorf("%s %s: after the procedure KioskState = %+v, want inactive without a card", r.name, r.tx.lang, st)
	}
}

// noSecretsLeft: no input, the page's text, the URL nor storage holds a PIN.
func (r *kioskRun) noSecretsLeft(pins ...string) {
	r.t.Helper()
	for _, p := range pins {
		var found bool
		js := fmt.Sprintf(`(() => { const p = %q;
		  return [...document.querySelectorAll('input')].some(i => i.value.includes(p))
		    || (p.length >= 6 && document.documentElement.outerHTML.includes(p)) || location.href.includes(p)
		    || JSON.stringify(Object.assign({}, localStorage, sessionStorage)).includes(p); })()`, p)
		r.eval(js, &found)
		if found {
			r.t.Errorf("%s %s: a PIN is still in the page, URL or storage after it was sent", r.name, r.tx.lang)
		}
	}
}

// progress checks "step n of m".
func (r *kioskRun) progress(n, m int) {
	r.t.Helper()
	p := r.text(`#progress`)
	if !strings.Contains(p, fmt.Sprint(n)) || !strings.Contains(p, fmt.Sprint(m)) {
		r.t.Errorf("%s %s: progress %q, want step %d of %d", r.name, r.tx.lang, p, n, m)
	}
}

// keyOrder is the digit keys' order of a pad as shown.
func (r *kioskRun) keyOrder(pad string) string {
	r.t.Helper()
	var order string
	r.eval(`[...document.querySelectorAll('#`+pad+`-pad .key-digit')].map(b => b.dataset.key).join('')`, &order)
	if len(order) != 10 || !isPermutation(order) {
		r.t.Errorf("%s %s: %s digit keys %q: not the ten digits", r.name, r.tx.lang, pad, order)
	}
	return order
}

func isPermutation(s string) bool {
	b := []byte(s)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b) == "0123456789"
}

// padDigits taps a value on a pad's on-screen keys.
func (r *kioskRun) padDigits(pad, value string) {
	r.t.Helper()
	for _, d := range value {
		r.tap("key", `#`+pad+`-pad button[data-key="`+string(d)+`"]`)
	}
}

// targetSizes: every button of the kiosk's screen is 64 px or more (the
// demo panel's and the staff corner's: 44 px or more).
func (r *kioskRun) targetSizes(screen string) {
	r.t.Helper()
	var small []string
	r.eval(`[...document.querySelectorAll('#app button')].filter(b => b.offsetParent !== null).map(b => {
	    const q = b.getBoundingClientRect(); const min = b.closest('.kiosk-demo') || b.id === 'kiosk-supervisor' ? 44 : 64;
	    return q.width >= min && q.height >= min ? '' : (b.dataset.action || b.dataset.key || b.id || b.textContent) + ' ' + Math.round(q.width) + 'x' + Math.round(q.height); })
	  .filter(x => x)`, &small)
	if len(small) > 0 {
		r.t.Errorf("%s %s: %s: targets smaller than 64 px: %v", r.name, r.tx.lang, screen, small)
	}
}

func TestKioskScreens(t *testing.T) {
	texts := append([]kioskText{}, kioskTexts...)
	texts = append(texts, kioskText{lang: kioskThird(t)})
	for _, tx := range texts {
		t.Run(tx.lang, func(t *testing.T) {
			if tx.lang == "" {
				t.Skipf("skipping a third language: none of %v has its kiosk messages yet (locales/kiosk.<lang>.toml; the translators are adding them)", kioskThirdLanguages)
			}
			t.Run("StatusCheck", func(t *testing.T) { kioskStatusCheck(t, tx) })
			t.Run("PUKUnlock", func(t *testing.T) { kioskPUKUnlock(t, tx) })
			t.Run("ReservedReset", func(t *testing.T) { kioskReservedReset(t, tx) })
		})
	}
}

// kioskThird returns the first of kioskThirdLanguages whose kiosk
// messages are translated (not Japanese fallbacks), or "".
func kioskThird(t *testing.T) string {
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	ja := b.Catalog("ja").Messages
	for _, tag := range kioskThirdLanguages {
		c := b.Catalog(tag)
		if c.Lang != tag {
			continue
		}
		if m, ok := c.Messages["kiosk.attract.touch"]; ok && m != ja["kiosk.attract.touch"] {
			return tag
		}
	}
	return ""
}

// kioskStatusCheck: the certificate and expiry check on an issued demo
// card; in Japanese also the smartphone status, in English the keyboard,
// 200 % text and the staff's way out.
func kioskStatusCheck(t *testing.T, tx kioskText) {
	r := newKioskRun(t, tx, "status", "", tx.lang == "en")
	r.begin()
	if tx.lang == "en" {
		// Keyboard only: Tab reaches the menu's buttons, with a visible focus.
		r.run("tab", chromedp.KeyEvent(kb.Tab))
		var focus string
		r.eval(`(() => { const e = document.activeElement; const s = getComputedStyle(e);
		  return e.tagName + ' ' + s.outlineStyle + ' ' + s.outlineWidth; })()`, &focus)
		if !strings.HasPrefix(focus, "BUTTON solid") || strings.HasSuffix(focus, " 0px") {
			t.Errorf("focus after Tab on the menu: %q, want a button with a visible outline", focus)
		}
	}
	r.choose("status_check")
	r.screen("card")
	r.progress(1, 2)
	var anim string
	r.eval(`getComputedStyle(document.querySelector('.card-art.place .art-card')).animationName`, &anim)
	if want := tx.lang != "en"; (anim != "none") != want {
		t.Errorf("card animation %q (reduced motion: %v)", anim, tx.lang == "en")
	}
	r.check("card")
	r.targetSizes("card")
	r.placeDemoCard("issued")
	r.screen("result")
	r.waitTrue("the status", `!!document.querySelector('[data-result="status"]')`)
	r.progress(2, 2)
	if tx.statusTitle != "" {
		if h := r.text(`#step-title`); !strings.Contains(h, tx.statusTitle) {
			t.Errorf("status title %q, want %q", h, tx.statusTitle)
		}
	}
	// The card's and the auth certificate's dates are always known (the
	// card holds them); the signature certificate's comes from the
	// central record ("None" without one).
	for _, which := range []string{"card", "auth", "sign"} {
		var iso, date string
		r.eval(`(() => { const e = document.querySelector('#status-expiry [data-expiry="`+which+`"]'); return e ? e.dataset.iso : 'missing'; })()`, &iso)
		r.eval(`(() => { const e = document.querySelector('#status-expiry [data-expiry="`+which+`"] .expiry-date'); return e ? e.textContent : ''; })()`, &date)
		switch {
		case iso == "missing":
			t.Errorf("status: no %s expiry", which)
		case iso == "" && which != "sign":
			t.Errorf("status: %s expiry not shown: %q", which, date)
		case iso != "" && (!strings.Contains(date, iso) || (tx.era != "" && !strings.Contains(date, tx.era))):
			t.Errorf("status: %s date %q, want %s and the era %q", which, date, iso, tx.era)
		}
		t.Logf("status: %s until %q", which, date)
	}
	var states []string
	r.eval(`[...document.querySelectorAll('#status-expiry [data-cert-state]')].map(e => e.closest('[data-expiry]').dataset.expiry + '=' + e.dataset.certState)`, &states)
	for _, s := range states {
		if st := s[strings.IndexByte(s, '=')+1:]; st != "good" && st != "suspended" && st != "revoked" && st != "unknown" {
			t.Errorf("status: certificate state %q", s)
		}
	}
	t.Logf("status: certificate states %v", states)
	// The card's certificates are known to the central system (the
	// factory declared them): the kiosk can tell they are valid.
	if !slices.Contains(states, "auth=good") || !slices.Contains(states, "sign=good") {
		t.Errorf("status: certificate states %v, want auth and sign good", states)
	}
	var tries []string
	r.eval(`[...document.querySelectorAll('#status-pins li')].map(l => l.dataset.pin + '=' + l.dataset.tries)`, &tries)
	if len(tries) != 4 || !strings.Contains(strings.Join(tries, " "), "auth=3") {
		t.Errorf("status: tries %v, want the four PINs of a current card, auth with 3", tries)
	}
	var online string
	r.run("online", chromedp.Text(`[data-field="online"]`, &online))
	r.check("status")
	r.targetSizes("status")
	if tx.lang == "en" {
		// Text at 200 %: nothing cut, no sideways scrolling.
		var overflow int
		r.eval(`(() => { document.documentElement.style.fontSize = '200%'; return document.documentElement.scrollWidth - window.innerWidth; })()`, &overflow)
		r.shot("status-text-200")
		if overflow > 1 {
			t.Errorf("at 200 %% text the status screen is %d px wider than the window", overflow)
		}
		r.eval(`(() => { document.documentElement.style.fontSize = ''; return true; })()`, nil)
	}
	r.finish(tx.lang == "ja")

	switch tx.lang {
	case "ja":
		// The smartphone credential status: a menu item of its own.
		r.begin()
		r.choose("phone")
		r.screen("card")
		r.placeDemoCard("issued")
		r.screen("result")
		r.waitTrue("the phones", `!!document.querySelector('[data-result="phones"]')`)
		var n string
		r.run("phones", chromedp.AttributeValue(`[data-phones]`, "data-phones", &n, nil))
		if n != "0" {
			t.Errorf("phones of a fresh demo card: %q, want 0", n)
		}
		r.check("phones")
		r.finish(false)
	case "en":
		// The staff's way out: a wrong code is refused, the right one accepted.
		r.run("staff corner", chromedp.Click(`#kiosk-supervisor`, chromedp.NodeVisible), chromedp.WaitVisible(`#exit-dialog[open] #exit-code`))
		r.check("exit")
		r.run("wrong code", chromedp.SendKeys(`#exit-code`, "0000"), chromedp.Click(`[data-action="exit-submit"]`))
		r.waitTrue("the code is refused", `document.getElementById('exit-error').className === 'error' && document.getElementById('exit-error').textContent.length > 0`)
		r.check("exit-wrong")
		for _, d := range "31415926" {
			r.run("code key", chromedp.Click(`#exit-dialog button[data-exit-key="`+string(d)+`"]`))
		}
		r.run("right code", chromedp.Click(`[data-action="exit-submit"]`))
		r.waitTrue("the code is accepted", `document.getElementById('exit-error').className === 'info'`)
		var left string
		r.eval(`document.getElementById('exit-code').value`, &left)
		if left != "" {
			t.Errorf("the staff code stays in its field")
		}
		r.run("close", chromedp.Click(`[data-action="exit-cancel"]`))
	}
}

// kioskPUKUnlock: the PUK unlock on a next-generation card; the screens
// and the taps are counted (docs/BENCHMARKS.md). In English it is typed
// on a keyboard; in Japanese a current card is told kindly it has no PUK.
func kioskPUKUnlock(t *testing.T, tx kioskText) {
	r := newKioskRun(t, tx, "puk-unlock", "", false)
	r.begin()
	r.choose("puk_unlock")
	toProcedure := r.taps
	r.screen("card")
	r.progress(1, 4)
	r.check("card")
	r.placeDemoCard("issued-next")
	r.waitTrue("the PUK pad", `document.getElementById('app').dataset.view === 'pin:pad-puk'`)
	r.waitTrue("focus on the heading", `document.activeElement && document.activeElement.id === 'step-title'`)
	r.progress(2, 4)
	if n := r.text(`#pad-puk-notice`); n == "" {
		t.Errorf("no notice of the PUK's tries before its entry")
	}
	pukOrder := r.keyOrder("pad-puk")
	r.check("puk")
	r.targetSizes("puk")
	keyboard := tx.lang == "en"
	if keyboard {
		// Digits typed with the focus on the heading go into the pad.
		r.keys("PUK", "12345678")
		r.keys("next", kb.Enter)
	} else {
		r.padDigits("pad-puk", "12345678")
		r.tap("next", `[data-action="next"]`)
	}
	r.waitTrue("the new PIN's pad", `document.getElementById('app').dataset.view === 'pin:pad-new'`)
	forPUK := r.taps - toProcedure
	r.progress(3, 4)
	newOrder := r.keyOrder("pad-new")
	if pukOrder == newOrder && pukOrder == "1234567890" {
		t.Errorf("the digit keys are not shuffled (%s, %s)", pukOrder, newOrder)
	}
	t.Logf("digit keys: PUK pad %s, new PIN pad %s", pukOrder, newOrder)
	if keyboard {
		r.waitTrue("focus on the heading", `document.activeElement && document.activeElement.id === 'step-title'`)
		r.keys("new PIN", "86428642")
	} else {
		r.padDigits("pad-new", "86428642")
	}
	r.run("the entries match", chromedp.WaitVisible(`#pad-new-pad [data-pad="ok"]`))
	r.check("new-pin")
	if keyboard {
		r.keys("unlock", kb.Enter)
	} else {
		r.tap("unlock", `[data-action="next"]`)
	}
	r.screen("result")
	forNew := r.taps - toProcedure - forPUK
	r.waitTrue("the outcome", `!!document.querySelector('[data-result]')`)
	r.progress(4, 4)
	var result string
	r.run("result", chromedp.AttributeValue(`[data-result]`, "data-result", &result, nil))
	if result != "ok" {
		r.fail("PUK unlock: result %q", result)
	}
	if h := r.text(`#step-title`); tx.okTitle != "" && !strings.Contains(h, tx.okTitle) {
		t.Errorf("result title %q, want %q", h, tx.okTitle)
	}
	r.check("result")
	r.noSecretsLeft("12345678", "8642")
	r.finish(false)
	var views []string
	r.eval(`window.kioskViews`, &views)
	screens := 0
	for _, v := range views {
		if v == "card" || strings.HasPrefix(v, "pin") || v == "result" {
			screens++
		}
	}
	how := "taps"
	if keyboard {
		how = "taps and keys"
	}
	t.Logf("BENCHMARK kiosk PUK unlock (%s): %d interactive screens of the procedure (%s); %d %s from the attract screen to the take-card screen: %d to open the procedure (start, language, menu), %d for the PUK, %d for the new PIN and its confirmation (with unlock), 1 to finish; the card placed once (not counted)",
		tx.lang, screens, strings.Join(views, " → "), r.taps, how, toProcedure, forPUK, forNew)
	if screens > 5 {
		t.Errorf("PUK unlock takes %d screens, want at most 5 (AusweisApp's PIN change)", screens)
	}

	if tx.lang == "ja" {
		// A current card has no PUK: said kindly, with the ways that work.
		r.begin()
		r.choose("puk_unlock")
		r.screen("card")
		r.placeDemoCard("issued")
		r.screen("result")
		r.waitTrue("no PUK", `!!document.querySelector('[data-result="no-puk"]')`)
		if h := r.text(`#step-title`); !strings.Contains(h, tx.noPUK) {
			t.Errorf("no-PUK title %q, want %q", h, tx.noPUK)
		}
		r.check("no-puk")
		r.finish(false)
	}
}

// simSerial finds the full serial of the demo card ending in last4 in the
// built-in central simulator's database (the kiosk never shows it).
func simSerial(t *testing.T, data, last4 string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "central-sim", "jlis.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var serial string
	if err := db.QueryRow(`SELECT serial FROM cards WHERE serial LIKE ? ORDER BY updated_at DESC LIMIT 1`, "%"+last4).Scan(&serial); err != nil {
		t.Fatalf("the demo card ending in %s in the simulator: %v", last4, err)
	}
	return serial
}

// kioskReservedReset: the signature password set again with the auth
// PIN: without a reservation the kiosk says so and how to make one; with
// one (jlis-sim reserve) it is done.
func kioskReservedReset(t *testing.T, tx kioskText) {
	r := newKioskRun(t, tx, "reserved-reset", "", false)
	attempt := func(round string, placeCard bool) string {
		r.begin()
		r.choose("reserved_reset")
		r.screen("which")
		r.progress(1, 5)
		r.check(round + "-which")
		r.tap("the signature password", `button[data-target="sign"]`)
		last4 := ""
		r.screen("card")
		r.progress(2, 5)
		if placeCard {
			var cv struct {
				SerialLast4 string `json:"serialLast4"`
			}
			// A new card in the demo's reader (as the demo panel's button
			// does, which keeps the serial to itself).
			r.api("DemoInsert", &cv, "issued")
			last4 = cv.SerialLast4
		}
		// The card on the reader is read.
		r.placeDemoCard("current")
		r.waitTrue("the other PIN's pad", `document.getElementById('app').dataset.view === 'pin:pad-old'`)
		r.progress(3, 5)
		if n := r.text(`#pad-old-notice`); n == "" {
			t.Errorf("no notice of the auth PIN's tries before its entry")
		}
		r.check(round + "-other-pin")
		r.run("auth PIN", chromedp.SendKeys(`#pad-old-pin`, "1234"))
		r.tap("next", `[data-action="next"]`)
		r.waitTrue("the new PIN's pad", `document.getElementById('app').dataset.view === 'pin:pad-new'`)
		r.run("new signature password",
			chromedp.SendKeys(`#pad-new-pin`, "hana7sora"),
			chromedp.SendKeys(`#pad-new-confirm`, "HANA7SORA"),
			chromedp.WaitVisible(`#pad-new-pad [data-pad="ok"]`))
		r.check(round + "-new-pin")
		r.tap("set", `[data-action="next"]`)
		r.screen("result")
		r.waitTrue("the outcome", `!!document.querySelector('[data-result]')`)
		r.noSecretsLeft("1234", "HANA7SORA")
		return last4
	}
	last4 := attempt("without", true)
	var result, code string
	r.run("result", chromedp.AttributeValue(`[data-result]`, "data-result", &result, nil))
	r.run("code", chromedp.AttributeValue(`[data-result]`, "data-code", &code, nil))
	if result != "failure" || code != "flow.error.no_reservation" {
		r.fail("without a reservation: result %q code %q, want failure flow.error.no_reservation", result, code)
	}
	if m := r.text(`[data-result="failure"] .kiosk-error`); tx.noReservation != "" && !strings.Contains(m, tx.noReservation) {
		t.Errorf("no-reservation message %q, want %q", m, tx.noReservation)
	}
	r.run("how to reserve", chromedp.WaitVisible(`[data-result="help"]`))
	r.check("no-reservation")
	r.finish(false)

	serial := simSerial(t, r.data, last4)
	out, err := exec.Command(r.bin, "jlis-sim", "reserve", "--serial", serial, "--pin", "sign", "--data", filepath.Join(r.data, "central-sim")).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "want init, run") {
			t.Skipf("skipping the reset with a reservation: this binary has no `jlis-sim reserve` yet: %s", out)
		}
		t.Fatalf("jlis-sim reserve: %v\n%s", err, out)
	}
	t.Logf("reservation: %s", strings.TrimSpace(string(out)))
	// The same card, still on the reader.
	attempt("with", false)
	r.run("result", chromedp.AttributeValue(`[data-result]`, "data-result", &result, nil))
	if result != "ok" {
		r.fail("with a reservation: result %q", result)
	}
	if h := r.text(`#step-title`); tx.okTitle != "" && !strings.Contains(h, tx.okTitle) {
		t.Errorf("result title %q, want %q", h, tx.okTitle)
	}
	r.check("with-result")
	r.finish(false)
}

// TestKioskIdleTimeout: with a 10-s idle time, the warning shows 3 s
// before, "continue" keeps everything, and at the timeout nothing of the
// citizen is left: no PIN in an input, no result, the attract screen, and
// Go's session inactive without a card.
func TestKioskIdleTimeout(t *testing.T) {
	tx := kioskTexts[1]
	r := newKioskRun(t, tx, "idle", "[kiosk]\nidle_seconds = 10\nwarn_seconds = 3\n", false)
	r.begin()
	r.choose("puk_unlock")
	r.screen("card")
	r.placeDemoCard("issued-next")
	r.waitTrue("the PUK pad", `document.getElementById('app').dataset.view === 'pin:pad-puk'`)
	r.padDigits("pad-puk", "1234")
	touched := time.Now()
	r.waitTrueFor("the idle warning", `!!document.querySelector('#idle-dialog[open]')`, 15*time.Second)
	warnedAfter := time.Since(touched)
	if warnedAfter < 6*time.Second || warnedAfter > 9*time.Second {
		t.Errorf("the idle warning came %v after the last touch, want about 7 s (10 − 3)", warnedAfter)
	}
	if c := r.text(`#idle-count`); !regexp.MustCompile(`[123]`).MatchString(c) {
		t.Errorf("idle countdown %q", c)
	}
	r.check("idle-warning")
	r.tap("continue", `#idle-dialog [data-action="continue"]`)
	r.waitTrue("the warning closes", `!document.querySelector('#idle-dialog')`)
	var kept string
	r.eval(`document.getElementById('pad-puk-pin').value`, &kept)
	if kept != "1234" {
		t.Errorf("after continue the PUK field holds %q, want what was typed", kept)
	}
	touched = time.Now()
	r.waitTrueFor("the attract screen after the timeout", `document.getElementById('app').dataset.screen === 'attract' && !!document.getElementById('kiosk-start')`, 15*time.Second)
	clearedAfter := time.Since(touched)
	if clearedAfter < 9*time.Second {
		t.Errorf("cleared %v after the last touch, want 10 s", clearedAfter)
	}
	var left struct {
		Inputs  int    `json:"inputs"`
		Filled  int    `json:"filled"`
		Results int    `json:"results"`
		Pads    int    `json:"pads"`
		Lang    string `json:"lang"`
		Text    string `json:"text"`
	}
	r.eval(`({ inputs: document.querySelectorAll('#app input').length,
	  filled: [...document.querySelectorAll('input')].filter(i => i.value !== '').length,
	  results: document.querySelectorAll('[data-result], .kiosk-step, .pinpad, #kiosk-status').length,
	  pads: document.querySelectorAll('[data-pin-field]').length,
	  lang: document.documentElement.lang, text: document.body.innerText })`, &left)
	if left.Filled > 0 || left.Results > 0 || left.Pads > 0 || left.Lang != "ja" || strings.Contains(left.Text, "PUK") {
		t.Errorf("after the timeout the page still holds the citizen's data: %+v", left)
	}
	var st struct {
		Active bool `json:"active"`
		Card   bool `json:"card"`
	}
	r.api("KioskState", &st)
	if st.Active || st.Card {
		t.Errorf("after the timeout KioskState = %+v, want inactive without a card", st)
	}
	r.check("after-timeout")
	t.Logf("idle: warning %.1f s after the last touch, cleared %.1f s after it", warnedAfter.Seconds(), clearedAfter.Seconds())
}

// TestKioskRichText feeds the furigana renderer (tRich's sanitiser) hostile
// markup in Chromium: only ruby, rt and rp come out, as elements without
// attributes; everything else is text or dropped, and nothing runs.
func TestKioskRichText(t *testing.T) {
	r := newKioskRun(t, kioskTexts[0], "rich", "", false)
	for _, tc := range []struct{ in, want string }{
		{`<ruby>暗証番号<rt>あんしょうばんごう</rt></ruby>を入れてください`, `<ruby>暗証番号<rt>あんしょうばんごう</rt></ruby>を入れてください`},
		{`<img src=x onerror="window.pwned=1">画像`, `画像`},
		{`<script>window.pwned=2</script>後`, `後`},
		{`<RUBY class="x" onclick="window.pwned=3">字<rp>(</rp><RT style="color:red">じ</RT><rp>)</rp></RUBY>`, `<ruby>字<rp>(</rp><rt>じ</rt><rp>)</rp></ruby>`},
		{`<b onmouseover="window.pwned=4">太</b><a href="javascript:window.pwned=5">リンク</a>`, `太リンク`},
		{`<rt>外</rt><ruby><ruby>入れ子</ruby></ruby>`, `外<ruby>入れ子</ruby>`},
		{`1 &lt; 2 &amp; &#x3042; <svg onload="window.pwned=6"><text>x</text></svg>`, `1 &lt; 2 &amp; あ `},
		{`<img src=x onerror="window.pwned=7" alt='a>b'>ok`, `ok`},
		{`<!-- <script>window.pwned=8</script> -->c`, `c`},
	} {
		var got string
		r.eval(fmt.Sprintf(`window.madoguchiRich(%q)`, tc.in), &got)
		if got != tc.want {
			t.Errorf("rich(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	var pwned bool
	r.eval(`window.pwned !== undefined`, &pwned)
	if pwned {
		t.Error("markup fed to the renderer ran")
	}
}

// TestKioskMessages: every key the kiosk screens use literally has a
// message in Japanese and English, and the two kiosk files have the same
// keys (translators start from them).
func TestKioskMessages(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("frontend", "src", "kiosk.ts"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(?:tRich|tnRich|tPlain)\(\s*'([a-z0-9_.-]+)'`).FindAllStringSubmatch(string(src), -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`'(kiosk\.[a-z0-9_.-]+)'`).FindAllStringSubmatch(string(src), -1) {
		used[m[1]] = true
	}
	// Keys built at run time.
	for _, p := range []string{"status_check", "phone", "puk_unlock", "reserved_reset"} {
		used["kiosk.menu."+p+".title"], used["kiosk.menu."+p+".desc"] = true, true
	}
	for _, k := range []string{"issued", "due", "issued-next", "due-next"} {
		used["kiosk.demo."+k] = true
	}
	for _, k := range []string{"puk_unlock", "reserved_reset"} {
		used["kiosk.run."+k], used["kiosk.result.done."+k] = true, true
	}
	for _, k := range []string{"good", "suspended", "revoked", "unknown"} {
		used["kiosk.cert."+k] = true
	}
	for _, k := range []string{"current", "next"} {
		used["kiosk.generation."+k] = true
	}
	for _, k := range []string{"sign", "auth"} {
		used["kiosk.reserved.target."+k], used["kiosk.reserved.target."+k+"_desc"] = true, true
	}
	for _, k := range []string{"card", "auth", "sign"} {
		used["kiosk.status."+k] = true
	}
	if len(used) < 80 {
		t.Fatalf("found only %d keys in kiosk.ts: the scan is broken", len(used))
	}
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"ja", "en"} {
		have := map[string]bool{}
		for _, id := range b.IDs(lang) {
			have[id] = true
		}
		for k := range used {
			if !have[k] {
				t.Errorf("%s: key %q used by kiosk.ts has no message", lang, k)
			}
		}
	}
	keysOf := func(file string) []string {
		var m map[string]any
		if _, err := toml.DecodeFS(locales.FS, file, &m); err != nil {
			t.Fatal(err)
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	ja, en := keysOf("kiosk.ja.toml"), keysOf("kiosk.en.toml")
	if strings.Join(ja, " ") != strings.Join(en, " ") {
		t.Errorf("kiosk.ja.toml and kiosk.en.toml differ in their keys:\nja %v\nen %v", ja, en)
	}
	for _, k := range ja {
		if !strings.HasPrefix(k, "kiosk.") {
			t.Errorf("kiosk.ja.toml defines %q outside kiosk.*", k)
		}
	}
}

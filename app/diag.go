package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/queue"
)

// Check is one line of the diagnostics screen: a part the terminal
// depends on, its state, and — when something is wrong — a stable code to
// quote to IT support and what to do (docs/ERROR-CODES.md lists them all).
type Check struct {
	// Part is "reader", "central", "clock", "printer", "queue", "store",
	// "disk" or "fonts"; its title is the key diag.check.<Part>.
	Part string `json:"part"`
	// State is "ok", "demo", "warn" or "fail".
	State string `json:"state"`
	// Label is the key of what was found, with Data for its placeholders.
	Label i18n.Key       `json:"label"`
	Data  map[string]any `json:"data,omitempty"`
	// Detail is a non-localized detail (a reader or printer queue name).
	Detail string `json:"detail,omitempty"`
	// Code and Fix are set when State is warn or fail.
	Code string   `json:"code,omitempty"`
	Fix  i18n.Key `json:"fix,omitempty"`
}

// DiagnosticsView is the diagnostics screen.
type DiagnosticsView struct {
	Checks    []Check `json:"checks"`
	Version   string  `json:"version"`
	Terminal  string  `json:"terminal"`
	Mode      string  `json:"mode"`
	Face      string  `json:"face"`
	DataDir   string  `json:"dataDir"`
	CheckedAt string  `json:"checkedAt"` // RFC 3339
}

// ErrorCode is one entry of the catalogue: what the screen says (Label),
// how bad it is, and the fix.
type ErrorCode struct {
	Code     string
	Part     string
	Severity string // "warn" or "fail"
	Label    i18n.Key
	Fix      i18n.Key
}

// ErrorCodes is the catalogue of diagnostics codes, in the order of
// docs/ERROR-CODES.md. Codes are never reused for another meaning.
var ErrorCodes = []ErrorCode{
	{"MDG-101", "reader", "fail", "status.reader.no_service", "diag.fix.pcscd"},
	{"MDG-102", "reader", "fail", "status.reader.missing", "diag.fix.reader_missing"},
	{"MDG-201", "central", "fail", "status.central.unreachable", "diag.fix.central_unreachable"},
	{"MDG-202", "central", "fail", "status.central.misconfigured", "diag.fix.central_misconfigured"},
	{"MDG-203", "central", "warn", "status.central.paused", "diag.fix.central_paused"},
	{"MDG-204", "central", "warn", "status.central.connecting", "diag.fix.central_connecting"},
	{"MDG-205", "clock", "warn", "diag.clock.off", "diag.fix.clock"},
	{"MDG-301", "printer", "warn", "receipt.print.no_printer", "diag.fix.no_printer"},
	{"MDG-302", "printer", "fail", "receipt.print.unreachable", "diag.fix.cups"},
	{"MDG-303", "printer", "fail", "receipt.print.offline", "diag.fix.printer_offline"},
	{"MDG-304", "printer", "fail", "receipt.print.no_paper", "diag.fix.paper"},
	{"MDG-305", "printer", "fail", "receipt.print.stopped", "diag.fix.printer_stopped"},
	{"MDG-306", "printer", "warn", "diag.printer.unprinted", "diag.fix.unprinted"},
	{"MDG-401", "queue", "fail", "diag.queue.dead", "diag.fix.queue_dead"},
	{"MDG-402", "store", "fail", "diag.store.damaged", "diag.fix.store"},
	{"MDG-403", "disk", "warn", "diag.disk.low", "diag.fix.disk"},
	{"MDG-501", "fonts", "warn", "diag.fonts.missing", "diag.fix.fonts"},
}

// clockTolerance is the difference from the central system's clock above
// which the PC's clock is flagged: certificates' and cards' validity, the
// receipts' times and the central system's checks all read it.
const clockTolerance = 2 * time.Minute

// lowDisk is the free space under which the data disk is flagged: the
// store, receipts and logs of a busy week fit many times over.
const lowDisk = 1 << 30

// Diagnostics checks every part the terminal depends on, for the
// diagnostics screen (any mode, no login: it shows no personal data).
func (a *App) Diagnostics() (DiagnosticsView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := DiagnosticsView{Version: a.d.Version, Terminal: a.d.Config.Terminal, Mode: string(a.d.Mode), Face: a.d.Face,
		DataDir: a.d.DataDir, CheckedAt: a.d.Now().Format(time.RFC3339)}
	v.Checks = append(v.Checks, component("reader", a.reader(ctx)), component("central", a.central(ctx)))
	if a.d.ClockSkew != nil {
		v.Checks = append(v.Checks, clockCheck(a.d.ClockSkew()))
	}
	pr := component("printer", a.printer(ctx))
	if n := a.unprinted(ctx); n > 0 && pr.State != "fail" {
		pr = coded(Check{Part: "printer", Detail: pr.Detail}, "diag.printer.unprinted")
		pr.Data = map[string]any{"Count": n}
	}
	v.Checks = append(v.Checks, pr)

	q, err := queue.Backlog(ctx, a.d.Store.DB)
	switch {
	case err != nil:
		v.Checks = append(v.Checks, coded(Check{Part: "store", Detail: err.Error()}, "diag.store.damaged"))
	case q.Dead > 0:
		v.Checks = append(v.Checks, coded(Check{Part: "queue", Data: map[string]any{"Pending": q.Pending, "Dead": q.Dead}}, "diag.queue.dead"))
	default:
		v.Checks = append(v.Checks, Check{Part: "queue", State: "ok", Label: "diag.queue.ok", Data: map[string]any{"Pending": q.Pending, "Dead": 0}})
	}

	var integrity string
	if err := a.d.Store.DB.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&integrity); err != nil || integrity != "ok" {
		if err != nil {
			integrity = err.Error()
		}
		v.Checks = append(v.Checks, coded(Check{Part: "store", Detail: integrity}, "diag.store.damaged"))
	} else {
		v.Checks = append(v.Checks, Check{Part: "store", State: "ok", Label: "diag.store.ok"})
	}

	if a.d.FreeSpace != nil {
		free, err := a.d.FreeSpace(a.d.DataDir)
		switch {
		case err != nil:
			v.Checks = append(v.Checks, coded(Check{Part: "disk", Detail: err.Error()}, "diag.disk.low"))
		case free < lowDisk:
			v.Checks = append(v.Checks, coded(Check{Part: "disk", Data: map[string]any{"Free": humanBytes(free)}}, "diag.disk.low"))
		default:
			v.Checks = append(v.Checks, Check{Part: "disk", State: "ok", Label: "diag.disk.ok", Data: map[string]any{"Free": humanBytes(free)}})
		}
	}
	if a.d.MissingFonts != nil {
		missing, err := a.d.MissingFonts(ctx)
		switch {
		case err != nil:
			v.Checks = append(v.Checks, coded(Check{Part: "fonts", Detail: err.Error(), Data: map[string]any{"Langs": "?"}}, "diag.fonts.missing"))
		case len(missing) > 0:
			v.Checks = append(v.Checks, coded(Check{Part: "fonts", Data: map[string]any{"Langs": strings.Join(missing, ", ")}}, "diag.fonts.missing"))
		default:
			v.Checks = append(v.Checks, Check{Part: "fonts", State: "ok", Label: "diag.fonts.ok"})
		}
	}
	return v, nil
}

// clockCheck compares this PC's clock with the central system's.
func clockCheck(skew time.Duration, ok bool) Check {
	switch {
	case !ok:
		return Check{Part: "clock", State: "ok", Label: "diag.clock.unknown"}
	case skew > clockTolerance || skew < -clockTolerance:
		if skew < 0 {
			skew = -skew
		}
		minutes := int((skew + 30*time.Second) / time.Minute)
		return coded(Check{Part: "clock", Data: map[string]any{"Minutes": minutes}}, "diag.clock.off")
	}
	return Check{Part: "clock", State: "ok", Label: "diag.clock.ok"}
}

// component turns a status Component into a Check, with its code when the
// catalogue knows its label.
func component(part string, c Component) Check {
	ch := Check{Part: part, Label: c.Label, Detail: c.Detail}
	switch c.State {
	case "ok", "demo":
		ch.State = c.State
		return ch
	case "absent":
		ch.State = "ok" // no card in the reader is normal
	default:
		ch.State = "fail"
	}
	if e, ok := codeOf(part, c.Label); ok {
		ch.State, ch.Code, ch.Fix = e.Severity, e.Code, e.Fix
	}
	return ch
}

// coded fills in a Check's state, label, code and fix from the catalogue.
func coded(ch Check, label i18n.Key) Check {
	e, _ := codeOf(ch.Part, label)
	ch.State, ch.Label, ch.Code, ch.Fix = e.Severity, label, e.Code, e.Fix
	return ch
}

func codeOf(part string, label i18n.Key) (ErrorCode, bool) {
	for _, e := range ErrorCodes {
		if e.Part == part && e.Label == label {
			return e, true
		}
	}
	return ErrorCode{Severity: "fail"}, false
}

// humanBytes is a size for people: "12.3 GB".
func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// ErrorCodesMarkdown renders the catalogue as docs/ERROR-CODES.md, in
// English (`madoguchi error-codes --lang ja` prints it in another
// language).
func ErrorCodesMarkdown(b *i18n.Bundle) string {
	return errorCodesMarkdown(b, "en")
}

func errorCodesMarkdown(b *i18n.Bundle, lang string) string {
	sample := map[string]any{"Count": "N", "Pending": "N", "Dead": "N", "Free": "0.8 GB", "Langs": "th, ne", "Minutes": "N"}
	cell := func(s string) string { return strings.ReplaceAll(i18n.PlainText(s), "|", `\|`) }
	var w strings.Builder
	w.WriteString("# Diagnostics codes\n\n")
	w.WriteString("<!-- Generated from app.ErrorCodes and locales/diag.en.toml by `madoguchi error-codes > docs/ERROR-CODES.md`; a test keeps it current. -->\n\n")
	w.WriteString("The diagnostics screen (the status panel's **Diagnostics** button, in every mode but the kiosk's citizen screens) checks\n")
	w.WriteString("the card reader, the central system, the PC's clock against the central system's, the receipt printer, the sending queue,\n")
	w.WriteString("the database, the data disk and the fonts.\n")
	w.WriteString("Each problem carries a code that a clerk can quote to IT support; a code keeps its meaning for good.\n")
	w.WriteString("`fail` stops procedures or loses service; `warn` needs attention but procedures go on.\n")
	w.WriteString("`madoguchi error-codes --lang ja` prints this list in another language.\n\n")
	w.WriteString("| Code | Part | Severity | The screen says | What to do |\n|---|---|---|---|---|\n")
	for _, e := range ErrorCodes {
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s |\n", e.Code, cell(b.T(lang, i18n.Key("diag.check."+e.Part), nil)), e.Severity,
			cell(b.T(lang, e.Label, sample)), cell(b.T(lang, e.Fix, sample)))
	}
	return w.String()
}

// ErrorCodesText renders the catalogue in lang for `madoguchi error-codes`.
func ErrorCodesText(b *i18n.Bundle, lang string) string {
	return errorCodesMarkdown(b, b.Match(lang))
}

package printing

import (
	"strings"
	"sync"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
)

// Options shape a composed receipt.
type Options struct {
	// MunicipalityCopy adds a second copy for the municipality, with a
	// line for the citizen's signature.
	MunicipalityCopy bool
	// Sample prints a SAMPLE banner (layout review with demo data).
	Sample bool
	// Now decides which expiry dates are near; default: the receipt's
	// issue time.
	Now time.Time
}

// nearExpiry is how close an expiry date must be for the receipt to warn:
// certificates can be renewed from three months before they expire.
const nearExpiry = 90 * 24 * time.Hour

// Compose puts a stored receipt into words: Japanese, and the citizen's
// language beside it when that is not Japanese; dates in the Japanese era
// and the Western calendar; the card's and the certificates' expiry dates
// side by side.
func Compose(b *i18n.Bundle, rec receipt.Record, o Options) Receipt {
	lang := PrintLanguage(b, rec.Lang)
	c := composer{b: b, lang: lang}
	if o.Now.IsZero() {
		o.Now = rec.Issued
	}
	d := rec.Details
	r := Receipt{
		Number:    rec.Number,
		Lang:      lang,
		Created:   rec.Issued,
		Title:     c.t(titleKey(rec.Procedure), nil),
		QR:        rec.QRPayload(),
		Code:      rec.Code,
		CodeLabel: c.t(i18n.Key("receipt.code_label"), nil),
		Footer:    c.t(i18n.Key("receipt.footer"), nil),
	}
	if o.Sample {
		r.Banner = c.t(i18n.Key("receipt.sample"), nil)
	}
	counter := rec.Counter
	if rec.Terminal != "" {
		counter += "（" + rec.Terminal + "）"
	}
	r.Header = []Row{
		{c.t(i18n.Key("receipt.label.municipality"), nil), Text{JA: rec.Municipality}},
		{c.t(i18n.Key("receipt.label.counter"), nil), Text{JA: counter}},
		{c.t(i18n.Key("receipt.label.date"), nil), c.dateTime(rec.Issued)},
		{c.t(i18n.Key("receipt.label.number"), nil), Text{JA: rec.Number}},
	}
	if d.HolderName != "" {
		r.Header = append(r.Header, Row{c.t(i18n.Key("receipt.label.holder"), nil), Text{JA: d.HolderName}})
	}

	// What was done.
	done := Section{Heading: c.t(i18n.Key("receipt.section.done"), nil)}
	if d.CardLast4 != "" {
		done.Rows = append(done.Rows, Row{c.t(i18n.Key("receipt.label.card"), nil), Text{JA: "…" + d.CardLast4}})
	}
	if d.Reference != "" {
		done.Rows = append(done.Rows, Row{c.t(i18n.Key("receipt.label.reference"), nil), Text{JA: d.Reference}})
	}
	if d.Device != "" {
		done.Rows = append(done.Rows, Row{c.t(i18n.Key("receipt.label.device"), nil), Text{JA: d.Device}})
	}
	for _, k := range doneKeys(rec.Procedure) {
		done.Items = append(done.Items, c.t(k, nil))
	}
	if d.OldCardCollected {
		done.Items = append(done.Items, c.t(i18n.Key("receipt.done.old_card_collected"), nil))
	}
	if len(done.Rows)+len(done.Items) > 0 {
		r.Sections = append(r.Sections, done)
	}

	if len(d.Changed) > 0 {
		s := Section{Heading: c.t(i18n.Key("receipt.section.changed"), nil)}
		for _, it := range d.Changed {
			s.Items = append(s.Items, c.t(itemKey(it), nil))
		}
		r.Sections = append(r.Sections, s)
	}

	if len(d.PINs) > 0 {
		heading := i18n.Key("receipt.section.pins_reset")
		if rec.Procedure == receipt.PUKUnlock {
			heading = i18n.Key("receipt.section.pins_unlocked")
		}
		s := Section{Heading: c.t(heading, nil)}
		for _, p := range d.PINs {
			s.Items = append(s.Items, c.t(pinKey(p), nil))
		}
		s.Items = append(s.Items, c.t(i18n.Key("receipt.pin.never_printed"), nil))
		r.Sections = append(r.Sections, s)
	}

	if len(d.Certs) > 0 {
		s := Section{Heading: c.t(i18n.Key("receipt.section.certs"), nil)}
		for _, ct := range d.Certs {
			s.Items = append(s.Items, c.certLine(ct))
		}
		r.Sections = append(r.Sections, s)
	}

	// Expiry dates side by side: the card's, then each live certificate's.
	var cols []Column
	if !d.CardExpiry.IsZero() {
		cols = append(cols, c.column(i18n.Key("receipt.validity.card"), d.CardExpiry, o.Now))
	}
	for _, ct := range d.Certs {
		if ct.Expiry.IsZero() || ct.Action == receipt.CertRevoked {
			continue
		}
		cols = append(cols, c.column(validityKey(ct.Purpose), ct.Expiry, o.Now))
	}
	if len(cols) > 0 {
		r.Validity = &Validity{Heading: c.t(i18n.Key("receipt.validity.heading"), nil), Columns: cols}
	}

	r.Notes = append(r.Notes, c.t(nextKey(rec.Procedure), nil))
	if d.Queued {
		r.Notes = append(r.Notes, c.t(i18n.Key("receipt.queued"), nil))
	}

	r.Copies = []Copy{{Label: c.t(i18n.Key("receipt.copy.citizen"), nil)}}
	if o.MunicipalityCopy {
		r.Copies = append(r.Copies, Copy{
			Label:     c.t(i18n.Key("receipt.copy.municipality"), nil),
			Signature: c.t(i18n.Key("receipt.signature"), nil),
		})
	}
	return r
}

// composer localises into Japanese and the citizen's language.
type composer struct {
	b    *i18n.Bundle
	lang string
}

func (c composer) t(k i18n.Key, data map[string]any) Text {
	t := Text{JA: c.b.T("ja", k, data)}
	if c.lang != "ja" {
		t.Local = plainRuby(c.b.T(c.lang, k, data))
	}
	return t
}

// PrintLanguage is the language a receipt prints beside Japanese: the
// citizen's, unless the embedded font lacks its script (Thai, Devanagari,
// Hangul…), then English; the screens still speak the citizen's language.
func PrintLanguage(b *i18n.Bundle, lang string) string {
	lang = b.Match(lang)
	if lang == "ja" || lang == "en" {
		return lang
	}
	if v, ok := printable.Load(lang); ok {
		if v.(bool) {
			return lang
		}
		return "en"
	}
	ok := true
	if cov, err := FontCoverage(); err == nil {
		cat := b.Catalog(lang)
		for id, msg := range cat.Messages {
			if receiptMessage(id) && len(cov.MissingIn(plainRuby(msg))) > 0 {
				ok = false
				break
			}
		}
	}
	printable.Store(lang, ok)
	if ok {
		return lang
	}
	return "en"
}

// printable caches PrintLanguage's verdict per language.
var printable sync.Map

// receiptMessage: the message IDs a receipt may print.
func receiptMessage(id string) bool {
	for _, p := range []string{"receipt.", "era.", "date.", "month."} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// plainRuby turns easy Japanese's furigana markup into text for paper:
// <ruby>漢字<rt>かんじ</rt></ruby> → 漢字(かんじ); other tags go.
func plainRuby(s string) string { return i18n.PlainText(s) }

func (c composer) certLine(ct receipt.Cert) Text {
	line := func(lang string) string {
		return c.b.T(lang, i18n.Key("receipt.cert.line"), map[string]any{
			"Cert": c.b.T(lang, certKey(ct.Purpose), nil), "Action": c.b.T(lang, actionKey(ct.Action), nil)})
	}
	t := Text{JA: line("ja")}
	if c.lang != "ja" {
		t.Local = line(c.lang)
	}
	return t
}

// dateTime shows an instant in Japan: the date in both calendars and the
// time of day.
func (c composer) dateTime(at time.Time) Text {
	hm := at.In(i18n.Japan).Format("15:04")
	t := Text{JA: c.b.FormatDate("ja", at) + " " + hm}
	if c.lang != "ja" {
		t.Local = c.b.FormatDate(c.lang, at) + " " + hm
	}
	return t
}

// column is one expiry date of the validity table: the era date over the
// Western one, in Japanese (the citizen's language shows in the heading).
func (c composer) column(head i18n.Key, expiry, now time.Time) Column {
	col := Column{Head: c.t(head, nil), Lines: splitDate(c.b.FormatDate("ja", expiry))}
	if left := expiry.Sub(now); left < nearExpiry {
		col.Note = c.t(i18n.Key("receipt.validity.near"), nil)
	}
	return col
}

// splitDate cuts "令和13年11月22日 (2031-11-22)" before its Western part,
// so a narrow column shows both calendars on two lines.
func splitDate(s string) []string {
	if i := strings.LastIndex(s, " ("); i > 0 {
		return []string{s[:i], s[i+1:]}
	}
	return []string{s}
}

// The message keys, spelt out so that the locale test finds every one.

func titleKey(p receipt.Procedure) i18n.Key {
	switch p {
	case receipt.Issuance:
		return i18n.Key("receipt.title.issuance")
	case receipt.CertRenewal:
		return i18n.Key("receipt.title.cert_renewal")
	case receipt.CardRenewal:
		return i18n.Key("receipt.title.card_renewal")
	case receipt.ChangeOfDetails:
		return i18n.Key("receipt.title.change_of_details")
	case receipt.PINReset:
		return i18n.Key("receipt.title.pin_reset")
	case receipt.ReservedReset:
		return i18n.Key("receipt.title.reserved_reset")
	case receipt.PUKUnlock:
		return i18n.Key("receipt.title.puk_unlock")
	case receipt.Phone:
		return i18n.Key("receipt.title.phone")
	case receipt.Suspension:
		return i18n.Key("receipt.title.suspension")
	case receipt.SuspensionLift:
		return i18n.Key("receipt.title.suspension_lift")
	}
	return i18n.Key("receipt.title.return")
}

func nextKey(p receipt.Procedure) i18n.Key {
	switch p {
	case receipt.Issuance:
		return i18n.Key("receipt.next.issuance")
	case receipt.CertRenewal:
		return i18n.Key("receipt.next.cert_renewal")
	case receipt.CardRenewal:
		return i18n.Key("receipt.next.card_renewal")
	case receipt.ChangeOfDetails:
		return i18n.Key("receipt.next.change_of_details")
	case receipt.PINReset:
		return i18n.Key("receipt.next.pin_reset")
	case receipt.ReservedReset:
		return i18n.Key("receipt.next.reserved_reset")
	case receipt.PUKUnlock:
		return i18n.Key("receipt.next.puk_unlock")
	case receipt.Phone:
		return i18n.Key("receipt.next.phone")
	case receipt.Suspension:
		return i18n.Key("receipt.next.suspension")
	case receipt.SuspensionLift:
		return i18n.Key("receipt.next.suspension_lift")
	}
	return i18n.Key("receipt.next.return")
}

// doneKeys are the sentences that say what the procedure did to the card.
func doneKeys(p receipt.Procedure) []i18n.Key {
	switch p {
	case receipt.Issuance:
		return []i18n.Key{i18n.Key("receipt.done.card_issued")}
	case receipt.CardRenewal:
		return []i18n.Key{i18n.Key("receipt.done.card_renewed")}
	case receipt.ChangeOfDetails:
		return []i18n.Key{i18n.Key("receipt.done.details_written")}
	case receipt.Phone:
		return []i18n.Key{i18n.Key("receipt.done.phone_stored")}
	case receipt.Suspension:
		return []i18n.Key{i18n.Key("receipt.done.suspended")}
	case receipt.SuspensionLift:
		return []i18n.Key{i18n.Key("receipt.done.lifted")}
	case receipt.Return:
		return []i18n.Key{i18n.Key("receipt.done.returned")}
	}
	return nil
}

func certKey(p receipt.CertPurpose) i18n.Key {
	switch p {
	case receipt.CertSignature:
		return i18n.Key("receipt.cert.signature")
	case receipt.CertPhone:
		return i18n.Key("receipt.cert.phone")
	}
	return i18n.Key("receipt.cert.auth")
}

func validityKey(p receipt.CertPurpose) i18n.Key {
	switch p {
	case receipt.CertSignature:
		return i18n.Key("receipt.validity.signature")
	case receipt.CertPhone:
		return i18n.Key("receipt.validity.phone")
	}
	return i18n.Key("receipt.validity.auth")
}

func actionKey(a receipt.CertAction) i18n.Key {
	switch a {
	case receipt.CertIssued:
		return i18n.Key("receipt.action.issued")
	case receipt.CertRenewed:
		return i18n.Key("receipt.action.renewed")
	case receipt.CertRevoked:
		return i18n.Key("receipt.action.revoked")
	case receipt.CertSuspended:
		return i18n.Key("receipt.action.suspended")
	case receipt.CertRestored:
		return i18n.Key("receipt.action.restored")
	}
	return i18n.Key("receipt.action.unchanged")
}

func pinKey(p receipt.PIN) i18n.Key {
	switch p {
	case receipt.PINAuth:
		return i18n.Key("receipt.pin.auth")
	case receipt.PINSignature:
		return i18n.Key("receipt.pin.signature")
	case receipt.PINInputAssist:
		return i18n.Key("receipt.pin.input_assist")
	case receipt.PINResidents:
		return i18n.Key("receipt.pin.residents")
	case receipt.PINShort:
		return i18n.Key("receipt.pin.short")
	}
	return i18n.Key("receipt.pin.long")
}

func itemKey(it receipt.Item) i18n.Key {
	switch it {
	case receipt.ItemName:
		return i18n.Key("receipt.item.name")
	case receipt.ItemAddress:
		return i18n.Key("receipt.item.address")
	case receipt.ItemBirthDate:
		return i18n.Key("receipt.item.birth_date")
	}
	return i18n.Key("receipt.item.sex")
}

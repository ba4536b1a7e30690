package printing

import (
	"fmt"
	"strings"
	"time"
)

// Layout is a paper format for receipts.
type Layout string

// Layouts.
const (
	// Roll80 is 80 mm roll paper (72 mm printed): one page per copy, as
	// long as its content.
	Roll80 Layout = "roll80"
	// A4 is an A4 sheet, portrait.
	A4 Layout = "a4"
)

// Layouts lists every layout.
func Layouts() []Layout { return []Layout{Roll80, A4} }

// ParseLayout reads a layout name ("roll80" or "a4"; "" is roll80).
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "roll80", "roll", "80mm":
		return Roll80, nil
	case "a4":
		return A4, nil
	}
	return "", fmt.Errorf("printing: layout %q: want roll80 or a4", s)
}

// Text is a text in Japanese and, beside it, in the citizen's language.
// Local is empty when the citizen reads Japanese (or when the text is the
// same in both).
type Text struct {
	JA    string
	Local string
}

// lines returns the texts to print: JA, then Local when it differs.
func (t Text) lines() []string {
	if t.Local == "" || t.Local == t.JA {
		return []string{t.JA}
	}
	return []string{t.JA, t.Local}
}

// Empty reports whether there is nothing to print.
func (t Text) Empty() bool { return t.JA == "" && t.Local == "" }

// Row is a label and its value.
type Row struct {
	Label Text
	Value Text
}

// Section is a headed group of rows and bulleted items.
type Section struct {
	Heading Text
	Rows    []Row
	Items   []Text
}

// Column is one thing with an expiry date in the validity table.
type Column struct {
	Head  Text
	Lines []string // the date, e.g. 令和13年11月22日 and (2031-11-22)
	Note  Text     // e.g. "expires soon"; empty for none
}

// Validity is the table of expiry dates side by side: the card's and the
// certificates'. Citizens confuse them; a receipt always shows both.
type Validity struct {
	Heading Text
	Columns []Column
}

// Copy is one printed copy of a receipt: the citizen's, or the
// municipality's with a line for the citizen's signature.
type Copy struct {
	Label     Text
	Signature Text // label of the signature line; empty: none
}

// Receipt is everything a receipt layout prints, already in words: the
// caller (Compose) localises and formats, the layouts only place text.
type Receipt struct {
	// Number is the receipt number (also the PDF's title).
	Number string
	// Lang is the citizen's language (the PDF's language is Japanese).
	Lang string
	// Created dates the PDF (its metadata), so that the same receipt
	// renders to the same bytes.
	Created time.Time

	Title    Text
	Banner   Text // printed boxed above the title, e.g. SAMPLE; empty: none
	Header   []Row
	Sections []Section
	Validity *Validity
	Notes    []Text
	// QR is the QR code's payload; Code, the verification code printed
	// under it for typing, with its label.
	QR        string
	Code      string
	CodeLabel Text
	Footer    Text
	// Copies: one page per copy; none means one unlabelled page.
	Copies []Copy
}

// texts returns every string the receipt prints, for checks.
func (r Receipt) texts() []string {
	var out []string
	add := func(ts ...Text) {
		for _, t := range ts {
			out = append(out, t.JA, t.Local)
		}
	}
	out = append(out, r.Number, r.Code, GroupCodeForPrint(r.Code))
	add(r.Title, r.Banner, r.CodeLabel, r.Footer)
	for _, h := range r.Header {
		add(h.Label, h.Value)
	}
	for _, s := range r.Sections {
		add(s.Heading)
		for _, row := range s.Rows {
			add(row.Label, row.Value)
		}
		add(s.Items...)
	}
	if r.Validity != nil {
		add(r.Validity.Heading)
		for _, c := range r.Validity.Columns {
			add(c.Head, c.Note)
			out = append(out, c.Lines...)
		}
	}
	add(r.Notes...)
	for _, c := range r.Copies {
		add(c.Label, c.Signature)
	}
	return out
}

// Text returns every string the receipt prints, one per line (tests and
// glyph checks).
func (r Receipt) Text() string {
	var b strings.Builder
	for _, s := range r.texts() {
		if s != "" {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// GroupCodeForPrint writes a verification code in groups of four.
func GroupCodeForPrint(code string) string {
	var b strings.Builder
	for i, r := range []rune(code) {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

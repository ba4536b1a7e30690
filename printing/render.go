package printing

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/go-pdf/fpdf"
	"rsc.io/qr"

	"madoguchi/app/receipt"
)

// fontFamily is the family name under which fpdf registers the font.
const fontFamily = "IPAexGothic"

// ptMM converts points to millimetres.
const ptMM = 25.4 / 72

// style is a layout's geometry, in millimetres and points.
type style struct {
	pageW, pageH float64 // pageH 0: a roll, each page as long as its content
	side         float64 // left and right margins
	top, bottom  float64
	title        float64 // pt
	titleLocal   float64
	body         float64
	local        float64 // the citizen's language beside Japanese
	small        float64
	labelW       float64 // label column
	qr           float64 // QR code side, quiet zone included
	gap          float64 // between blocks
}

func styleOf(l Layout) (style, error) {
	switch l {
	case Roll80:
		return style{pageW: 80, side: 4, top: 5, bottom: 8, title: 12, titleLocal: 8.5, body: 8.5,
			local: 7, small: 6.5, labelW: 22, qr: 28, gap: 1.2}, nil
	case A4:
		return style{pageW: 210, pageH: 297, side: 20, top: 15, bottom: 15, title: 16, titleLocal: 11,
			body: 10, local: 8, small: 7.5, labelW: 50, qr: 32, gap: 1.6}, nil
	}
	return style{}, fmt.Errorf("printing: unknown layout %q", l)
}

func (s style) width() float64 { return s.pageW - 2*s.side }

// scaled sets the text, the QR code and the gaps smaller by f.
func (s style) scaled(f float64) style {
	if f == 1 {
		return s
	}
	s.title, s.titleLocal, s.body, s.local, s.small = s.title*f, s.titleLocal*f, s.body*f, s.local*f, s.small*f
	s.qr, s.gap = s.qr*f, s.gap*f
	return s
}

// lineH is the height of a line of text at size pt.
func lineH(size float64) float64 { return size * ptMM * 1.42 }

// op is one drawing operation, y relative to its block.
type op struct {
	kind       opKind
	x, y, w, h float64
	text       string
	size       float64
	bold       bool // text: fill and stroke
	dashed     bool // line
}

type opKind uint8

const (
	opText opKind = iota // text with its line box's top at y
	opLine               // from (x,y) to (x+w,y+h)
	opFill               // filled rectangle
	opBox                // stroked rectangle
)

// block is a unit the page breaker keeps whole.
type block struct {
	h   float64
	ops []op
}

// PDF is a rendered receipt.
type PDF struct {
	Bytes []byte
	Pages int
	// Width and Height are the page size in mm (every page has it).
	Width, Height float64
	// Media is the printer media keyword for the page size: "A4", or
	// Custom.80xNNNmm for a roll.
	Media string
	// Missing lists characters the font lacks, printed as 〓.
	Missing []rune
}

// Renderer renders receipts. It holds the font's parsed character map:
// make one and reuse it; it is safe for concurrent use.
type Renderer struct {
	cov *Coverage
}

// NewRenderer parses the embedded font's character map.
func NewRenderer() (*Renderer, error) {
	cov, err := FontCoverage()
	if err != nil {
		return nil, err
	}
	return &Renderer{cov: cov}, nil
}

// Coverage is the embedded font's character coverage.
func (rd *Renderer) Coverage() *Coverage { return rd.cov }

// Render renders r in layout l and returns the PDF's bytes (see
// Renderer.Render for a Renderer to reuse).
func Render(r Receipt, l Layout) ([]byte, error) {
	rd, err := NewRenderer()
	if err != nil {
		return nil, err
	}
	p, err := rd.Render(r, l)
	return p.Bytes, err
}

// ErrIndividualNumber: a receipt's text holds an individual number's
// shape; nothing is rendered.
var ErrIndividualNumber = receipt.ErrIndividualNumber

// Render renders r in layout l: one page per copy (a roll page as long as
// its content), Japanese with the citizen's language beside it, the QR
// code, and the font embedded with only the glyphs used. Characters the
// font lacks are printed as 〓 and listed in PDF.Missing. A receipt whose
// text looks like an individual number is refused.
func (rd *Renderer) Render(r Receipt, l Layout) (PDF, error) {
	st, err := styleOf(l)
	if err != nil {
		return PDF{}, err
	}
	for _, s := range r.texts() {
		if receipt.LooksLikeIndividualNumber(s) {
			return PDF{}, ErrIndividualNumber
		}
	}
	initH := st.pageH
	if initH == 0 {
		initH = 200
	}
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: st.pageW, Ht: initH}})
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.AddUTF8FontFromBytes(fontFamily, "", ipaexGothic)
	if err := pdf.Error(); err != nil {
		return PDF{}, fmt.Errorf("printing: font: %w", err)
	}
	pdf.SetFont(fontFamily, "", st.body)
	if err := pdf.Error(); err != nil {
		return PDF{}, fmt.Errorf("printing: font: %w", err)
	}
	copies := r.Copies
	if len(copies) == 0 {
		copies = []Copy{{}}
	}
	// On a fixed page (A4) a long bilingual receipt is set smaller until
	// each copy fits on one page (at most to 70 %); a roll just grows.
	var b *builder
	var pages [][]block
	for _, scale := range []float64{1, 0.9, 0.8, 0.7} {
		b = &builder{pdf: pdf, st: st.scaled(scale), cov: rd.cov, missing: map[rune]bool{}}
		pages = pages[:0]
		for _, c := range copies {
			blocks, err := b.receipt(r, c)
			if err != nil {
				return PDF{}, err
			}
			pages = append(pages, b.paginate(blocks)...)
		}
		if st.pageH == 0 || len(pages) <= len(copies) {
			break
		}
	}
	st = b.st
	pageH := st.pageH
	if pageH == 0 {
		for _, p := range pages {
			h := st.top + st.bottom
			for _, bl := range p {
				h += bl.h
			}
			pageH = math.Max(pageH, math.Ceil(h))
		}
	}
	for _, p := range pages {
		pdf.AddPageFormat("P", fpdf.SizeType{Wd: st.pageW, Ht: pageH})
		y := st.top
		for _, bl := range p {
			b.draw(bl, y)
			y += bl.h
		}
	}
	pdf.SetTitle(r.Number, true)
	pdf.SetSubject(r.Title.JA, true)
	pdf.SetCreator("Madoguchi", true)
	pdf.SetProducer("Madoguchi (go-pdf/fpdf)", true)
	pdf.SetLang("ja")
	if !r.Created.IsZero() {
		pdf.SetCreationDate(r.Created)
		pdf.SetModificationDate(r.Created)
	}
	pdf.SetCatalogSort(true)
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return PDF{}, fmt.Errorf("printing: pdf: %w", err)
	}
	out := PDF{Bytes: buf.Bytes(), Pages: len(pages), Width: st.pageW, Height: pageH, Media: "A4"}
	if l == Roll80 {
		out.Media = fmt.Sprintf("Custom.%gx%gmm", st.pageW, pageH)
	}
	for ru := range b.missing {
		out.Missing = append(out.Missing, ru)
	}
	return out, nil
}

// builder lays out blocks, measuring with the document's font.
type builder struct {
	pdf     *fpdf.Fpdf
	st      style
	cov     *Coverage
	missing map[rune]bool
	size    float64 // font size last set while drawing
}

// clean replaces characters the font lacks with 〓 and control
// characters with spaces.
func (b *builder) clean(s string) string {
	ok := true
	for _, r := range s {
		if r != '\n' && !b.cov.Has(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case unicode.IsControl(r):
			return ' '
		case !b.cov.Has(r):
			b.missing[r] = true
			return Missing
		}
		return r
	}, s)
}

// measure returns a function measuring text at size pt. Layout happens
// before the first page exists, so setting the size writes nothing.
func (b *builder) measure(size float64) func(string) float64 {
	return func(s string) float64 {
		b.pdf.SetFontSize(size)
		return b.pdf.GetStringWidth(s)
	}
}

// para lays out s wrapped into width w at x, from y; align is 'L', 'C' or
// 'R'. It returns the y under the text.
func (b *builder) para(bl *block, x, y, w float64, s string, size float64, align byte, bold bool) float64 {
	if s == "" {
		return y
	}
	m := b.measure(size)
	for _, line := range Wrap(b.clean(s), w, m) {
		lx := x
		switch align {
		case 'C':
			lx = x + (w-m(line))/2
		case 'R':
			lx = x + w - m(line)
		}
		bl.ops = append(bl.ops, op{kind: opText, x: lx, y: y, text: line, size: size, bold: bold})
		y += lineH(size)
	}
	return y
}

// text lays out a bilingual text: Japanese at size, the citizen's
// language under it at local.
func (b *builder) text(bl *block, x, y, w float64, t Text, size, local float64, align byte, bold bool) float64 {
	for i, s := range t.lines() {
		if i == 0 {
			y = b.para(bl, x, y, w, s, size, align, bold)
		} else {
			y = b.para(bl, x, y, w, s, local, align, false)
		}
	}
	return y
}

func (b *builder) rule(h float64, dashed bool) block {
	w := b.st.width()
	bl := block{h: h}
	bl.ops = append(bl.ops, op{kind: opLine, x: b.st.side, y: h / 2, w: w, h: 0, dashed: dashed})
	return bl
}

// receipt lays out one copy.
func (b *builder) receipt(r Receipt, c Copy) ([]block, error) {
	st := b.st
	x, w := st.side, st.width()
	var out []block

	// Banner, title and which copy this is.
	var head block
	y := 0.0
	if !r.Banner.Empty() {
		y0 := y
		y = b.text(&head, x+2, y+1.5, w-4, r.Banner, st.body, st.local, 'C', true)
		y += 1.5
		head.ops = append(head.ops, op{kind: opBox, x: x, y: y0, w: w, h: y - y0})
		y += 2.5
	}
	y = b.text(&head, x, y, w, r.Title, st.title, st.titleLocal, 'C', true)
	if !c.Label.Empty() {
		y += 1
		y = b.para(&head, x, y, w, joinText(c.Label), st.small, 'R', false)
	}
	head.h = y + st.gap
	out = append(out, head, b.rule(2.5, false))

	// Header rows: municipality, counter, date, number, holder.
	for _, row := range r.Header {
		out = append(out, b.row(row))
	}

	for _, s := range r.Sections {
		out = append(out, b.rule(2.5, true))
		if !s.Heading.Empty() {
			var h block
			hy := b.text(&h, x, 0, w, s.Heading, st.body, st.local, 'L', true)
			h.h = hy + st.gap/2
			out = append(out, h)
		}
		for _, row := range s.Rows {
			out = append(out, b.row(row))
		}
		for _, it := range s.Items {
			out = append(out, b.item(it))
		}
	}

	if r.Validity != nil && len(r.Validity.Columns) > 0 {
		out = append(out, b.rule(2.5, true))
		out = append(out, b.validity(*r.Validity))
	}

	if len(r.Notes) > 0 {
		out = append(out, b.rule(2.5, true))
		for _, n := range r.Notes {
			out = append(out, b.item(n))
		}
	}

	if r.QR != "" {
		out = append(out, b.rule(2.5, false))
		q, err := b.qrBlock(r)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}

	if !c.Signature.Empty() {
		var sg block
		sy := 2.0
		sy = b.text(&sg, x, sy, w, c.Signature, st.small, st.small, 'L', false)
		sy += 9
		sg.ops = append(sg.ops, op{kind: opLine, x: x, y: sy, w: w})
		sg.h = sy + st.gap*2
		out = append(out, sg)
	}

	if !r.Footer.Empty() && (st.pageH == 0 || r.QR == "") {
		var f block
		fy := b.text(&f, x, st.gap, w, r.Footer, st.small, st.small, 'C', false)
		f.h = fy
		out = append(out, f)
	}
	return out, nil
}

func joinText(t Text) string { return strings.Join(t.lines(), " / ") }

// row lays out a label (Japanese over the citizen's language) beside its
// value.
func (b *builder) row(r Row) block {
	st := b.st
	x, w := st.side, st.width()
	var bl block
	ly := b.text(&bl, x, 0.25*ptMM*st.body, st.labelW-1.5, r.Label, st.small, st.small*0.92, 'L', false)
	vy := b.text(&bl, x+st.labelW, 0, w-st.labelW, r.Value, st.body, st.local, 'L', false)
	bl.h = math.Max(ly, vy) + st.gap
	return bl
}

// item lays out a bulleted text with a hanging indent.
func (b *builder) item(t Text) block {
	st := b.st
	x, w := st.side, st.width()
	var bl block
	bullet := "・"
	bw := b.measure(st.body)(bullet)
	bl.ops = append(bl.ops, op{kind: opText, x: x, y: 0, text: bullet, size: st.body})
	y := b.text(&bl, x+bw, 0, w-bw, t, st.body, st.local, 'L', false)
	bl.h = y + st.gap
	return bl
}

// validity lays out the expiry dates side by side in a ruled table.
func (b *builder) validity(v Validity) block {
	st := b.st
	x, w := st.side, st.width()
	var bl block
	y := b.text(&bl, x, 0, w, v.Heading, st.body, st.local, 'L', true)
	y += st.gap / 2
	n := len(v.Columns)
	cw := w / float64(n)
	pad := 1.0
	// Heads, then the dates, each part as high as its highest cell.
	top := y
	headH := 0.0
	var heads []block
	for _, c := range v.Columns {
		var hb block
		hy := b.text(&hb, 0, pad, cw-2*pad, c.Head, st.small, st.small*0.92, 'C', true)
		heads = append(heads, hb)
		headH = math.Max(headH, hy+pad)
	}
	// One date size for every column, as large as fits the narrowest; a
	// date on one line when every column has room for it.
	size := st.body
	m := b.measure(size)
	oneLine := true
	for _, c := range v.Columns {
		if m(b.clean(strings.Join(c.Lines, " "))) > cw-2*pad {
			oneLine = false
		}
	}
	lines := func(c Column) []string {
		if oneLine {
			return []string{strings.Join(c.Lines, " ")}
		}
		return c.Lines
	}
	widest := 0.0
	for _, c := range v.Columns {
		for _, l := range lines(c) {
			widest = math.Max(widest, m(b.clean(l)))
		}
	}
	if avail := cw - 2*pad; widest > avail {
		size = math.Max(5.5, size*avail/widest)
	}
	dateH := 0.0
	var dates []block
	for _, c := range v.Columns {
		var db block
		dy := pad
		for _, l := range lines(c) {
			dy = b.para(&db, 0, dy, cw-2*pad, l, size, 'C', false)
		}
		if !c.Note.Empty() {
			dy = b.text(&db, 0, dy+0.5, cw-2*pad, c.Note, st.small, st.small, 'C', true)
		}
		dates = append(dates, db)
		dateH = math.Max(dateH, dy+pad)
	}
	for i := range v.Columns {
		cx := x + float64(i)*cw + pad
		for _, o := range heads[i].ops {
			o.x += cx
			o.y += top
			bl.ops = append(bl.ops, o)
		}
		for _, o := range dates[i].ops {
			o.x += cx
			o.y += top + headH
			bl.ops = append(bl.ops, o)
		}
	}
	total := headH + dateH
	bl.ops = append(bl.ops,
		op{kind: opBox, x: x, y: top, w: w, h: total},
		op{kind: opLine, x: x, y: top + headH, w: w})
	for i := 1; i < n; i++ {
		bl.ops = append(bl.ops, op{kind: opLine, x: x + float64(i)*cw, y: top, h: total})
	}
	bl.h = top + total + st.gap
	return bl
}

// qrBlock lays out the QR code with the verification code: centred on a
// roll, the code beside it on A4.
func (b *builder) qrBlock(r Receipt) (block, error) {
	st := b.st
	x, w := st.side, st.width()
	code, err := qr.Encode(r.QR, qr.M)
	if err != nil {
		return block{}, fmt.Errorf("printing: QR code: %w", err)
	}
	var bl block
	side := st.qr
	qx, qy := x+(w-side)/2, st.gap
	if st.pageH != 0 { // A4: the code on the left, the words beside it
		qx = x
	}
	// Four modules of quiet zone on every side, inside side.
	mod := side / float64(code.Size+8)
	for row := 0; row < code.Size; row++ {
		for col := 0; col < code.Size; {
			if !code.Black(col, row) {
				col++
				continue
			}
			run := col
			for run < code.Size && code.Black(run, row) {
				run++
			}
			// A hair of overlap so that no white seam shows between
			// modules once rasterised.
			bl.ops = append(bl.ops, op{kind: opFill, x: qx + float64(col+4)*mod, y: qy + float64(row+4)*mod,
				w: float64(run-col)*mod + 0.02, h: mod + 0.02})
			col = run
		}
	}
	grouped := GroupCodeForPrint(r.Code)
	if st.pageH == 0 {
		y := qy + side
		y = b.text(&bl, x, y, w, r.CodeLabel, st.small, st.small, 'C', false)
		y = b.para(&bl, x, y, w, grouped, st.body, 'C', true)
		y = b.para(&bl, x, y, w, r.Number, st.small, 'C', false)
		bl.h = y + st.gap
		return bl, nil
	}
	// A4: the code and the footer beside the QR code.
	tx, tw := qx+side+4, w-side-4
	y := qy + 4
	y = b.text(&bl, tx, y, tw, r.CodeLabel, st.small, st.small, 'L', false)
	y = b.para(&bl, tx, y, tw, grouped, st.body*1.2, 'L', true)
	y = b.para(&bl, tx, y, tw, r.Number, st.small, 'L', false)
	y = b.text(&bl, tx, y+3, tw, r.Footer, st.small, st.small, 'L', false)
	bl.h = math.Max(qy+side, y) + st.gap
	return bl, nil
}

// paginate puts blocks on pages: a roll takes one page per copy; A4 starts
// a new page when the next block does not fit.
func (b *builder) paginate(blocks []block) [][]block {
	if b.st.pageH == 0 {
		return [][]block{blocks}
	}
	avail := b.st.pageH - b.st.top - b.st.bottom
	var pages [][]block
	var cur []block
	used := 0.0
	for _, bl := range blocks {
		if used+bl.h > avail && len(cur) > 0 {
			pages = append(pages, cur)
			cur, used = nil, 0
		}
		cur = append(cur, bl)
		used += bl.h
	}
	return append(pages, cur)
}

// draw puts a block's operations on the current page with its top at y.
func (b *builder) draw(bl block, y float64) {
	p := b.pdf
	for _, o := range bl.ops {
		switch o.kind {
		case opText:
			if o.size != b.size {
				p.SetFontSize(o.size)
				b.size = o.size
			}
			base := y + o.y + lineH(o.size)/2 + 0.36*o.size*ptMM
			if o.bold {
				// IPAex Gothic has no bold face: fill and stroke the glyphs.
				p.SetLineWidth(o.size * 0.012)
				p.SetTextRenderingMode(2)
				p.Text(o.x, base, o.text)
				p.SetTextRenderingMode(0)
			} else {
				p.Text(o.x, base, o.text)
			}
		case opLine:
			p.SetLineWidth(0.25)
			if o.dashed {
				p.SetDashPattern([]float64{0.8, 0.8}, 0)
			}
			p.Line(o.x, y+o.y, o.x+o.w, y+o.y+o.h)
			if o.dashed {
				p.SetDashPattern(nil, 0)
			}
		case opFill:
			p.SetFillColor(0, 0, 0)
			p.Rect(o.x, y+o.y, o.w, o.h, "F")
		case opBox:
			p.SetLineWidth(0.3)
			p.Rect(o.x, y+o.y, o.w, o.h, "D")
		}
	}
}

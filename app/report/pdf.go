package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/go-pdf/fpdf"

	"madoguchi/app/i18n"
	"madoguchi/printing"
)

// The PDF's page: A4 portrait, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	ptMM         = 25.4 / 72
	bodyPt       = 9.0
	rowH         = 5.6
)

var coverage = sync.OnceValues(printing.FontCoverage)

// WritePDF writes r as an A4 PDF in the embedded Japanese font: the title
// with the day in both calendars, an overview, a bar chart of procedures
// per kind, then the tables of the report's total (and the terminals side
// by side). A label whose characters the font lacks is printed in
// English; other missing characters as 〓.
func WritePDF(w io.Writer, r Report, lang string) error {
	l, err := newLabeler(lang)
	if err != nil {
		return err
	}
	cov, err := coverage()
	if err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	l.usable = func(s string) bool { return len(cov.MissingIn(s)) == 0 }
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: pageW, Ht: pageH}})
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(false, margin)
	pdf.AddUTF8FontFromBytes(printing.FontName, "", printing.FontTTF())
	pdf.SetFont(printing.FontName, "", bodyPt)
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("report: pdf: font: %w", err)
	}
	d := &pdfDoc{pdf: pdf, l: l, cov: cov}
	heading := l.heading(r)
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetFontSize(7.5)
		pdf.SetTextColor(90, 90, 90)
		s := d.clean(heading) + "   " + strconv.Itoa(pdf.PageNo()) + " / {nb}"
		pdf.Text(pageW-margin-pdf.GetStringWidth(s), pageH-8, s)
		pdf.SetTextColor(0, 0, 0)
		pdf.SetFontSize(bodyPt)
	})
	d.page()
	d.report(r, heading)
	pdf.SetTitle(heading, true)
	pdf.SetSubject(l.scope(r), true)
	pdf.SetCreator("Madoguchi", true)
	pdf.SetProducer("Madoguchi (go-pdf/fpdf)", true)
	pdf.SetLang(l.lang)
	if !r.Generated.IsZero() {
		pdf.SetCreationDate(r.Generated)
		pdf.SetModificationDate(r.Generated)
	}
	pdf.SetCatalogSort(true)
	bw := bufio.NewWriter(w)
	if err := pdf.Output(bw); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	return nil
}

type pdfDoc struct {
	pdf *fpdf.Fpdf
	l   labeler
	cov *printing.Coverage
	y   float64
}

func (d *pdfDoc) page() {
	d.pdf.AddPage()
	d.y = margin
}

// need starts a new page unless h mm fit under the current position.
func (d *pdfDoc) need(h float64) bool {
	if d.y+h > pageH-margin-4 {
		d.page()
		return true
	}
	return false
}

// clean replaces control characters and characters the font lacks.
func (d *pdfDoc) clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case !d.cov.Has(r):
			return printing.Missing
		}
		return r
	}, s)
}

// text writes s with its line box's top at y, aligned 'L', 'C' or 'R' in
// [x, x+w), shortened with … to fit.
func (d *pdfDoc) text(x, y, w float64, s string, size float64, align byte, bold bool) {
	p := d.pdf
	p.SetFontSize(size)
	s = d.clean(s)
	if p.GetStringWidth(s) > w {
		rs := []rune(s)
		for len(rs) > 0 && p.GetStringWidth(string(rs)+"…") > w {
			rs = rs[:len(rs)-1]
		}
		s = string(rs) + "…"
	}
	sw := p.GetStringWidth(s)
	switch align {
	case 'R':
		x += w - sw
	case 'C':
		x += (w - sw) / 2
	}
	base := y + size*ptMM*1.42/2 + 0.36*size*ptMM
	if bold {
		// IPAex Gothic has no bold face: fill and stroke the glyphs.
		p.SetLineWidth(size * 0.012)
		p.SetTextRenderingMode(2)
		p.Text(x, base, s)
		p.SetTextRenderingMode(0)
	} else {
		p.Text(x, base, s)
	}
	p.SetFontSize(bodyPt)
}

// column of a table: its width share and alignment.
type column struct {
	w     float64 // relative
	align byte
}

// table draws a titled table; the header repeats on a new page.
func (d *pdfDoc) table(title string, cols []column, header []string, rows [][]string, note string) {
	p := d.pdf
	d.need(8 + rowH*float64(min(len(rows), 3)+1))
	d.text(margin, d.y, contentW, title, 11, 'L', true)
	d.y += 7
	total := 0.0
	for _, c := range cols {
		total += c.w
	}
	ws := make([]float64, len(cols))
	for i, c := range cols {
		ws[i] = contentW * c.w / total
	}
	drawHeader := func() {
		p.SetFillColor(221, 228, 238)
		p.Rect(margin, d.y, contentW, rowH, "F")
		x := margin
		for i, h := range header {
			d.text(x+1, d.y+0.4, ws[i]-2, h, 8, cols[i].align, true)
			x += ws[i]
		}
		d.y += rowH
	}
	drawHeader()
	if len(rows) == 0 {
		d.text(margin+1, d.y+0.4, contentW-2, d.l.t(i18n.Key("report.none"), nil), bodyPt, 'L', false)
		d.y += rowH
	}
	p.SetDrawColor(190, 190, 190)
	p.SetLineWidth(0.15)
	for _, row := range rows {
		if d.need(rowH) {
			drawHeader()
		}
		x := margin
		for i, c := range row {
			d.text(x+1, d.y+0.4, ws[i]-2, c, bodyPt, cols[i].align, false)
			x += ws[i]
		}
		d.y += rowH
		p.Line(margin, d.y, margin+contentW, d.y)
	}
	p.SetDrawColor(0, 0, 0)
	if note != "" {
		d.y += 1
		d.text(margin, d.y, contentW, note, 7.5, 'L', false)
		d.y += 4
	}
	d.y += 5
}

// chart draws a horizontal bar chart of procedures per kind.
func (d *pdfDoc) chart(title string, labels []string, values []int) {
	p := d.pdf
	barH, gap := 5.0, 1.6
	h := 8 + float64(len(values))*(barH+gap) + 4
	d.need(h)
	d.text(margin, d.y, contentW, title, 11, 'L', true)
	d.y += 8
	labelW, numW := 48.0, 16.0
	x0 := margin + labelW
	barW := contentW - labelW - numW
	top := d.y
	mx := slices.Max(append([]int{1}, values...))
	for i, v := range values {
		y := d.y + float64(i)*(barH+gap)
		d.text(margin, y+(barH-lineBox(bodyPt))/2, labelW-2, labels[i], bodyPt, 'R', false)
		w := barW * float64(v) / float64(mx)
		p.SetFillColor(70, 110, 170)
		if w > 0 {
			p.Rect(x0, y, w, barH, "F")
		}
		d.text(x0+w+1.5, y+(barH-lineBox(bodyPt))/2, numW, strconv.Itoa(v), bodyPt, 'L', false)
	}
	bottom := d.y + float64(len(values))*(barH+gap)
	p.SetLineWidth(0.3)
	p.Line(x0, top-1, x0, bottom)
	d.y = bottom + 6
}

func lineBox(size float64) float64 { return size * ptMM * 1.42 }

// report lays the whole report out.
func (d *pdfDoc) report(r Report, heading string) {
	l := d.l
	col := func(k string) string { return l.t(i18n.Key(k), nil) }
	n := strconv.Itoa
	d.text(margin, d.y, contentW, heading, 16, 'L', true)
	d.y += 9
	d.text(margin, d.y, contentW, l.scope(r)+"　"+l.t(i18n.Key("report.generated"),
		map[string]any{"At": r.Generated.In(i18n.Japan).Format("2006-01-02 15:04")}), 9, 'L', false)
	d.y += 8
	t := r.Total
	kinds := sortedKinds(t.Procedures)

	// Overview.
	procs, sessions, near := 0, 0, 0
	for _, k := range kinds {
		procs += t.Procedures[k].Count
		near += t.Procedures[k].NearExpiry["any"]
	}
	for _, f := range t.Kiosk {
		sessions += f.Started
	}
	q := r.QueueTotal()
	d.table(col("report.section.overview"), []column{{3, 'L'}, {1, 'R'}},
		[]string{col("report.col.item"), col("report.col.count")}, [][]string{
			{col("report.overview.procedures"), n(procs)},
			{col("report.overview.kiosk"), n(sessions)},
			{col("report.overview.near_expiry"), n(near)},
			{col("report.col.backlog"), n(q.Backlog())},
			{col("report.col.dead"), n(q.Dead)},
			{col("report.col.reprinted"), n(t.Reprinted)},
			{col("report.col.reprints"), n(t.Reprints)},
		}, "")

	// The chart.
	var labels []string
	var values []int
	for _, k := range kinds {
		labels = append(labels, l.kind(k))
		values = append(values, t.Procedures[k].Count)
	}
	if len(kinds) > 0 {
		d.chart(col("report.section.chart"), labels, values)
	}

	// Procedures by kind and outcome.
	outcomes := map[string]bool{}
	for _, k := range kinds {
		for o := range t.Procedures[k].Outcomes {
			outcomes[o] = true
		}
	}
	outs := sortedKinds(outcomes)
	cols := []column{{3, 'L'}}
	header := []string{col("report.col.procedure")}
	for _, o := range outs {
		cols = append(cols, column{1.2, 'R'})
		header = append(header, l.outcome(o))
	}
	cols = append(cols, column{1.2, 'R'})
	header = append(header, col("report.total"))
	var rows [][]string
	sums := make([]int, len(outs))
	for _, k := range kinds {
		row := []string{l.kind(k)}
		for i, o := range outs {
			row = append(row, n(t.Procedures[k].Outcomes[o]))
			sums[i] += t.Procedures[k].Outcomes[o]
		}
		rows = append(rows, append(row, n(t.Procedures[k].Count)))
	}
	if len(kinds) > 1 {
		row := []string{col("report.total")}
		for _, v := range sums {
			row = append(row, n(v))
		}
		rows = append(rows, append(row, n(procs)))
	}
	d.table(col("report.section.procedures"), cols, header, rows, "")

	// Per terminal and per counter.
	rows = nil
	for _, g := range append(slices.Clone(r.Groups), r.Counters...) {
		c, s := 0, 0
		for _, p := range g.Procedures {
			c += p.Count
		}
		for _, f := range g.Kiosk {
			s += f.Started
		}
		rows = append(rows, []string{l.terminal(g.Terminal), l.counter(g.Counter), n(c), n(s), n(g.Reprints)})
	}
	d.table(col("report.section.terminals"), []column{{2, 'L'}, {2, 'L'}, {1.2, 'R'}, {1.2, 'R'}, {1.2, 'R'}},
		[]string{col("report.col.terminal"), col("report.col.counter"), col("report.overview.procedures"),
			col("report.overview.kiosk"), col("report.col.reprints")}, rows, "")

	// Handling times.
	rows = nil
	approx := false
	for _, k := range kinds {
		p := t.Procedures[k]
		mark := ""
		if !p.Exact {
			mark, approx = "≈", true
		}
		rows = append(rows, []string{l.kind(k), n(p.Count), mark + hms(p.Median), mark + hms(p.P90)})
	}
	note := ""
	if approx {
		note = col("report.approx_note")
	}
	d.table(col("report.section.durations"), []column{{3, 'L'}, {1, 'R'}, {1.3, 'R'}, {1.3, 'R'}},
		[]string{col("report.col.procedure"), col("report.col.count"), col("report.col.median"), col("report.col.p90")}, rows, note)

	// The kiosk.
	rows = nil
	var drops [][]string
	for _, pr := range sortedKinds(t.Kiosk) {
		f := t.Kiosk[pr]
		rows = append(rows, []string{l.kind(pr), n(f.Started), n(f.Completed), n(f.Failed), n(f.Dropped), n(f.Unfinished)})
		for _, st := range sortedSteps(f.DroppedAt) {
			drops = append(drops, []string{l.kind(pr), l.step(st), n(f.DroppedAt[st])})
		}
	}
	d.table(col("report.section.kiosk"), []column{{3, 'L'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}},
		[]string{col("report.col.procedure"), col("report.col.started"), col("report.col.completed"),
			col("report.col.failed"), col("report.col.dropped"), col("report.col.unfinished")}, rows, "")
	d.table(col("report.section.dropped"), []column{{3, 'L'}, {2, 'L'}, {1, 'R'}},
		[]string{col("report.col.procedure"), col("report.col.step"), col("report.col.count")}, drops, "")

	// PIN resets.
	rows = nil
	for _, k := range kinds {
		p := t.Procedures[k]
		for _, pin := range sortedKinds(p.PINs) {
			rows = append(rows, []string{l.kind(k), l.pin(pin), n(p.PINs[pin])})
		}
	}
	d.table(col("report.section.pins"), []column{{3, 'L'}, {3, 'L'}, {1, 'R'}},
		[]string{col("report.col.procedure"), col("report.col.pin"), col("report.col.count")}, rows, "")

	// Near expiry.
	rows = nil
	for _, k := range kinds {
		p := t.Procedures[k]
		if p.NearExpiry["any"] == 0 {
			continue
		}
		row := []string{l.kind(k)}
		for _, it := range expiryItems {
			row = append(row, n(p.NearExpiry[it]))
		}
		rows = append(rows, row)
	}
	header = []string{col("report.col.procedure")}
	cols = []column{{2.2, 'L'}}
	for _, it := range expiryItems {
		header = append(header, l.item(it))
		cols = append(cols, column{1.7, 'R'})
	}
	d.table(col("report.section.expiry"), cols, header, rows, col("report.expiry_note"))

	// The queue.
	rows = nil
	qs := slices.Clone(r.Queues)
	if len(qs) > 1 {
		qs = append(qs, q)
	}
	for _, q := range qs {
		at := ""
		if !q.At.IsZero() {
			at = q.At.In(i18n.Japan).Format("01-02 15:04")
		}
		rows = append(rows, []string{l.terminal(q.Store), at, n(q.Pending), n(q.Inflight), n(q.Backlog()), n(q.Dead)})
	}
	d.table(col("report.section.queue"), []column{{2, 'L'}, {1.4, 'L'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}},
		[]string{col("report.col.terminal"), col("report.col.at"), col("report.col.pending"), col("report.col.inflight"),
			col("report.col.backlog"), col("report.col.dead")}, rows, col("report.queue_note"))
}

// Package report builds the supervisors' daily report from a terminal's
// store: procedures per kind and outcome, handling times, the kiosk's
// funnel, PIN resets, the queue, receipt reprints and the day's visitors
// whose card or certificates are near expiry; per terminal, per counter
// and in total. It exports the report as CSV (which it reads back, so that
// the exports of an office's terminals merge into one report), XLSX and
// PDF.
//
// Handling-time medians and 90th percentiles cannot be merged from
// medians, so every procedure kind also keeps a histogram of its handling
// times in fixed buckets (see Buckets); a merged report computes its
// percentiles from the merged histogram (Procedure.Exact is false).
package report

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/drivers/card"
)

// All is the Terminal and Counter of a roll-up: every terminal of a
// counter, or (both All) every terminal of the report.
const All = "*"

// Report is one day's figures.
type Report struct {
	// Day is the report's date: midnight in Japan.
	Day time.Time
	// Terminal is the terminal the report was restricted to; "" for all.
	Terminal string
	// Generated is when the report was made (to the second, in Japan).
	Generated time.Time
	// Groups are the figures per terminal, by terminal.
	Groups []Group
	// Counters roll the groups up per counter (Terminal is All), by
	// counter.
	Counters []Group
	// Total rolls every group up (Terminal and Counter are All).
	Total Group
	// Queues is each store's queue at the time its report was made.
	Queues []Queue
}

// Group is the figures of one terminal (or of a roll-up).
type Group struct {
	Terminal string
	// Counter is the counter the terminal served that day: the one named
	// on the receipt of its last procedure that has one (of its last
	// reprint when it has no procedure); "" when unknown.
	Counter string
	// Procedures by kind (issuance, pin_reset…).
	Procedures map[string]*Procedure
	// Kiosk is the kiosk's funnel by the procedure a session chose (""
	// for sessions that chose none).
	Kiosk map[string]*Funnel
	// Reprinted counts the receipts printed again that day; Reprints the
	// prints that were not a receipt's first successful print.
	Reprinted, Reprints int
}

// Procedure is the figures of one kind of procedure.
type Procedure struct {
	// Count is the number of records (the sum of Outcomes).
	Count int
	// Outcomes counts the records per outcome (ok, queued…).
	Outcomes map[string]int
	// Median and P90 are the handling time (finished − started) by
	// nearest rank: the value of the ⌈p·n⌉-th shortest record.
	Median, P90 time.Duration
	// Exact: Median and P90 were computed from every record; otherwise
	// from Hist, to within half a bucket (see Buckets).
	Exact bool
	// Hist counts the handling times per bucket (index into Buckets).
	Hist map[int]int
	// PINs counts the PIN resets per PIN (auth, sign, input-assist…).
	PINs map[string]int
	// NearExpiry counts the records whose card (card), authentication
	// certificate (auth), signature certificate (sign) or any of them
	// (any) was inside its renewal window, or expired, on the report's
	// day.
	NearExpiry map[string]int
}

// Funnel is the kiosk sessions of one procedure.
type Funnel struct {
	// Started counts the sessions; each ended as Completed (reached
	// done), Failed (reached failed, not done), Dropped (abandoned: the
	// idle timeout or the citizen left) or Unfinished (none of those that
	// day: still open, or the kiosk stopped).
	Started, Completed, Failed, Dropped, Unfinished int
	// DroppedAt counts the dropped sessions per the last step they
	// reached before dropping (start, language, procedure, card, pins).
	DroppedAt map[string]int
}

// Queue is a store's job queue when its report was made.
type Queue struct {
	// Store is the terminal whose store it is ("" when not known).
	Store string
	At    time.Time
	// Pending and Inflight jobs wait for the central system; Dead ones
	// need a supervisor.
	Pending, Inflight, Dead int
}

// Backlog is the jobs still to deliver.
func (q Queue) Backlog() int { return q.Pending + q.Inflight }

// QueueTotal sums the queues of the report's stores.
func (r Report) QueueTotal() Queue {
	t := Queue{Store: All}
	for _, q := range r.Queues {
		t.Pending += q.Pending
		t.Inflight += q.Inflight
		t.Dead += q.Dead
		if q.At.After(t.At) {
			t.At = q.At
		}
	}
	return t
}

// Options narrows a report.
type Options struct {
	// Terminal restricts the report to one terminal's records; "" for all.
	Terminal string
	// Store names the terminal whose store the database is (the config's
	// terminal): the queue's figures are reported under it.
	Store string
	// Now is when the report is made; zero for the current time.
	Now time.Time
}

// NewGroup returns an empty group.
func NewGroup(terminal, counter string) Group {
	return Group{Terminal: terminal, Counter: counter, Procedures: map[string]*Procedure{}, Kiosk: map[string]*Funnel{}}
}

func newProcedure() *Procedure {
	return &Procedure{Outcomes: map[string]int{}, Hist: map[int]int{}, PINs: map[string]int{}, NearExpiry: map[string]int{}}
}

func newFunnel() *Funnel { return &Funnel{DroppedAt: map[string]int{}} }

// procedure returns g's figures of kind, adding them when missing.
func (g *Group) procedure(kind string) *Procedure {
	p := g.Procedures[kind]
	if p == nil {
		p = newProcedure()
		g.Procedures[kind] = p
	}
	return p
}

func (g *Group) funnel(proc string) *Funnel {
	f := g.Kiosk[proc]
	if f == nil {
		f = newFunnel()
		g.Kiosk[proc] = f
	}
	return f
}

// DayOf returns the date of t in Japan, as midnight in Japan.
func DayOf(t time.Time) time.Time {
	y, m, d := t.In(i18n.Japan).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, i18n.Japan)
}

// stampLayout is how the store writes times (UTC, milliseconds); string
// comparison of such stamps is time order.
const stampLayout = "2006-01-02T15:04:05.000Z"

// acc is Build's accumulator for one terminal.
type acc struct {
	g           Group
	kinds       map[string]*kindAcc
	lastReceipt []byte // the receipt of the last procedure that has one
	lastStart   []byte // and when that procedure started
}

// kindAcc is one kind of procedure of a terminal.
type kindAcc struct {
	p    *Procedure
	durs []int32 // handling times, ms
}

// accumulators are Build's, per terminal.
type accumulators map[string]*acc

func (as accumulators) get(terminal string) *acc {
	a := as[terminal]
	if a == nil {
		a = &acc{g: NewGroup(terminal, ""), kinds: map[string]*kindAcc{}}
		as[terminal] = a
	}
	return a
}

// durs returns the handling times of kind (nil when none).
func (a *acc) durs(kind string) []int32 {
	if k := a.kinds[kind]; k != nil {
		return k.durs
	}
	return nil
}

// interner returns one string per distinct byte content, so that a
// column's few values are allocated once, not once per row.
type interner map[string]string

func (in interner) of(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// Build computes the report of day (the date of day in Japan) from db.
// It streams each table's rows of the day once (procedures, kiosk steps
// and receipt prints at the same time, on their own connections), keeping
// aggregates in maps and one int32 per procedure for the exact
// percentiles; the queue is counted as it is now. A day of 100,000
// procedures takes about half a second (BenchmarkDaily100k).
func Build(ctx context.Context, db *sql.DB, day time.Time, o Options) (Report, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	day = DayOf(day)
	r := Report{Day: day, Terminal: o.Terminal, Generated: now.Round(0).Truncate(time.Second).In(i18n.Japan)}
	from := day.UTC().Format(stampLayout)
	to := day.AddDate(0, 0, 1).UTC().Format(stampLayout)
	// The tables are read at once, each on its own connection (WAL
	// readers do not block each other), into their own accumulators.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	accs, kiosk, reprints := accumulators{}, accumulators{}, accumulators{}
	var q Queue
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i, pass := range []func() error{
		func() error { return buildProcedures(ctx, db, day, from, to, o.Terminal, accs) },
		func() error { return buildKiosk(ctx, db, from, to, o.Terminal, kiosk) },
		func() error { return buildReprints(ctx, db, from, to, o.Terminal, reprints) },
		func() (err error) { q, err = queueNow(ctx, db); return err },
	} {
		wg.Go(func() {
			if errs[i] = pass(); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Report{}, err
	}
	for t, k := range kiosk {
		accs.get(t).g.Kiosk = k.g.Kiosk
	}
	for t, rp := range reprints {
		a := accs.get(t)
		a.g.Reprinted, a.g.Reprints = rp.g.Reprinted, rp.g.Reprints
		if a.g.Counter == "" {
			a.g.Counter = rp.g.Counter
		}
	}
	q.Store, q.At = o.Store, r.Generated
	r.Queues = []Queue{q}

	// Per terminal: the exact percentiles.
	for _, t := range slices.Sorted(maps.Keys(accs)) {
		a := accs[t]
		for _, k := range a.kinds {
			k.p.Median, k.p.P90 = exactPercentiles(k.durs)
			k.p.Exact = true
		}
		r.Groups = append(r.Groups, a.g)
	}
	// Roll-ups, their percentiles exact too.
	r.Counters, r.Total = rollUp(r.Groups)
	exactRollUp := func(g *Group, in func(Group) bool) {
		for kind, p := range g.Procedures {
			var all []int32
			for _, t := range r.Groups {
				if in(t) {
					all = append(all, accs[t.Terminal].durs(kind)...)
				}
			}
			p.Median, p.P90 = exactPercentiles(all)
			p.Exact = true
		}
	}
	for i := range r.Counters {
		c := r.Counters[i].Counter
		exactRollUp(&r.Counters[i], func(g Group) bool { return g.Counter == c })
	}
	exactRollUp(&r.Total, func(Group) bool { return true })
	return r, nil
}

var (
	pinField    = []byte(`"pin"`)
	expiryField = []byte(`"expiry"`)
)

func buildProcedures(ctx context.Context, db *sql.DB, day time.Time, from, to, terminal string, accs accumulators) error {
	q, args, err := dayRows(ctx, db, "procedures", "started_at", from, to,
		`SELECT terminal, kind, outcome, started_at, finished_at, detail, receipt FROM procedures`)
	if err != nil {
		return fmt.Errorf("report: procedures: %w", err)
	}
	if terminal != "" {
		q += ` AND terminal = ?`
		args = append(args, terminal)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("report: procedures: %w", err)
	}
	defer rows.Close()
	// The last second of the day: what is due at any time that day.
	dayEnd := day.AddDate(0, 0, 1).Add(-time.Second)
	dueCurrent := dueCache{prof: card.Current, day: dayEnd, memo: map[string]bool{}}
	dueNext := dueCache{prof: card.Next, day: dayEnd, memo: map[string]bool{}}
	var (
		term, kind, outcome, receipt, started, finished, det sql.RawBytes
		a                                                    *acc
	)
	strs := interner{}
	for rows.Next() {
		if err := rows.Scan(&term, &kind, &outcome, &started, &finished, &det, &receipt); err != nil {
			return fmt.Errorf("report: procedures: %w", err)
		}
		if a == nil || a.g.Terminal != string(term) {
			a = accs.get(strs.of(term))
		}
		k := a.kinds[string(kind)]
		if k == nil {
			name := strs.of(kind)
			k = &kindAcc{p: a.g.procedure(name)}
			a.kinds[name] = k
		}
		p := k.p
		p.Count++
		p.Outcomes[strs.of(outcome)]++
		if len(receipt) > 0 && bytes.Compare(started, a.lastStart) >= 0 {
			a.lastReceipt = append(a.lastReceipt[:0], receipt...)
			a.lastStart = append(a.lastStart[:0], started...)
		}
		s, ok1 := stampMS(started)
		f, ok2 := stampMS(finished)
		if ok1 && ok2 {
			ms := clampMS(f - s)
			k.durs = append(k.durs, ms)
			p.Hist[BucketOf(time.Duration(ms)*time.Millisecond)]++
		}
		if !bytes.Contains(det, pinField) && !bytes.Contains(det, expiryField) {
			continue
		}
		d, ok := parseDetail(det)
		if !ok {
			continue
		}
		if len(d.pin) > 0 {
			p.PINs[strs.of(d.pin)]++
		}
		due := dueCurrent
		if string(d.profile) == card.Next.Name {
			due = dueNext
		}
		anyDue := false
		for _, it := range [...]struct {
			item string
			date []byte
		}{{"card", d.card}, {"auth", d.auth}, {"sign", d.sign}} {
			if len(it.date) > 0 && due.due(it.date) {
				p.NearExpiry[it.item]++
				anyDue = true
			}
		}
		if anyDue {
			p.NearExpiry["any"]++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: procedures: %w", err)
	}
	rows.Close()
	// Each terminal's counter: the one named on its last receipt.
	for _, a := range accs {
		if len(a.lastReceipt) == 0 {
			continue
		}
		var counter string
		err := db.QueryRowContext(ctx, `SELECT counter FROM receipts WHERE number = ?`, string(a.lastReceipt)).Scan(&counter)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("report: procedures: %w", err)
		default:
			a.g.Counter = counter
		}
	}
	return nil
}

// dayRows completes sel (SELECT … FROM table) into a query of the rows
// whose time column is in [from, to). Rows are appended as things happen,
// so a day's rows lie in a narrow range of rowids: when they do (the
// range found through the time index, which holds the rowids), the query
// reads that range of the table in order instead of looking every row up
// from the index, several times faster; otherwise it uses the index.
func dayRows(ctx context.Context, db *sql.DB, table, col, from, to, sel string) (string, []any, error) {
	var lo, hi sql.NullInt64
	var n int64
	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT min(rowid), max(rowid), count(*) FROM %s WHERE %s >= ? AND %s < ?`, table, col, col), from, to).Scan(&lo, &hi, &n)
	if err != nil {
		return "", nil, err
	}
	if lo.Valid && hi.Int64-lo.Int64+1 <= 2*n+1000 {
		// The unary + keeps the planner off the time index.
		return fmt.Sprintf(`%s WHERE rowid BETWEEN ? AND ? AND +%s >= ? AND +%s < ?`, sel, col, col), []any{lo.Int64, hi.Int64, from, to}, nil
	}
	return fmt.Sprintf(`%s WHERE %s >= ? AND %s < ?`, sel, col, col), []any{from, to}, nil
}

// clampMS fits a handling time into int32 milliseconds (24 days); a
// negative one (a clock set back) counts as zero.
func clampMS(ms int64) int32 {
	return int32(min(max(ms, 0), 1<<31-1))
}

// dueCache answers flow.Due for one card profile's recorded expiry dates
// on one day.
type dueCache struct {
	prof *card.Profile
	day  time.Time
	memo map[string]bool
}

// due: the recorded date (YYYY-MM-DD, Japan) is the expiry day; the card
// or certificate is valid to its end (as flow.CardExpiry has it), and
// renewable from three months (a year for the next generation) before.
func (c dueCache) due(date []byte) bool {
	if v, ok := c.memo[string(date)]; ok {
		return v
	}
	v := false
	if t, err := time.ParseInLocation("2006-01-02", string(date), i18n.Japan); err == nil {
		v = flow.Due(c.prof, t.AddDate(0, 0, 1).Add(-time.Second), c.day)
	}
	c.memo[string(date)] = v
	return v
}

// stampMS parses a store time stamp into Unix milliseconds: the store's
// own layout quickly, any RFC 3339 time otherwise.
func stampMS(b []byte) (int64, bool) {
	if len(b) == len(stampLayout) && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[23] == 'Z' {
		n := func(i, j int) (int, bool) {
			v := 0
			for _, c := range b[i:j] {
				if c < '0' || c > '9' {
					return 0, false
				}
				v = v*10 + int(c-'0')
			}
			return v, true
		}
		y, ok1 := n(0, 4)
		mo, ok2 := n(5, 7)
		d, ok3 := n(8, 10)
		h, ok4 := n(11, 13)
		mi, ok5 := n(14, 16)
		s, ok6 := n(17, 19)
		ms, ok7 := n(20, 23)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 {
			return time.Date(y, time.Month(mo), d, h, mi, s, ms*1e6, time.UTC).UnixMilli(), true
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// kioskSession is a kiosk session as its steps tell it.
type kioskSession struct {
	terminal  string
	proc      string
	last      string // the last step reached (not an ending)
	droppedAt string
	done      bool
	failed    bool
	dropped   bool
}

func buildKiosk(ctx context.Context, db *sql.DB, from, to, terminal string, accs accumulators) error {
	// In the order the steps were written (rowid: what a session did
	// first comes first, also within a millisecond).
	q, args, err := dayRows(ctx, db, "kiosk_steps", "at", from, to,
		`SELECT session, terminal, procedure, step FROM kiosk_steps`)
	if err != nil {
		return fmt.Errorf("report: kiosk steps: %w", err)
	}
	if terminal != "" {
		q += ` AND terminal = ?`
		args = append(args, terminal)
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY rowid`, args...)
	if err != nil {
		return fmt.Errorf("report: kiosk steps: %w", err)
	}
	defer rows.Close()
	sessions := map[string]*kioskSession{}
	var order []*kioskSession
	var sess, term, proc, step sql.RawBytes
	strs := interner{}
	for rows.Next() {
		if err := rows.Scan(&sess, &term, &proc, &step); err != nil {
			return fmt.Errorf("report: kiosk steps: %w", err)
		}
		s := sessions[string(sess)]
		if s == nil {
			s = &kioskSession{terminal: strs.of(term)}
			sessions[string(sess)] = s
			order = append(order, s)
		}
		if len(proc) > 0 && s.proc != string(proc) {
			s.proc = strs.of(proc)
		}
		switch string(step) {
		case "done":
			s.done = true
		case "failed":
			s.failed = true
		case "dropped":
			if !s.dropped {
				s.dropped, s.droppedAt = true, s.last
			}
		default:
			if s.last != string(step) {
				s.last = strs.of(step)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: kiosk steps: %w", err)
	}
	for _, s := range order {
		f := accs.get(s.terminal).g.funnel(s.proc)
		f.Started++
		switch {
		case s.done:
			f.Completed++
		case s.failed:
			f.Failed++
		case s.dropped:
			f.Dropped++
			f.DroppedAt[s.droppedAt]++
		default:
			f.Unfinished++
		}
	}
	return nil
}

// buildReprints counts the successful prints of the day that were not
// their receipt's first successful print.
func buildReprints(ctx context.Context, db *sql.DB, from, to, terminal string, accs accumulators) error {
	q := `SELECT r.terminal, r.counter, p.receipt_id
		FROM receipt_prints p JOIN receipts r ON r.id = p.receipt_id
		WHERE p.at >= ? AND p.at < ? AND p.problem = ''
		AND EXISTS (SELECT 1 FROM receipt_prints e WHERE e.receipt_id = p.receipt_id AND e.problem = '' AND e.id < p.id)`
	args := []any{from, to}
	if terminal != "" {
		q += ` AND r.terminal = ?`
		args = append(args, terminal)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("report: reprints: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	for rows.Next() {
		var term, counter string
		var id int64
		if err := rows.Scan(&term, &counter, &id); err != nil {
			return fmt.Errorf("report: reprints: %w", err)
		}
		a := accs.get(term)
		if a.g.Counter == "" {
			a.g.Counter = counter // a terminal with no procedure that day
		}
		a.g.Reprints++
		if !seen[id] {
			seen[id] = true
			a.g.Reprinted++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: reprints: %w", err)
	}
	return nil
}

func queueNow(ctx context.Context, db *sql.DB) (Queue, error) {
	rows, err := db.QueryContext(ctx, `SELECT state, count(*) FROM outbox WHERE state IN ('pending', 'inflight', 'dead') GROUP BY state`)
	if err != nil {
		return Queue{}, fmt.Errorf("report: queue: %w", err)
	}
	defer rows.Close()
	var q Queue
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return Queue{}, fmt.Errorf("report: queue: %w", err)
		}
		switch state {
		case "pending":
			q.Pending = n
		case "inflight":
			q.Inflight = n
		case "dead":
			q.Dead = n
		}
	}
	if err := rows.Err(); err != nil {
		return Queue{}, fmt.Errorf("report: queue: %w", err)
	}
	return q, nil
}

// exactPercentiles sorts d and returns its median and 90th percentile by
// nearest rank.
func exactPercentiles(d []int32) (median, p90 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	at := func(num, den int) time.Duration {
		return time.Duration(d[rank(len(d), num, den)-1]) * time.Millisecond
	}
	return at(1, 2), at(9, 10)
}

// rank is the nearest rank ⌈n·num/den⌉ (at least 1).
func rank(n, num, den int) int { return max(1, (n*num+den-1)/den) }

// add adds src's figures to dst.
func (dst *Group) add(src Group) {
	for kind, sp := range src.Procedures {
		dp := dst.procedure(kind)
		dp.Count += sp.Count
		addCounts(dp.Outcomes, sp.Outcomes)
		addCounts(dp.Hist, sp.Hist)
		addCounts(dp.PINs, sp.PINs)
		addCounts(dp.NearExpiry, sp.NearExpiry)
	}
	for proc, sf := range src.Kiosk {
		df := dst.funnel(proc)
		df.Started += sf.Started
		df.Completed += sf.Completed
		df.Failed += sf.Failed
		df.Dropped += sf.Dropped
		df.Unfinished += sf.Unfinished
		addCounts(df.DroppedAt, sf.DroppedAt)
	}
	dst.Reprinted += src.Reprinted
	dst.Reprints += src.Reprints
}

func addCounts[K comparable](dst, src map[K]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// fromHist sets every procedure's percentiles from its histogram.
func (g *Group) fromHist() {
	for _, p := range g.Procedures {
		p.Median, p.P90 = histPercentiles(p.Hist)
		p.Exact = false
	}
}

// rollUp sums groups per counter and in total, percentiles from the
// histograms.
func rollUp(groups []Group) (counters []Group, total Group) {
	total = NewGroup(All, All)
	byCounter := map[string]*Group{}
	for _, g := range groups {
		c := byCounter[g.Counter]
		if c == nil {
			n := NewGroup(All, g.Counter)
			c = &n
			byCounter[g.Counter] = c
		}
		c.add(g)
		total.add(g)
	}
	for _, name := range slices.Sorted(maps.Keys(byCounter)) {
		c := byCounter[name]
		c.fromHist()
		counters = append(counters, *c)
	}
	total.fromHist()
	return counters, total
}

// Merge combines reports of one day, typically the exports of an office's
// terminals: the figures of a terminal present in several reports add up
// (its percentiles then come from the merged histogram), the counters and
// the total are rolled up again (percentiles from the merged histograms,
// to within half a bucket), and each store's latest queue is kept. The
// day is the first report's.
func Merge(reports ...Report) Report {
	var out Report
	if len(reports) == 0 {
		return out
	}
	out.Day = reports[0].Day
	terminals := map[string]*Group{}
	times := map[string]int{}
	queues := map[string]Queue{}
	for _, r := range reports {
		if r.Generated.After(out.Generated) {
			out.Generated = r.Generated
		}
		for _, g := range r.Groups {
			m := terminals[g.Terminal]
			if m == nil {
				n := NewGroup(g.Terminal, g.Counter)
				m = &n
				terminals[g.Terminal] = m
			}
			if m.Counter == "" {
				m.Counter = g.Counter
			}
			m.add(g)
			times[g.Terminal]++
			if times[g.Terminal] == 1 {
				// Alone so far: keep its percentiles as they are.
				for kind, p := range g.Procedures {
					mp := m.Procedures[kind]
					mp.Median, mp.P90, mp.Exact = p.Median, p.P90, p.Exact
				}
			}
		}
		for _, q := range r.Queues {
			if old, ok := queues[q.Store]; !ok || q.At.After(old.At) {
				queues[q.Store] = q
			}
		}
	}
	for _, t := range slices.Sorted(maps.Keys(terminals)) {
		g := terminals[t]
		if times[t] > 1 {
			g.fromHist()
		}
		out.Groups = append(out.Groups, *g)
	}
	out.Counters, out.Total = rollUp(out.Groups)
	if len(reports) == 1 {
		// Nothing merged: the roll-ups keep their percentiles too.
		src := reports[0]
		for i := range out.Counters {
			for _, c := range src.Counters {
				if c.Counter == out.Counters[i].Counter {
					keepPercentiles(&out.Counters[i], c)
				}
			}
		}
		keepPercentiles(&out.Total, src.Total)
		out.Terminal = src.Terminal
	}
	for _, s := range slices.Sorted(maps.Keys(queues)) {
		out.Queues = append(out.Queues, queues[s])
	}
	return out
}

// keepPercentiles copies src's percentiles into dst's procedures.
func keepPercentiles(dst *Group, src Group) {
	for kind, p := range dst.Procedures {
		if sp := src.Procedures[kind]; sp != nil {
			p.Median, p.P90, p.Exact = sp.Median, sp.P90, sp.Exact
		}
	}
}

// kindOrder is the order procedures are listed in (domain.md §2); other
// kinds follow alphabetically.
var kindOrder = []string{"issuance", "card_renewal", "cert_renewal", "change_of_details", "pin_reset",
	"puk_unlock", "reserved_reset", "suspension", "suspension_lift", "return", "status_check"}

func kindRank(k string) int {
	if i := slices.Index(kindOrder, k); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// sortedKinds lists keys in kindOrder, then alphabetically.
func sortedKinds[V any](m map[string]V) []string {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b string) int {
		return cmp.Or(cmp.Compare(kindRank(a), kindRank(b)), cmp.Compare(a, b))
	})
	return ks
}

// stepOrder is the kiosk's steps in order.
var stepOrder = []string{"start", "language", "procedure", "card", "pins"}

func sortedSteps(m map[string]int) []string {
	ks := slices.Collect(maps.Keys(m))
	rank := func(s string) int {
		if i := slices.Index(stepOrder, s); i >= 0 {
			return i
		}
		return len(stepOrder)
	}
	slices.SortFunc(ks, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })
	return ks
}

// expiryItems are the NearExpiry keys in order.
var expiryItems = []string{"card", "auth", "sign", "any"}

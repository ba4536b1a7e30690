package receipt

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"madoguchi/app/i18n"
)

// Problem is why a receipt did not reach paper. The empty Problem means it
// was printed.
type Problem string

// Printing problems, from the most common at a counter.
const (
	ProblemNone        Problem = ""
	ProblemNoPrinter   Problem = "no-printer"  // no queue configured
	ProblemUnreachable Problem = "unreachable" // CUPS does not answer
	ProblemOffline     Problem = "offline"     // the printer is off or disconnected
	ProblemNoPaper     Problem = "no-paper"    // out of paper (or the cover is open)
	ProblemStopped     Problem = "stopped"     // the queue is paused or rejects jobs
	ProblemFailed      Problem = "failed"      // the job was aborted or cancelled
	ProblemTimeout     Problem = "timeout"     // the job did not finish in time
)

// Message is the key of the text a screen shows for the outcome.
func (p Problem) Message() i18n.Key {
	switch p {
	case ProblemNone:
		return i18n.Key("receipt.print.printed")
	case ProblemNoPrinter:
		return i18n.Key("receipt.print.no_printer")
	case ProblemUnreachable:
		return i18n.Key("receipt.print.unreachable")
	case ProblemOffline:
		return i18n.Key("receipt.print.offline")
	case ProblemNoPaper:
		return i18n.Key("receipt.print.no_paper")
	case ProblemStopped:
		return i18n.Key("receipt.print.stopped")
	case ProblemTimeout:
		return i18n.Key("receipt.print.timeout")
	}
	return i18n.Key("receipt.print.failed")
}

// Document is a rendered receipt ready for a printer.
type Document struct {
	Name  string // job name: the receipt number
	PDF   []byte
	Media string // media keyword for the printer, e.g. Custom.80x142mm
}

// Renderer renders a stored receipt (package printing in production).
type Renderer interface {
	Render(ctx context.Context, r Record) (Document, error)
}

// PrintResult is what a printer made of a document.
type PrintResult struct {
	JobID   int
	Problem Problem
	// Detail is the printer's own words (printer-state-message, reasons),
	// for the log and a supervisor; never shown as the main message.
	Detail string
}

// Printer prints a document on a queue (package printing's CUPS client in
// production). An error means the attempt could not be made at all; a
// printer that is down is a PrintResult with a Problem.
type Printer interface {
	Print(ctx context.Context, queue string, doc Document) (PrintResult, error)
}

// Outcome is the result of printing a receipt, for the screen.
type Outcome struct {
	Number  string   `json:"number"`
	Printed bool     `json:"printed"`
	Problem Problem  `json:"problem,omitempty"`
	Message i18n.Key `json:"message"`
	Printer string   `json:"printer,omitempty"`
	JobID   int      `json:"job_id,omitempty"`
	Detail  string   `json:"detail,omitempty"`
}

// Service issues, stores, prints and verifies receipts.
type Service struct {
	db      *sql.DB
	keys    *Keys
	origin  Origin
	render  Renderer
	printer Printer
	queue   string
	log     *slog.Logger
	now     func() time.Time
}

// Config wires a Service.
type Config struct {
	DB     *sql.DB
	Keys   *Keys
	Origin Origin
	// Renderer and Printer may be nil for a service that only issues,
	// lists and verifies.
	Renderer Renderer
	Printer  Printer
	// Queue is the default printer queue; empty: no printer (receipts are
	// stored and marked unprinted).
	Queue string
	Log   *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// New makes a Service.
func New(c Config) (*Service, error) {
	if c.DB == nil || c.Keys == nil {
		return nil, errors.New("receipt: a store and keys are required")
	}
	if c.Origin.Terminal != c.Keys.Terminal() {
		return nil, fmt.Errorf("receipt: keys are for terminal %q, not %q", c.Keys.Terminal(), c.Origin.Terminal)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{db: c.DB, keys: c.Keys, origin: c.Origin, render: c.Renderer, printer: c.Printer,
		queue: c.Queue, log: c.Log, now: c.Now}, nil
}

// Queue is the default printer queue ("" when none is configured).
func (s *Service) Queue() string { return s.queue }

type personal struct {
	HolderName string `json:"holder_name,omitempty"`
}

const timeFormat = time.RFC3339Nano

// Issue stores a new receipt, unprinted, with its number and verification
// code. Print puts it on paper.
func (s *Service) Issue(ctx context.Context, d Data) (Record, error) {
	if err := d.Check(); err != nil {
		return Record{}, err
	}
	now := s.now().UTC()
	details, err := json.Marshal(d.Details)
	if err != nil {
		return Record{}, fmt.Errorf("receipt: %w", err)
	}
	if LooksLikeIndividualNumber(string(details)) {
		return Record{}, ErrIndividualNumber
	}
	pers, err := json.Marshal(personal{HolderName: d.Details.HolderName})
	if err != nil {
		return Record{}, fmt.Errorf("receipt: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Record{}, fmt.Errorf("receipt: begin: %w", err)
	}
	defer tx.Rollback()
	day := now.In(i18n.Japan).Format("20060102")
	var seq int
	err = tx.QueryRowContext(ctx, `INSERT INTO receipt_seq (terminal, day, last) VALUES (?, ?, 1)
		ON CONFLICT (terminal, day) DO UPDATE SET last = last + 1 RETURNING last`,
		s.origin.Terminal, day).Scan(&seq)
	if err != nil {
		return Record{}, fmt.Errorf("receipt: number: %w", err)
	}
	number := FormatNumber(s.origin.Terminal, now, seq)
	code, err := s.keys.Code(number, d.Procedure)
	if err != nil {
		return Record{}, err
	}
	keyID, sealed, err := s.keys.sealPersonal(pers, number)
	if err != nil {
		return Record{}, fmt.Errorf("receipt: seal: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO receipts
		(number, procedure, lang, terminal, municipality, counter, issued_at, details, personal, key_id, code)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		number, string(d.Procedure), d.Lang, s.origin.Terminal, s.origin.Municipality, s.origin.Counter,
		now.Format(timeFormat), string(details), sealed, keyID, code)
	if err != nil {
		return Record{}, fmt.Errorf("receipt: store: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Record{}, fmt.Errorf("receipt: store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Record{}, fmt.Errorf("receipt: commit: %w", err)
	}
	s.log.Info("receipt issued", "receipt", number, "procedure", string(d.Procedure), "lang", d.Lang)
	return Record{ID: id, Number: number, Procedure: d.Procedure, Lang: d.Lang, Terminal: s.origin.Terminal,
		Municipality: s.origin.Municipality, Counter: s.origin.Counter, Issued: now, Code: code,
		Details: d.Details, Status: Unprinted}, nil
}

// ErrNotFound: no such receipt.
var ErrNotFound = errors.New("receipt: not found")

const columns = `id, number, procedure, lang, terminal, municipality, counter, issued_at, details,
	personal, key_id, code, status, printer, job_id, attempts, last_problem, last_error, printed_at`

func scan(row interface{ Scan(...any) error }) (Record, []byte, string, error) {
	var (
		r                            Record
		issued, details, printed     string
		keyID, proc, status, problem string
		sealed                       []byte
	)
	err := row.Scan(&r.ID, &r.Number, &proc, &r.Lang, &r.Terminal, &r.Municipality, &r.Counter, &issued,
		&details, &sealed, &keyID, &r.Code, &status, &r.Printer, &r.JobID, &r.Attempts, &problem,
		&r.LastError, &printed)
	if err != nil {
		return r, nil, "", err
	}
	r.Procedure, r.Status, r.LastProblem = Procedure(proc), Status(status), Problem(problem)
	if r.Issued, err = time.Parse(timeFormat, issued); err != nil {
		return r, nil, "", fmt.Errorf("receipt %s: issued_at: %w", r.Number, err)
	}
	if printed != "" {
		if r.PrintedAt, err = time.Parse(timeFormat, printed); err != nil {
			return r, nil, "", fmt.Errorf("receipt %s: printed_at: %w", r.Number, err)
		}
	}
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		return r, nil, "", fmt.Errorf("receipt %s: details: %w", r.Number, err)
	}
	return r, sealed, keyID, nil
}

// Get returns a receipt by its ID or its number, with the holder's name
// unsealed (for rendering it again).
func (s *Service) Get(ctx context.Context, idOrNumber string) (Record, error) {
	q := `SELECT ` + columns + ` FROM receipts WHERE number = ?`
	arg := any(idOrNumber)
	if id, ok := parseID(idOrNumber); ok {
		q, arg = `SELECT `+columns+` FROM receipts WHERE id = ?`, id
	}
	r, sealed, keyID, err := scan(s.db.QueryRowContext(ctx, q, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, idOrNumber)
	}
	if err != nil {
		return Record{}, fmt.Errorf("receipt: %w", err)
	}
	plain, err := s.keys.openPersonal(keyID, sealed, r.Number)
	if err != nil {
		return Record{}, err
	}
	var p personal
	if err := json.Unmarshal(plain, &p); err != nil {
		return Record{}, fmt.Errorf("receipt %s: personal data: %w", r.Number, err)
	}
	r.Details.HolderName = p.HolderName
	return r, nil
}

func parseID(s string) (int64, bool) {
	var id int64
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		id = id*10 + int64(c-'0')
	}
	return id, id > 0
}

// Filter narrows List.
type Filter struct {
	Status Status // "" = all
	Limit  int    // 0 = 100
}

// List returns receipts, newest first, without the holder's name.
func (s *Service) List(ctx context.Context, f Filter) ([]Record, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT ` + columns + ` FROM receipts`
	args := []any{}
	if f.Status != "" {
		q += ` WHERE status = ?`
		args = append(args, string(f.Status))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("receipt: list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, _, _, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("receipt: list: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Print renders a stored receipt and sends it to queue (the configured
// queue when empty). Whatever happens the receipt stays stored; when it
// does not reach paper it stays (or becomes, for a first print) unprinted
// with the problem recorded, and the Outcome says what the screen should
// tell the clerk. An error is returned only when the receipt cannot be
// loaded or rendered, or the outcome cannot be recorded.
func (s *Service) Print(ctx context.Context, idOrNumber, queue string) (Outcome, error) {
	r, err := s.Get(ctx, idOrNumber)
	if err != nil {
		return Outcome{}, err
	}
	if queue == "" {
		queue = s.queue
	}
	out := Outcome{Number: r.Number, Printer: queue}
	var res PrintResult
	switch {
	case queue == "" || s.printer == nil:
		res = PrintResult{Problem: ProblemNoPrinter}
	case s.render == nil:
		return Outcome{}, errors.New("receipt: no renderer")
	default:
		doc, err := s.render.Render(ctx, r)
		if err != nil {
			return Outcome{}, fmt.Errorf("receipt %s: render: %w", r.Number, err)
		}
		res, err = s.printer.Print(ctx, queue, doc)
		if err != nil {
			// The attempt itself failed (CUPS unreachable, a protocol
			// error): the receipt waits for a reprint like any other
			// problem, and the error goes to the log.
			res = PrintResult{JobID: res.JobID, Problem: ProblemUnreachable, Detail: err.Error()}
		}
	}
	out.Printed, out.Problem, out.JobID, out.Detail = res.Problem == ProblemNone, res.Problem, res.JobID, res.Detail
	out.Message = res.Problem.Message()
	if err := s.record(ctx, r, queue, res); err != nil {
		return out, err
	}
	if out.Printed {
		s.log.Info("receipt printed", "receipt", r.Number, "printer", queue, "job", res.JobID)
	} else {
		s.log.Warn("receipt not printed", "receipt", r.Number, "printer", queue, "job", res.JobID,
			"problem", string(res.Problem), "detail", res.Detail)
	}
	return out, nil
}

// record writes a print attempt's outcome. A receipt printed once stays
// printed even when a later reprint fails.
func (s *Service) record(ctx context.Context, r Record, queue string, res PrintResult) error {
	// The context may have ended (the clerk closed the screen): the outcome
	// must still be written.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("receipt: record print: %w", err)
	}
	defer tx.Rollback()
	now := s.now().UTC().Format(timeFormat)
	detail := truncate(res.Detail, 500)
	if res.Problem == ProblemNone {
		_, err = tx.ExecContext(ctx, `UPDATE receipts SET status = 'printed', printer = ?, job_id = ?,
			attempts = attempts + 1, last_problem = '', last_error = '', printed_at = ?, updated_at = ?
			WHERE id = ?`, queue, res.JobID, now, now, r.ID)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE receipts SET printer = ?, job_id = ?, attempts = attempts + 1,
			last_problem = ?, last_error = ?, updated_at = ? WHERE id = ?`,
			queue, res.JobID, string(res.Problem), detail, now, r.ID)
	}
	if err != nil {
		return fmt.Errorf("receipt: record print: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO receipt_prints (receipt_id, at, printer, job_id, problem, detail)
		VALUES (?, ?, ?, ?, ?, ?)`, r.ID, now, queue, res.JobID, string(res.Problem), detail); err != nil {
		return fmt.Errorf("receipt: record print: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("receipt: record print: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Attempt is one print attempt of a receipt.
type Attempt struct {
	At      time.Time `json:"at"`
	Printer string    `json:"printer"`
	JobID   int       `json:"job_id,omitempty"`
	Problem Problem   `json:"problem,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Attempts lists a receipt's print attempts, oldest first.
func (s *Service) Attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, printer, job_id, problem, detail FROM receipt_prints
		WHERE receipt_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("receipt: attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at, problem string
		if err := rows.Scan(&at, &a.Printer, &a.JobID, &problem, &a.Detail); err != nil {
			return nil, fmt.Errorf("receipt: attempts: %w", err)
		}
		a.Problem = Problem(problem)
		a.At, _ = time.Parse(timeFormat, at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Verification is the answer to Verify.
type Verification struct {
	Number  string `json:"number"`
	Genuine bool   `json:"genuine"`
	// Procedure is the procedure the code was issued for (when genuine).
	Procedure Procedure `json:"procedure,omitempty"`
	Terminal  string    `json:"terminal"`
	Day       time.Time `json:"day"`
	// Known: this terminal's store holds the receipt (then Record is set,
	// without the holder's name).
	Known  bool    `json:"known"`
	Record *Record `json:"record,omitempty"`
}

// Verify checks a receipt number and its code (or a scanned QR payload in
// number, with code empty) against the issuing terminal's key, and looks
// the receipt up in this terminal's store.
func (s *Service) Verify(ctx context.Context, number, code string) (Verification, error) {
	if code == "" {
		n, c, err := ParseQR(number)
		if err != nil {
			return Verification{}, err
		}
		number, code = n, c
	}
	t, day, _, err := ParseNumber(number)
	if err != nil {
		return Verification{}, err
	}
	p, ok, err := s.keys.Verify(number, code)
	if err != nil {
		return Verification{Number: number, Terminal: t, Day: day}, err
	}
	v := Verification{Number: number, Genuine: ok, Procedure: p, Terminal: t, Day: day}
	if !ok {
		return v, nil
	}
	r, _, _, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM receipts WHERE number = ?`, number))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return v, fmt.Errorf("receipt: %w", err)
	default:
		v.Known, v.Record = true, &r
	}
	return v, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
	"madoguchi/locales"
	"madoguchi/printing"
)

// receiptKeysFile is the receipt keys' file name, beside the config file.
const receiptKeysFile = "receipt-keys.json"

// cmdReceipt: madoguchi receipt list|reprint ID|pdf ID|verify|sample|printer|key.
func cmdReceipt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: receipt needs list, reprint, pdf, verify, sample, printer or key", errUsage)
	}
	verb, rest := args[0], args[1:]
	// Positional arguments come first (an ID, a code), then flags.
	var pos []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	fs := newFlags("receipt "+verb, stderr)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	status := fs.String("status", "", "list: only printed or unprinted receipts")
	limit := fs.Int("limit", 50, "list: at most this many receipts")
	printer := fs.String("printer", "", "reprint, printer: the CUPS queue (default: [printer] queue)")
	out := fs.String("out", "", "pdf, sample, key export: the file to write")
	layout := fs.String("layout", "", "pdf, sample: roll80 or a4 (default: [printer] media)")
	copyFlag := fs.Bool("copy", false, "pdf, sample: add the municipality's copy (default: [printer] copy)")
	procedure := fs.String("procedure", string(receipt.Issuance), "sample: the procedure")
	lang := fs.String("lang", "ja", "sample: the citizen's language")
	if err := parse(fs, rest); err != nil {
		return err
	}
	copySet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "copy" {
			copySet = true
		}
	})
	want := func(n int, what string) error {
		if len(pos) != n {
			return fmt.Errorf("%w: receipt %s needs %s", errUsage, verb, what)
		}
		return nil
	}
	switch verb {
	case "sample":
		if err := want(0, "no argument"); err != nil {
			return err
		}
		return receiptSample(c, *procedure, *lang, *layout, *copyFlag, copySet, *out, stdout)
	case "key":
		return receiptKey(c, pos, *out, stdout)
	}

	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	svc, err := receiptService(e, c.config)
	if err != nil {
		return err
	}
	emit := func(v any, text func(w io.Writer)) error {
		if *asJSON {
			return printJSON(stdout, v)
		}
		text(stdout)
		return nil
	}
	ui := e.cfg.Language
	switch verb {
	case "list":
		if err := want(0, "no argument"); err != nil {
			return err
		}
		st := receipt.Status(*status)
		if st != "" && st != receipt.Printed && st != receipt.Unprinted {
			return fmt.Errorf("%w: --status %q: want printed or unprinted", errUsage, *status)
		}
		recs, err := svc.List(ctx, receipt.Filter{Status: st, Limit: *limit})
		if err != nil {
			return err
		}
		if recs == nil {
			recs = []receipt.Record{}
		}
		return emit(recs, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNUMBER\tPROCEDURE\tLANG\tISSUED\tSTATUS\tPRINTER\tJOB\tPROBLEM")
			for _, r := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Number, r.Procedure, r.Lang,
					r.Issued.In(i18n.Japan).Format("2006-01-02 15:04"), statusText(e.msgs, ui, r.Status),
					r.Printer, r.JobID, r.LastProblem)
			}
			tw.Flush()
		})
	case "reprint":
		if err := want(1, "a receipt ID or number"); err != nil {
			return err
		}
		o, err := svc.Print(ctx, pos[0], *printer)
		if err != nil {
			return err
		}
		cliAudit(ctx, e, "reprint", o.Number, map[string]any{"printed": o.Printed})
		if err := emit(o, func(w io.Writer) {
			fmt.Fprintf(w, "%s: %s\n", o.Number, e.msgs.T(ui, o.Message, nil))
			if o.Detail != "" {
				fmt.Fprintf(w, "  (%s)\n", o.Detail)
			}
		}); err != nil {
			return err
		}
		if !o.Printed {
			return fmt.Errorf("receipt %s not printed (%s)", o.Number, o.Problem)
		}
		return nil
	case "pdf":
		if err := want(1, "a receipt ID or number"); err != nil {
			return err
		}
		if *out == "" {
			return fmt.Errorf("%w: receipt pdf needs --out FILE", errUsage)
		}
		rec, err := svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		l, cp, err := layoutOf(e.cfg, *layout, *copyFlag, copySet)
		if err != nil {
			return err
		}
		p, err := printing.Render(printing.Compose(e.msgs, rec, printing.Options{MunicipalityCopy: cp}), l)
		if err != nil {
			return err
		}
		return writePDF(*out, p, stdout)
	case "verify":
		var number, code string
		switch len(pos) {
		case 1:
			number = pos[0] // a scanned QR payload
		case 2:
			number, code = pos[0], pos[1]
		default:
			return fmt.Errorf("%w: receipt verify needs the QR code's text, or a receipt number and its code", errUsage)
		}
		v, err := svc.Verify(ctx, number, code)
		if errors.Is(err, receipt.ErrUnknownTerminal) {
			fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("receipt.verify.unknown_terminal"), map[string]any{"Terminal": v.Terminal}))
			return err
		}
		if err != nil {
			return err
		}
		if err := emit(v, func(w io.Writer) {
			if !v.Genuine {
				fmt.Fprintln(w, e.msgs.T(ui, i18n.Key("receipt.verify.forged"), nil))
				return
			}
			fmt.Fprintln(w, e.msgs.T(ui, i18n.Key("receipt.verify.genuine"), map[string]any{
				"Number": v.Number, "Terminal": v.Terminal, "Date": e.msgs.FormatDate(ui, v.Day)}))
			fmt.Fprintf(w, "  procedure: %s\n", v.Procedure)
			if v.Known {
				fmt.Fprintf(w, "  issued here %s, %s\n",
					v.Record.Issued.In(i18n.Japan).Format("2006-01-02 15:04"), statusText(e.msgs, ui, v.Record.Status))
			}
		}); err != nil {
			return err
		}
		if !v.Genuine {
			return fmt.Errorf("receipt %s: the code does not match", v.Number)
		}
		return nil
	case "printer":
		if err := want(0, "no argument"); err != nil {
			return err
		}
		q := *printer
		if q == "" {
			q = e.cfg.Printer.Queue
		}
		if q == "" {
			fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("receipt.print.no_printer"), nil))
			return nil
		}
		cups, err := printing.NewCUPS(e.cfg.Printer.URI, printing.CUPSOptions{Log: e.log})
		if err != nil {
			return err
		}
		st, err := cups.Printer(ctx, q)
		if err != nil {
			return err
		}
		return emit(st, func(w io.Writer) {
			fmt.Fprintf(w, "%s: %s\n", q, st)
			if p := st.Problem(); p != receipt.ProblemNone {
				fmt.Fprintf(w, "  %s\n", e.msgs.T(ui, p.Message(), nil))
			}
		})
	}
	return fmt.Errorf("%w: receipt %s: want list, reprint, pdf, verify, sample, printer or key", errUsage, verb)
}

// receiptService wires the receipt service: keys beside the config file,
// the configured layout and copies, CUPS when a queue is configured.
func receiptService(e *env, configFlag string) (*receipt.Service, error) {
	cp, err := configPath(configFlag)
	if err != nil {
		return nil, err
	}
	keys, err := receipt.LoadKeys(filepath.Join(filepath.Dir(cp), receiptKeysFile), e.cfg.Terminal)
	if err != nil {
		return nil, err
	}
	l, err := printing.ParseLayout(e.cfg.Printer.Media)
	if err != nil {
		return nil, err
	}
	rr, err := printing.NewReceiptRenderer(e.msgs, l, e.cfg.Printer.Copy)
	if err != nil {
		return nil, err
	}
	cfg := receipt.Config{
		DB: e.store.DB, Keys: keys, Renderer: rr, Queue: e.cfg.Printer.Queue, Log: e.log,
		Origin: receipt.Origin{Municipality: e.cfg.Municipality, Counter: e.cfg.Counter, Terminal: e.cfg.Terminal},
	}
	cups, err := printing.NewCUPS(e.cfg.Printer.URI, printing.CUPSOptions{Log: e.log})
	if err != nil {
		return nil, err
	}
	cfg.Printer = cups
	return receipt.New(cfg)
}

func layoutOf(cfg config.Config, flagLayout string, flagCopy, copySet bool) (printing.Layout, bool, error) {
	name := flagLayout
	if name == "" {
		name = cfg.Printer.Media
	}
	l, err := printing.ParseLayout(name)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", errUsage, err)
	}
	cp := cfg.Printer.Copy
	if copySet {
		cp = flagCopy
	}
	return l, cp, nil
}

func statusText(b *i18n.Bundle, lang string, s receipt.Status) string {
	if s == receipt.Printed {
		return b.T(lang, i18n.Key("receipt.status.printed"), nil)
	}
	return b.T(lang, i18n.Key("receipt.status.unprinted"), nil)
}

// writePDF writes a receipt's PDF readable by its owner only: it holds a
// name.
func writePDF(path string, pdf []byte, stdout io.Writer) error {
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", path, len(pdf))
	return nil
}

// receiptSample renders a receipt with the demo holder's data for layout
// review. It needs no store and writes nothing but the PDF.
func receiptSample(c common, proc, lang, layoutFlag string, copyFlag, copySet bool, out string, stdout io.Writer) error {
	if out == "" {
		return fmt.Errorf("%w: receipt sample needs --out FILE", errUsage)
	}
	p := receipt.Procedure(proc)
	if !p.Valid() {
		names := make([]string, 0, len(receipt.Procedures()))
		for _, q := range receipt.Procedures() {
			names = append(names, string(q))
		}
		return fmt.Errorf("%w: --procedure %q: want one of %s", errUsage, proc, strings.Join(names, ", "))
	}
	cp, err := configPath(c.config)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cp)
	if err != nil {
		return err
	}
	msgs, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		return err
	}
	var tags []string
	found := false
	for _, l := range msgs.Languages() {
		tags = append(tags, l.Tag)
		found = found || l.Tag == lang
	}
	if !found {
		return fmt.Errorf("%w: --lang %q: want one of %s", errUsage, lang, strings.Join(tags, ", "))
	}
	l, mcopy, err := layoutOf(cfg, layoutFlag, copyFlag, copySet)
	if err != nil {
		return err
	}
	rec := printing.Sample(p, lang, receipt.Origin{Municipality: cfg.Municipality, Counter: cfg.Counter,
		Terminal: cfg.Terminal}, time.Now())
	pdf, err := printing.Render(printing.Compose(msgs, rec, printing.Options{MunicipalityCopy: mcopy, Sample: true}), l)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, pdf, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %s, %s, %d bytes)\n", out, p, lang, l, len(pdf))
	return nil
}

// receiptKey: key export --out FILE | key import FILE | key list.
func receiptKey(c common, pos []string, out string, stdout io.Writer) error {
	if len(pos) == 0 {
		return fmt.Errorf("%w: receipt key needs export, import or list", errUsage)
	}
	cp, err := configPath(c.config)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cp)
	if err != nil {
		return err
	}
	keys, err := receipt.LoadKeys(filepath.Join(filepath.Dir(cp), receiptKeysFile), cfg.Terminal)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "export" && len(pos) == 1:
		if out == "" {
			return fmt.Errorf("%w: receipt key export needs --out FILE", errUsage)
		}
		if err := keys.Export(out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote terminal %s's verification key to %s (mode 0600); import it on the other terminals with: madoguchi receipt key import FILE\n", keys.Terminal(), out)
		return nil
	case pos[0] == "import" && len(pos) == 2:
		t, err := keys.Import(pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "this terminal can now verify receipts of terminal %s\n", t)
		return nil
	case pos[0] == "list" && len(pos) == 1:
		for _, t := range keys.Terminals() {
			mark := ""
			if t == keys.Terminal() {
				mark = " (this terminal)"
			}
			fmt.Fprintf(stdout, "%s%s\n", t, mark)
		}
		return nil
	}
	return fmt.Errorf("%w: receipt key: want export --out FILE, import FILE or list", errUsage)
}

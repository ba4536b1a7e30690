package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"madoguchi/app/audit"
	"madoguchi/app/i18n"
)

// auditLog opens the terminal's audit trail (its chain key beside the
// config file).
func auditLog(e *env) (*audit.Log, error) {
	return audit.Open(e.store.DB, filepath.Join(filepath.Dir(e.configFile), "audit-key.json"), e.cfg.Terminal)
}

// cmdAudit: madoguchi audit verify [--json] | audit export --date D --out F.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: audit needs verify or export", errUsage)
	}
	verb := args[0]
	fs := newFlags("audit "+verb, stderr)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	date := fs.String("date", "", "export: the day (YYYY-MM-DD, Japan time; default today)")
	out := fs.String("out", "", "export: the CSV file to write (default standard output)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	l, err := auditLog(e)
	if err != nil {
		return err
	}
	switch verb {
	case "verify":
		n, p, err := l.Verify(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			printJSON(stdout, map[string]any{"events": n, "ok": p == nil, "problem": p})
		} else if p == nil {
			fmt.Fprintf(stdout, "audit trail intact: %d events\n", n)
		} else {
			fmt.Fprintf(stdout, "audit trail BROKEN at event %d: %s\n", p.Seq, p.What)
		}
		if p != nil {
			return fmt.Errorf("audit: event %d: %s", p.Seq, p.What)
		}
		return nil
	case "export":
		day := time.Now()
		if *date != "" {
			if day, err = time.ParseInLocation("2006-01-02", *date, i18n.Japan); err != nil {
				return fmt.Errorf("%w: --date %q: want YYYY-MM-DD", errUsage, *date)
			}
		}
		events, err := l.Day(ctx, day, i18n.Japan)
		if err != nil {
			return err
		}
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		cw := csv.NewWriter(w)
		cw.Write([]string{"seq", "at", "terminal", "actor", "kind", "subject", "detail"})
		for _, ev := range events {
			d := ""
			if ev.Detail != nil {
				b, _ := json.Marshal(ev.Detail)
				d = string(b)
			}
			cw.Write([]string{fmt.Sprint(ev.Seq), ev.At.In(i18n.Japan).Format(time.RFC3339), ev.Terminal, ev.Actor, ev.Kind, ev.Subject, d})
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("%w: audit %s: want verify or export", errUsage, verb)
}

// auditEvent is an event by the person at the shell.
func auditEvent(kind, subject string, detail map[string]any) audit.Event {
	return audit.Event{Actor: "cli:" + osUser(), Kind: kind, Subject: subject, Detail: detail}
}

// cliAudit records a command-line action in the audit trail (best
// effort: the action already happened; a failure is logged).
func cliAudit(ctx context.Context, e *env, kind, subject string, detail map[string]any) {
	l, err := auditLog(e)
	if err == nil {
		err = l.Append(ctx, nil, auditEvent(kind, subject, detail))
	}
	if err != nil {
		e.log.Error("audit", "kind", kind, "err", err)
	}
}

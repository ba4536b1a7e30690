package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"madoguchi/app/atomicfile"
	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/app/report"
)

// reportFormats are the export formats of `madoguchi report`.
var reportFormats = map[string]func(io.Writer, report.Report, string) error{
	"csv":  report.WriteCSV,
	"xlsx": report.WriteXLSX,
	"pdf":  report.WritePDF,
}

// cmdReport: madoguchi report daily|merge.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: report needs daily or merge", errUsage)
	}
	verb, rest := args[0], args[1:]
	fs := newFlags("report "+verb, stderr)
	var c common
	c.register(fs)
	date := fs.String("date", "", "daily: the day, YYYY-MM-DD in Japan (default today)")
	format := fs.String("format", "", "csv, xlsx or pdf (default: --out's extension)")
	out := fs.String("out", "", "the file to write (- for standard output)")
	lang := fs.String("lang", "", "the report's language (default: the config's language)")
	terminal := fs.String("terminal", "", "daily: only this terminal's records")
	var inputs []string
	switch verb {
	case "daily":
		if err := parse(fs, rest); err != nil {
			return err
		}
	case "merge":
		// The input files may come before, among or after the flags.
		for len(rest) > 0 {
			if err := fs.Parse(rest); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return err
				}
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			rest = fs.Args()
			if len(rest) > 0 {
				inputs, rest = append(inputs, rest[0]), rest[1:]
			}
		}
		if len(inputs) == 0 {
			return fmt.Errorf("%w: report merge needs the CSV files of the reports to merge", errUsage)
		}
		if *date != "" || *terminal != "" {
			return fmt.Errorf("%w: report merge takes neither --date nor --terminal", errUsage)
		}
	default:
		return fmt.Errorf("%w: report %s: want daily or merge", errUsage, verb)
	}
	if *out == "" {
		return fmt.Errorf("%w: report %s needs --out FILE", errUsage, verb)
	}
	f := strings.ToLower(*format)
	if f == "" {
		f = strings.TrimPrefix(strings.ToLower(filepath.Ext(*out)), ".")
		if _, ok := reportFormats[f]; !ok {
			return fmt.Errorf("%w: report %s needs --format csv, xlsx or pdf (none given, and --out %q does not say)", errUsage, verb, *out)
		}
	}
	write, ok := reportFormats[f]
	if !ok {
		return fmt.Errorf("%w: --format %q: want csv, xlsx or pdf", errUsage, *format)
	}
	var day time.Time
	if verb == "daily" && *date != "" {
		d, err := time.ParseInLocation("2006-01-02", *date, i18n.Japan)
		if err != nil {
			return fmt.Errorf("%w: --date %q: want a date as YYYY-MM-DD, e.g. 2026-11-22", errUsage, *date)
		}
		day = d
	}

	var r report.Report
	var ui string
	if verb == "daily" {
		e, err := setup(ctx, c, nil)
		if err != nil {
			return err
		}
		defer e.Close()
		if day.IsZero() {
			day = report.DayOf(time.Now())
		}
		ui = e.cfg.Language
		if r, err = report.Build(ctx, e.store.DB, day, report.Options{Terminal: *terminal, Store: e.cfg.Terminal}); err != nil {
			return err
		}
	} else {
		// Merging reads files only: the config for the language, no store.
		cp, err := configPath(c.config)
		if err != nil {
			return err
		}
		cfg, err := config.Load(cp)
		if err != nil {
			return err
		}
		ui = cfg.Language
		var parts []report.Report
		for _, in := range inputs {
			p, err := readReportCSV(in)
			if err != nil {
				return err
			}
			if len(parts) > 0 && !p.Day.Equal(parts[0].Day) {
				return fmt.Errorf("%s is the report of %s, %s of %s: merge the reports of one day",
					in, p.Day.Format("2006-01-02"), inputs[0], parts[0].Day.Format("2006-01-02"))
			}
			parts = append(parts, p)
		}
		r = report.Merge(parts...)
	}
	if *lang != "" {
		ui = *lang
	}
	return writeReport(*out, func(w io.Writer) error { return write(w, r, ui) }, stdout)
}

func readReportCSV(path string) (report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return report.Report{}, err
	}
	defer f.Close()
	r, err := report.ReadCSV(f)
	if err != nil {
		return report.Report{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// writeReport writes the export to path ("-": standard output) through a
// temporary file, so that a failure leaves no half-written report.
func writeReport(path string, write func(io.Writer) error, stdout io.Writer) error {
	if path == "-" {
		return write(stdout)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", path, buf.Len())
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"madoguchi/app/staff"
)

// cmdStaff: madoguchi staff add --login L --name N --role R | staff list.
func cmdStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: staff needs add or list", errUsage)
	}
	verb := args[0]
	fs := newFlags("staff "+verb, stderr)
	var c common
	c.register(fs)
	login := fs.String("login", "", "add: the login")
	name := fs.String("name", "", "add: the name shown")
	role := fs.String("role", "clerk", "add: clerk, supervisor or kiosk")
	pwFD := fs.Int("password-fd", -1, "add: read the password (twice, two lines) from this file descriptor instead of the terminal")
	asJSON := fs.Bool("json", false, "list: print as JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	svc := staff.New(e.store.DB, nil)
	switch verb {
	case "list":
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			printJSON(stdout, list)
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tNAME\tROLE\tLOCKED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", a.Login, a.Name, a.Role, a.Locked)
		}
		return tw.Flush()
	case "add":
		if *login == "" {
			return fmt.Errorf("%w: staff add needs --login", errUsage)
		}
		pw, ok, err := readPIN(*pwFD, stderr, "password (8 or more characters):")
		if err != nil || !ok {
			return errors.Join(err, fmt.Errorf("%w: no password given", errUsage))
		}
		defer pw.Wipe()
		again, _, err := readPIN(*pwFD, stderr, "again:")
		if err != nil {
			return err
		}
		defer again.Wipe()
		same := false
		_ = pw.Reveal(func(a []byte) error {
			return again.Reveal(func(b []byte) error { same = string(a) == string(b); return nil })
		})
		if !same {
			return fmt.Errorf("%w: the two entries differ", errUsage)
		}
		a, err := svc.Add(ctx, *login, *name, staff.Role(*role), pw)
		if err != nil {
			return err
		}
		cliAudit(ctx, e, "staff.add", a.Login, map[string]any{"role": string(a.Role)})
		fmt.Fprintf(stdout, "added %s (%s)\n", a.Login, a.Role)
		return nil
	}
	return fmt.Errorf("%w: staff %s: want add or list", errUsage, verb)
}

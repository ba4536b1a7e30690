package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/drivers/card"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// cmdPhoneStore: madoguchi phone-store — the card and its signature
// password prove the holder, then the phone is held to the reader and
// receives its credentials (JPKI-style authentication certificate, and
// the mdoc unless --no-mdoc).
func cmdPhoneStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("phone-store", stderr)
	var c common
	c.register(fs)
	v := registerVisit(fs)
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin" (the built-in virtual card, then the built-in virtual phone)`)
	pinFD := fs.Int("pin-fd", -1, "read the signature password, then the number printed on the card (照合番号B, for the photo; an empty line: no photo), from this file descriptor")
	replace := fs.Bool("replace", false, "the holder has a phone credential already: revoke it (the clerk confirmed)")
	noMdoc := fs.Bool("no-mdoc", false, "store only the authentication certificate, not the mdoc")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	e, ui := pr.e, pr.ui
	s, err := openProcedureCard(ctx, e, *reader, pr.ports.Central, stderr)
	if err != nil {
		return err
	}
	pr.ports.Procedure, pr.ports.Subject = "phone", flow.SerialTail(s.card.Serial())
	pins, err := pr.readKnownPINs(ctx, s.card, []card.PINKind{card.PINSign}, *pinFD, stderr)
	if err != nil {
		s.close()
		return err
	}
	check, _, err := readPIN(*pinFD, stderr, e.msgs.T(ui, i18n.Key("counter.face_check"), nil)+":")
	if err != nil {
		s.close()
		pins[card.PINSign].Wipe()
		return err
	}
	h, err := pr.ports.PhoneCard(ctx, s.card, flow.PhoneCardInput{Visit: v.visit(), SignPIN: pins[card.PINSign], FaceCheck: check})
	s.close()
	if err != nil {
		return pr.procedureError(nil, err)
	}
	fmt.Fprintln(stderr, e.msgs.T(ui, i18n.Key("cli.phone.hold"), nil))
	ph, closePhone, err := waitPhone(ctx, e, *reader)
	if err != nil {
		return err
	}
	defer closePhone()
	res, err := pr.ports.PhoneStore(ctx, ph, flow.PhoneStoreInput{Holder: h, Replace: *replace, Mdoc: !*noMdoc, Lang: *lang})
	if err != nil {
		return pr.procedureError(nil, err)
	}
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.phone.stored"), map[string]any{"Receipt": res.Receipt.Number, "Device": res.Device, "ID": res.PhoneID}))
	if res.Replaced != "" {
		fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.phone.replaced"), map[string]any{"ID": res.Replaced}))
	}
	pr.print(ctx, res.Receipt.Number, stdout)
	return nil
}

// waitPhone waits up to a minute for a phone on the reader (the card
// taken away first); the built-in reader holds the demo's virtual phone.
func waitPhone(ctx context.Context, e *env, reader string) (*phone.Phone, func(), error) {
	if reader == "" {
		reader = e.cfg.Card.Reader
	}
	if reader == "" || reader == "builtin" {
		vendor, err := phonesim.LoadOrCreateVendor(filepath.Join(e.dataDir, "central-sim", phonesim.VendorFile), phonesim.DefaultVendorName)
		if err != nil {
			return nil, nil, err
		}
		// The demo phone approves as if its holder tapped "approve".
		sp, err := phonesim.Open(filepath.Join(e.dataDir, "virtual-phone.json"), phonesim.Options{Vendor: vendor,
			SecureElement: phonesim.DefaultSecureElement, App: phonesim.DefaultApp, Model: "Demo Phone", AutoApprove: true, Log: e.log})
		if err != nil {
			return nil, nil, err
		}
		p, err := phone.Open(ctx, phonesim.NewSlot(sp))
		return p, func() {}, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		conn, closeFn, _, err := openReader(ctx, e, reader)
		if err == nil {
			p, perr := phone.Open(ctx, conn)
			if perr == nil {
				return p, closeFn, nil
			}
			closeFn()
			err = perr
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("no phone on the reader: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// cmdPhoneList: madoguchi phone-list --serial S — a card's phone
// credentials at the central system.
func cmdPhoneList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("phone-list", stderr)
	var c common
	c.register(fs)
	serial := fs.String("serial", "", "the card's serial")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serial == "" {
		return fmt.Errorf("%w: phone-list needs --serial", errUsage)
	}
	lang := ""
	pr, err := startProcedure(ctx, c, &lang)
	if err != nil {
		return err
	}
	defer pr.close()
	phones, err := pr.ports.Central.Phones(ctx, *serial)
	if err != nil {
		return pr.procedureError(nil, err)
	}
	if *asJSON {
		printJSON(stdout, phones)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSECURE ELEMENT\tAPP\tVALID UNTIL\tREPLACED")
	for _, p := range phones {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.State, p.SecureElement, p.App, pr.e.msgs.FormatDate(pr.ui, p.Certificate.NotAfter), p.Replaced)
	}
	return tw.Flush()
}

// cmdPhoneRevoke: madoguchi phone-revoke --id ID — a lost phone's
// credential revoked (needs the central system).
func cmdPhoneRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("phone-revoke", stderr)
	var c common
	c.register(fs)
	id := fs.String("id", "", "the phone credential's id (phone-list)")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("%w: phone-revoke needs --id", errUsage)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	pr.ports.Procedure, pr.ports.Subject = "phone_revoke", *id
	res, err := pr.ports.PhoneRevoke(ctx, *id, *lang)
	if errors.Is(err, flow.ErrCentralDown) {
		return errors.New(pr.e.msgs.T(pr.ui, i18n.Key("procedure.needs_online"), nil))
	}
	if err != nil {
		return pr.procedureError(nil, err)
	}
	fmt.Fprintln(stdout, pr.e.msgs.T(pr.ui, i18n.Key("cli.phone.revoked"), map[string]any{"Receipt": res.Receipt.Number}))
	pr.print(ctx, res.Receipt.Number, stdout)
	return nil
}

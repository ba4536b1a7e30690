package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"madoguchi/app"
	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/pinpolicy"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
)

// visitFlags are the identity step on the command line: what the clerk
// saw and checked.
type visitFlags struct {
	documents   *string
	faceMatched *bool
	proxy       *bool
	legalRep    *bool
}

func registerVisit(fs *flag.FlagSet) visitFlags {
	return visitFlags{
		documents:   fs.String("documents", "", "identity documents seen, comma-separated (e.g. driving-licence, passport, residence-card, notification-letter, health-insurance; see docs/IDENTITY.md)"),
		faceMatched: fs.Bool("face-matched", false, "the clerk compared the citizen's face with the card photo"),
		proxy:       fs.Bool("proxy", false, "a proxy (代理人) appears instead of the holder"),
		legalRep:    fs.Bool("legal-representative", false, "a minor's legal representative accompanies"),
	}
}

func (v visitFlags) visit() identity.Visit {
	out := identity.Visit{FaceMatched: *v.faceMatched, Proxy: *v.proxy, LegalRepresentative: *v.legalRep}
	for _, d := range strings.Split(*v.documents, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out.Documents = append(out.Documents, identity.Document(d))
		}
	}
	return out
}

// procedureError says where a procedure stopped, in the clerk's language.
func (p *procedure) procedureError(c *card.Card, err error) error {
	var ae *app.Error
	if errors.As(err, &ae) {
		return errors.New(p.e.msgs.T(p.ui, ae.Code, nil))
	}
	f := app.Describe(c, err, p.e.msgs, p.ui)
	msg := p.e.msgs.N(p.ui, f.Code, f.Count, f.Data)
	if f.Step != "" {
		msg = p.e.msgs.T(p.ui, i18n.Key("flow.step."+f.Step), nil) + ": " + msg
	}
	p.e.log.Info("procedure stopped", "step", f.Step, "code", string(f.Code), "err", err)
	return errors.New(msg)
}

// report prints a finished procedure: the receipt, the card's and the
// certificates' expiry side by side (with a warning when one is due),
// the notices, and what the printer did.
func (p *procedure) report(ctx context.Context, done i18n.Key, res flow.Result, stdout io.Writer) {
	e, ui := p.e, p.ui
	fmt.Fprintln(stdout, e.msgs.T(ui, done, map[string]any{"Receipt": res.Receipt.Number}))
	dash := "—"
	date := func(t interface{ IsZero() bool }, s string) string {
		if t.IsZero() {
			return dash
		}
		return s
	}
	ex := res.Expiry
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.expiry"), map[string]any{
		"Card": date(ex.Card, e.msgs.FormatDate(ui, ex.Card)),
		"Auth": date(ex.Auth, e.msgs.FormatDate(ui, ex.Auth)),
		"Sign": date(ex.Sign, e.msgs.FormatDate(ui, ex.Sign)),
	}))
	if ex.CardDue || ex.AuthDue || ex.SignDue {
		fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.expiry.due"), nil))
	}
	if res.Queued {
		fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.procedure.queued"), nil))
	}
	for _, n := range res.Notices {
		fmt.Fprintln(stdout, e.msgs.T(ui, n, nil))
	}
	p.print(ctx, res.Receipt.Number, stdout)
}

// readNewPINs asks the citizen for every PIN a new card needs, each with
// its confirmation; with same, the 4-digit PINs are asked once. Weak PINs
// are refused on the command line only when their format is wrong; the
// warnings are printed.
func (p *procedure) readNewPINs(prof *card.Profile, fd int, same bool, withPUK bool, birth string, stderr io.Writer) (map[card.PINKind]secret.Value, int, error) {
	e, ui := p.e, p.ui
	out := map[card.PINKind]secret.Value{}
	fail := func(err error) (map[card.PINKind]secret.Value, int, error) {
		wipeAll(out)
		return nil, 0, err
	}
	entries := 0
	var shared secret.Value
	for _, spec := range prof.PINs {
		if spec.Kind == card.PUK && !withPUK {
			continue
		}
		if same && shared.Len() > 0 && spec.Charset == card.Digits && spec.Min == 4 && spec.Max == 4 {
			out[spec.Kind] = shared
			continue
		}
		label := e.msgs.T(ui, pinName(spec.Kind), nil)
		v, err := readNewPIN(e, fd, stderr, label)
		if err != nil {
			return fail(err)
		}
		entries++
		if ferr, warns := pinpolicy.Check(spec, v, secret.Value{}, pinpolicy.Holder{BirthDate: birth}); ferr != nil {
			v.Wipe()
			return fail(p.procedureError(nil, ferr))
		} else {
			for _, w := range warns {
				fmt.Fprintln(stderr, e.msgs.T(ui, w.Key, nil))
			}
		}
		out[spec.Kind] = v
		if same && spec.Charset == card.Digits && spec.Min == 4 && spec.Max == 4 {
			shared = v
		}
	}
	return out, entries, nil
}

func wipeAll(m map[card.PINKind]secret.Value) {
	for _, v := range m {
		v.Wipe()
	}
}

// readKnownPINs asks for PINs the citizen knows (renewal, change of
// details), showing the tries left and what the next failure does.
func (p *procedure) readKnownPINs(ctx context.Context, c *card.Card, kinds []card.PINKind, fd int, stderr io.Writer) (map[card.PINKind]secret.Value, error) {
	e, ui := p.e, p.ui
	out := map[card.PINKind]secret.Value{}
	for _, k := range kinds {
		left, err := c.Tries(ctx, k)
		if err != nil {
			wipeAll(out)
			return nil, err
		}
		label := e.msgs.T(ui, pinName(k), nil)
		n := pinpolicy.BeforeEntry(left)
		fmt.Fprintln(stderr, e.msgs.N(ui, n.Key, n.Count, map[string]any{"PIN": label}))
		v, ok, err := readPIN(fd, stderr, label+":")
		if err != nil || !ok {
			wipeAll(out)
			return nil, errors.Join(err, fmt.Errorf("%w: no %s given", errUsage, k))
		}
		out[k] = v
	}
	return out, nil
}

// cmdIssue: madoguchi issue — hand over a new card (交付), or with
// renewal a new card replacing an old one (--old-serial).
func cmdIssue(ctx context.Context, args []string, stdout, stderr io.Writer, renewal bool) error {
	name := "issue"
	if renewal {
		name = "renew-card"
	}
	fs := newFlags(name, stderr)
	var c common
	c.register(fs)
	v := registerVisit(fs)
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin"`)
	pinFD := fs.Int("pin-fd", -1, "read the new PINs, each followed by its confirmation, from this file descriptor (in the card's order: auth, sign, input-assist, resident; next generation: auth, sign[, PUK])")
	same := fs.Bool("same-pin", false, "set the three 4-digit PINs to one value, entered once")
	puk := fs.Bool("puk", false, "next generation: also set a PUK")
	oldSerial := fs.String("old-serial", "", "the previous card, collected at the counter (required for renew-card)")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if renewal && *oldSerial == "" {
		return fmt.Errorf("%w: renew-card needs --old-serial", errUsage)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	s, err := openProcedureCard(ctx, pr.e, *reader, pr.ports.Central, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	birth := ""
	if rec, err := pr.ports.Central.Card(ctx, s.card.Serial()); err == nil {
		birth = rec.Holder.BirthDate
	}
	pins, entries, err := pr.readNewPINs(s.card.Profile(), *pinFD, *same, *puk, birth, stderr)
	if err != nil {
		return err
	}
	in := flow.IssueInput{Visit: v.visit(), PINs: pins, Entries: entries, Lang: *lang, OldSerial: *oldSerial}
	var res flow.Result
	done := i18n.Key("cli.issue.done")
	if renewal {
		res, err = pr.ports.RenewCard(ctx, s.card, in)
		done = i18n.Key("cli.renew_card.done")
	} else {
		res, err = pr.ports.Issue(ctx, s.card, in)
	}
	if err != nil {
		return pr.procedureError(s.card, err)
	}
	pr.report(ctx, done, res, stdout)
	return nil
}

// cmdRenewCert: madoguchi renew-cert — renew the e-certificates.
func cmdRenewCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("renew-cert", stderr)
	var c common
	c.register(fs)
	v := registerVisit(fs)
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin"`)
	pinFD := fs.Int("pin-fd", -1, "read the authentication PIN, then the signature password, from this file descriptor")
	reissue := fs.Bool("reissue", false, "renew before the renewal window on the citizen's request (再発行)")
	noSign := fs.Bool("auth-only", false, "the citizen does not want a signature certificate")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	s, err := openProcedureCard(ctx, pr.e, *reader, pr.ports.Central, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	kinds := []card.PINKind{card.PINAuth}
	if !*noSign {
		kinds = append(kinds, card.PINSign)
	}
	pins, err := pr.readKnownPINs(ctx, s.card, kinds, *pinFD, stderr)
	if err != nil {
		return err
	}
	res, err := pr.ports.RenewCert(ctx, s.card, flow.RenewCertInput{Visit: v.visit(), PINs: pins, Reissue: *reissue, Lang: *lang, Entries: len(pins)})
	if err != nil {
		return pr.procedureError(s.card, err)
	}
	pr.report(ctx, i18n.Key("cli.renew_cert.done"), res, stdout)
	return nil
}

// cmdChangeDetails: madoguchi change-details — a new name or address on
// the card (券面記載事項変更); the signature certificate is reissued when
// the signature password is given.
func cmdChangeDetails(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("change-details", stderr)
	var c common
	c.register(fs)
	v := registerVisit(fs)
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin"`)
	pinFD := fs.Int("pin-fd", -1, "read the card-text PIN (input-assist; next generation: the 4-digit PIN), then the signature password, from this file descriptor")
	name := fs.String("name", "", "the new name (as on the residents' register)")
	address := fs.String("address", "", "the new address")
	noSign := fs.Bool("no-sign", false, "do not reissue the signature certificate now")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" && *address == "" {
		return fmt.Errorf("%w: change-details needs --name or --address", errUsage)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	s, err := openProcedureCard(ctx, pr.e, *reader, pr.ports.Central, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	kinds := []card.PINKind{s.card.Profile().InputAssistPINs[0]}
	if !*noSign && kinds[0] != card.PINSign {
		kinds = append(kinds, card.PINSign)
	}
	pins, err := pr.readKnownPINs(ctx, s.card, kinds, *pinFD, stderr)
	if err != nil {
		return err
	}
	res, err := pr.ports.ChangeDetails(ctx, s.card, flow.DetailsInput{Visit: v.visit(), Name: *name, Address: *address, PINs: pins, Lang: *lang, Entries: len(pins)})
	if err != nil {
		return pr.procedureError(s.card, err)
	}
	pr.report(ctx, i18n.Key("cli.details.done"), res, stdout)
	return nil
}

package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/api"
)

// RenewCertInput is what the citizen provides to renew the certificates:
// the PINs they know (VERIFY before anything is written; each entered
// once).
type RenewCertInput struct {
	Visit identity.Visit
	PINs  map[card.PINKind]secret.Value
	// Reissue renews outside the renewal window on the citizen's request
	// (再発行, e.g. a key thought compromised): the clerk confirmed it.
	Reissue bool
	Lang    string
	Entries int
}

// NotDueError: no certificate is inside its renewal window yet.
type NotDueError struct{ From time.Time }

func (e *NotDueError) Error() string {
	return fmt.Sprintf("flow: renewal is possible from %s", e.From.Format("2006-01-02"))
}

// Is makes errors.Is(err, ErrNotDue) true.
func (e *NotDueError) Is(target error) bool { return target == ErrNotDue }

// ErrNotDue: the certificates are not yet inside their renewal window.
var ErrNotDue = errors.New("flow: the certificates are not yet due for renewal")

// RenewCert renews the card's e-certificates (電子証明書の更新): new key
// pairs on the card, certified by the central system, written under its
// authorisation; the old certificates the central system knows are
// revoked as superseded through the queue.
func (p Ports) RenewCert(ctx context.Context, c *card.Card, in RenewCertInput) (Result, error) {
	defer wipeAll(in.PINs)
	started := p.now()
	prof := c.Profile()
	rec, err := p.issuedRecord(ctx, c.Serial())
	if err != nil {
		return Result{}, err
	}
	dec, err := p.identify(ctx, in.Visit, identity.ProcRenewCert, rec.Holder.BirthDate)
	if err != nil {
		return Result{}, err
	}
	keys := []card.PINKind{card.PINAuth}
	if dec.SignatureCertificate {
		keys = append(keys, card.PINSign)
	}
	for _, k := range keys {
		spec, _ := prof.PIN(k)
		val, ok := in.PINs[k]
		if !ok || val.Len() == 0 {
			return Result{}, stop(StepChecks, fmt.Errorf("%w: %s", ErrMissingPIN, k))
		}
		norm, err := spec.Normalize(val)
		if err != nil {
			return Result{}, stop(StepChecks, err)
		}
		in.PINs[k] = norm
		defer val.Wipe() // may be shared by several PINs
	}

	// PINs first: a wrong one stops the procedure before any write.
	if err := p.step(ctx, StepPINs); err != nil {
		return Result{}, err
	}
	for _, k := range keys {
		if err := c.Verify(ctx, k, in.PINs[k]); err != nil {
			return Result{}, stop(StepPINs, err)
		}
	}
	// The certificates on the card now, for the renewal window.
	if err := p.step(ctx, StepCard); err != nil {
		return Result{}, err
	}
	old := map[card.PINKind]*x509.Certificate{}
	for _, k := range keys {
		var cert *x509.Certificate
		if k == card.PINSign {
			cert, err = c.SignCertificate(ctx)
		} else {
			cert, err = c.AuthCertificate(ctx)
		}
		if err != nil && card.IsGone(err) {
			return Result{}, stop(StepCard, err)
		}
		if err == nil {
			old[k] = cert
		}
	}
	due := false
	var from time.Time
	for _, k := range keys {
		cert, ok := old[k]
		if !ok || Due(prof, cert.NotAfter, p.now()) {
			due = true
			continue
		}
		if f := RenewalFrom(prof, cert.NotAfter); from.IsZero() || f.Before(from) {
			from = f
		}
	}
	if !due && !in.Reissue {
		return Result{}, stop(StepChecks, &NotDueError{From: from})
	}
	p.markInterrupted(ctx, c.Serial(), "cert_renewal")
	certs := map[card.PINKind]api.Certificate{}
	for _, k := range keys {
		cert, err := p.newCertificate(ctx, c, k, in.PINs[k])
		if err != nil {
			return Result{}, err
		}
		certs[k] = cert
	}
	// The central system revokes the certificates the new ones supersede
	// when it issues them (reason superseded); nothing to queue for that.
	var jobs []queue.NewJob
	jobs = append(jobs, p.event("cert-renewal", map[string]any{"profile": prof.Name, "reissue": in.Reissue && !due}))
	ex := NewExpiry(prof, CardExpiry(rec.CardExpiry), certs[card.PINAuth].NotAfter, certs[card.PINSign].NotAfter, p.now())
	id, err := p.record(ctx, "cert_renewal", c.Serial(), started, "ok", map[string]any{"profile": prof.Name, "reissue": in.Reissue && !due, "signCert": dec.SignatureCertificate, "expiry": expiryDetail(ex)}, jobs...)
	if err != nil {
		return Result{}, err
	}
	p.clearInterrupted(ctx, c.Serial())
	rc := []receipt.Cert{{Purpose: receipt.CertAuth, Action: receipt.CertRenewed, Expiry: ex.Auth}}
	if dec.SignatureCertificate {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertSignature, Action: receipt.CertRenewed, Expiry: ex.Sign})
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.CertRenewal, Lang: in.Lang, Details: receipt.Details{
		HolderName: rec.Holder.Name, CardLast4: SerialTail(c.Serial()), CardExpiry: ex.Card, Certs: rc}})
	return Result{ProcedureID: id, Receipt: r, Expiry: ex, Notices: dec.Notices, APDUs: c.APDUCount(), PINEntries: in.Entries}, err
}

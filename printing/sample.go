package printing

import (
	"time"

	"madoguchi/app/receipt"
	"madoguchi/drivers/jlis/jpki"
)

// SampleHolder is the demo card's fictitious holder (drivers/card/sim).
const (
	SampleHolder    = "窓口　花子"
	sampleBirthDate = "19850401"
)

// SampleCode stands in for a verification code on samples; no terminal's
// key produces it, so a sample never verifies.
const SampleCode = "SAMPLESAMPLESAMP"

// Sample returns a receipt record for procedure p with the demo holder's
// data, as `madoguchi receipt sample` renders it for layout review. Its
// number starts with SAMPLE and its code verifies nowhere.
func Sample(p receipt.Procedure, lang string, o receipt.Origin, now time.Time) receipt.Record {
	v, err := jpki.ValidityFor(sampleBirthDate, now, false)
	if err != nil { // the birth date is a constant: cannot happen
		v = jpki.Validity{Card: now.AddDate(10, 0, 0), Certs: now.AddDate(5, 0, 0)}
	}
	d := receipt.Details{HolderName: SampleHolder, CardLast4: "7C2A"}
	both := func(a receipt.CertAction) []receipt.Cert {
		return []receipt.Cert{
			{Purpose: receipt.CertSignature, Action: a, Expiry: v.Certs},
			{Purpose: receipt.CertAuth, Action: a, Expiry: v.Certs},
		}
	}
	switch p {
	case receipt.Issuance:
		d.CardExpiry, d.Certs = v.Card, both(receipt.CertIssued)
	case receipt.CertRenewal:
		// Renewal at the counter happens near the old expiry: the card
		// itself has a few years left.
		d.CardExpiry, d.Certs = v.Card, both(receipt.CertRenewed)
	case receipt.CardRenewal:
		d.CardExpiry, d.Certs, d.OldCardCollected = v.Card, both(receipt.CertIssued), true
	case receipt.ChangeOfDetails:
		d.CardExpiry = v.Card
		d.Changed = []receipt.Item{receipt.ItemAddress}
		d.Certs = []receipt.Cert{
			{Purpose: receipt.CertSignature, Action: receipt.CertIssued, Expiry: v.Certs},
			{Purpose: receipt.CertAuth, Action: receipt.CertUnchanged, Expiry: v.Certs},
		}
	case receipt.PINReset, receipt.ReservedReset:
		d.PINs = []receipt.PIN{receipt.PINSignature}
		if p == receipt.PINReset {
			d.PINs = append(d.PINs, receipt.PINAuth)
		}
	case receipt.PUKUnlock:
		d.PINs = []receipt.PIN{receipt.PINShort}
		d.Queued = true
	case receipt.Phone:
		d.Device = "Android"
		d.CardExpiry = v.Card
		d.Certs = []receipt.Cert{{Purpose: receipt.CertPhone, Action: receipt.CertIssued, Expiry: v.Certs}}
	case receipt.Suspension:
		d.Reference = "SUS-" + now.In(jpki.JST).Format("20060102") + "-0042"
		d.Certs = both(receipt.CertSuspended)
		d.Queued = true
	case receipt.SuspensionLift:
		d.Reference = "SUS-" + now.In(jpki.JST).Format("20060102") + "-0042"
		d.CardExpiry, d.Certs = v.Card, both(receipt.CertRestored)
	case receipt.Return:
		d.Certs = []receipt.Cert{
			{Purpose: receipt.CertSignature, Action: receipt.CertRevoked},
			{Purpose: receipt.CertAuth, Action: receipt.CertRevoked},
		}
	}
	return receipt.Record{
		Number:       receipt.FormatNumber("SAMPLE", now, 1),
		Procedure:    p,
		Lang:         lang,
		Terminal:     o.Terminal,
		Municipality: o.Municipality,
		Counter:      o.Counter,
		Issued:       now,
		Code:         SampleCode,
		Details:      d,
		Status:       receipt.Unprinted,
	}
}

// Package receipt keeps the receipts Madoguchi hands to citizens: what each
// procedure's receipt says (Details), the record in the store with its
// number and verification code, and whether it reached paper.
//
// A receipt never carries the individual number or a PIN: Details has no
// field for either, and Issue refuses any text holding a run of twelve
// digits (the shape of an individual number), so a mistake upstream
// cannot print one. The holder's name is the only personal datum; it is
// sealed with AES-GCM in the store.
//
// Rendering and printing are ports (Renderer, Printer) so that this
// package needs neither fpdf nor CUPS; package printing implements both.
package receipt

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"

	"madoguchi/app/i18n"
)

// Procedure names the procedure a receipt is for. The values match the
// procedure IDs of package app where both exist.
type Procedure string

// The procedures that end with a receipt (domain.md §2).
const (
	Issuance        Procedure = "issuance"
	CertRenewal     Procedure = "cert_renewal"
	CardRenewal     Procedure = "card_renewal"
	ChangeOfDetails Procedure = "change_of_details"
	PINReset        Procedure = "pin_reset"
	ReservedReset   Procedure = "reserved_reset" // kiosk reset after a central reservation
	PUKUnlock       Procedure = "puk_unlock"
	Phone           Procedure = "phone"
	Suspension      Procedure = "suspension"
	SuspensionLift  Procedure = "suspension_lift"
	Return          Procedure = "return"
)

// Procedures lists every procedure with a receipt, in domain.md's order.
func Procedures() []Procedure {
	return []Procedure{Issuance, CertRenewal, CardRenewal, ChangeOfDetails, PINReset,
		ReservedReset, PUKUnlock, Phone, Suspension, SuspensionLift, Return}
}

// Valid reports whether p is a known procedure.
func (p Procedure) Valid() bool {
	for _, q := range Procedures() {
		if p == q {
			return true
		}
	}
	return false
}

// CertPurpose names a certificate.
type CertPurpose string

// Certificate purposes.
const (
	CertSignature CertPurpose = "signature" // 署名用電子証明書
	CertAuth      CertPurpose = "auth"      // 利用者証明用電子証明書
	CertPhone     CertPurpose = "phone"     // スマホ用電子証明書
)

// CertAction is what the procedure did to a certificate.
type CertAction string

// Certificate actions.
const (
	CertIssued    CertAction = "issued"
	CertRenewed   CertAction = "renewed"
	CertRevoked   CertAction = "revoked"
	CertSuspended CertAction = "suspended"
	CertRestored  CertAction = "restored" // suspension lifted
	CertUnchanged CertAction = "unchanged"
)

// Cert is one certificate as the receipt shows it.
type Cert struct {
	Purpose CertPurpose `json:"purpose"`
	Action  CertAction  `json:"action"`
	// Expiry is the certificate's last day of validity; zero when it no
	// longer has one (revoked).
	Expiry time.Time `json:"expiry,omitzero"`
}

// PIN names a PIN (never its value).
type PIN string

// PINs of the current card and of the next generation.
const (
	PINAuth        PIN = "auth"         // 利用者証明用電子証明書暗証番号
	PINSignature   PIN = "signature"    // 署名用電子証明書暗証番号
	PINInputAssist PIN = "input_assist" // 券面事項入力補助用暗証番号
	PINResidents   PIN = "residents"    // 住民基本台帳用暗証番号
	PINShort       PIN = "short"        // next generation: the short numeric PIN
	PINLong        PIN = "long"         // next generation: the long alphanumeric PIN
)

// Item names a card-face item changed by a change of details (never its
// value).
type Item string

// Card-face items.
const (
	ItemName      Item = "name"
	ItemAddress   Item = "address"
	ItemBirthDate Item = "birth_date"
	ItemSex       Item = "sex"
)

// Details is what a procedure's receipt says beyond the common header.
// Every field is optional; each procedure uses those that apply. There is
// deliberately no field for the individual number or a PIN value.
type Details struct {
	// HolderName is the name as on the card face. It is sealed in the
	// store and never appears in listings.
	HolderName string `json:"-"`
	// CardLast4 is the end of the card's serial, enough for a clerk to
	// tell two cards apart; never the whole serial.
	CardLast4 string `json:"card_last4,omitempty"`
	// CardExpiry is the card's last day of validity (zero: not shown).
	CardExpiry time.Time `json:"card_expiry,omitzero"`
	Certs      []Cert    `json:"certs,omitempty"`
	// PINs are the PINs reset or unlocked.
	PINs []PIN `json:"pins,omitempty"`
	// Changed are the card-face items a change of details updated.
	Changed []Item `json:"changed,omitempty"`
	// Reference is the central system's reference for a suspension or its
	// lifting.
	Reference string `json:"reference,omitempty"`
	// Device is the smartphone a credential went to (model, not an ID).
	Device string `json:"device,omitempty"`
	// OldCardCollected: the previous card was collected at the counter.
	OldCardCollected bool `json:"old_card_collected,omitempty"`
	// Queued: part of the procedure waits in the queue for the central
	// system (offline); the receipt says it will be sent automatically.
	Queued bool `json:"queued,omitempty"`
}

// Data is what a flow hands over when its procedure ends.
type Data struct {
	Procedure Procedure
	// Lang is the citizen's language (BCP 47). Japanese is always printed;
	// another language is printed beside it.
	Lang    string
	Details Details
}

// Origin is where receipts are issued: from the config.
type Origin struct {
	Municipality string
	Counter      string
	Terminal     string
}

// Status says whether a receipt has reached paper.
type Status string

// Receipt states.
const (
	Unprinted Status = "unprinted"
	Printed   Status = "printed"
)

// Record is a stored receipt.
type Record struct {
	ID           int64     `json:"id"`
	Number       string    `json:"number"`
	Procedure    Procedure `json:"procedure"`
	Lang         string    `json:"lang"`
	Terminal     string    `json:"terminal"`
	Municipality string    `json:"municipality"`
	Counter      string    `json:"counter"`
	Issued       time.Time `json:"issued"`
	// Code is the verification code printed beside the QR code.
	Code    string  `json:"code"`
	Details Details `json:"details"`
	Status  Status  `json:"status"`
	// Printer and JobID are those of the last print attempt.
	Printer     string    `json:"printer,omitempty"`
	JobID       int       `json:"job_id,omitempty"`
	Attempts    int       `json:"attempts"`
	LastProblem Problem   `json:"last_problem,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	PrintedAt   time.Time `json:"printed_at,omitzero"`
}

// QRPayload is what the receipt's QR code carries: the receipt number and
// the verification code (ParseQR reads it back).
func (r Record) QRPayload() string { return QRPayload(r.Number, r.Code) }

// qrPrefix starts every QR payload; the version lets the scheme change.
const qrPrefix = "MDGR1:"

// QRPayload builds a QR payload.
func QRPayload(number, code string) string { return qrPrefix + number + ":" + code }

// ParseQR reads a QR payload into the receipt number and code.
func ParseQR(s string) (number, code string, err error) {
	s = strings.TrimSpace(s)
	if len(s) < len(qrPrefix) || !strings.EqualFold(s[:len(qrPrefix)], qrPrefix) {
		return "", "", fmt.Errorf("receipt: not a Madoguchi receipt code (want %s…)", qrPrefix)
	}
	rest := s[len(qrPrefix):]
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return "", "", errors.New("receipt: QR payload lacks the number or the code")
	}
	return rest[:i], rest[i+1:], nil
}

// FormatNumber makes a receipt number: terminal, the day in Japan and the
// day's sequence, e.g. DEMO-01-20261122-0007. Hyphens keep it from ever
// being a run of twelve digits.
func FormatNumber(terminal string, day time.Time, seq int) string {
	return fmt.Sprintf("%s-%s-%04d", terminal, day.In(i18n.Japan).Format("20060102"), seq)
}

// ParseNumber splits a receipt number into its terminal, day and sequence.
func ParseNumber(n string) (terminal string, day time.Time, seq int, err error) {
	i := strings.LastIndexByte(n, '-')
	if i <= 0 {
		return "", time.Time{}, 0, fmt.Errorf("receipt number %q: want TERMINAL-YYYYMMDD-NNNN", n)
	}
	j := strings.LastIndexByte(n[:i], '-')
	if j <= 0 {
		return "", time.Time{}, 0, fmt.Errorf("receipt number %q: want TERMINAL-YYYYMMDD-NNNN", n)
	}
	seq, err = strconv.Atoi(n[i+1:])
	if err != nil || seq <= 0 {
		return "", time.Time{}, 0, fmt.Errorf("receipt number %q: bad sequence", n)
	}
	day, err = time.ParseInLocation("20060102", n[j+1:i], i18n.Japan)
	if err != nil {
		return "", time.Time{}, 0, fmt.Errorf("receipt number %q: bad date", n)
	}
	return n[:j], day, seq, nil
}

// ErrIndividualNumber: a text meant for a receipt holds what looks like an
// individual number (twelve digits in a row, or in groups of four).
var ErrIndividualNumber = errors.New("receipt: text looks like an individual number; receipts never carry one")

// individualNumberShape matches twelve digits in a row, or three groups of
// four separated by a space or a hyphen (how the number is usually
// written), after full-width digits are folded to ASCII.
var individualNumberShape = regexp.MustCompile(`\d{12}|\d{4}[ \-]\d{4}[ \-]\d{4}`)

// LooksLikeIndividualNumber reports whether s holds an individual
// number's shape. Receipts and their store refuse such text.
func LooksLikeIndividualNumber(s string) bool {
	return individualNumberShape.MatchString(width.Fold.String(s))
}

// Check validates d: a known procedure, a language, and no text shaped
// like an individual number.
func (d Data) Check() error {
	if !d.Procedure.Valid() {
		return fmt.Errorf("receipt: unknown procedure %q", d.Procedure)
	}
	if strings.TrimSpace(d.Lang) == "" {
		return errors.New("receipt: no language")
	}
	texts := []string{d.Details.HolderName, d.Details.CardLast4, d.Details.Reference, d.Details.Device}
	for _, s := range texts {
		if LooksLikeIndividualNumber(s) {
			return ErrIndividualNumber
		}
	}
	if n := len([]rune(d.Details.CardLast4)); n > 4 {
		return fmt.Errorf("receipt: card serial: keep the last 4 characters only, not %d", n)
	}
	return nil
}

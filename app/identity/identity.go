// Package identity is the identity step of a counter procedure: which
// documents the clerk ticked, who stands at the counter (the holder, a
// proxy, a minor with the legal representative), whether the clerk matched
// the face with the card photo, and the holder's age. Check turns that into
// a Decision or into one error the screen can explain.
//
// The rules, and why (docs/IDENTITY.md says the same for readers of the
// documentation):
//
//   - Documents. One public document with a face photo (「A」書類: driving
//     licence, passport, residence card, …) or two other documents
//     (「B」書類: health-insurance eligibility certificate, pension book, a
//     student or staff card, …). A photo lets the clerk tie the document to
//     the person in front of them; without one, two independent documents
//     make a forgery or a borrowed document less likely. The same document
//     ticked twice counts once. The individual-number card notification
//     letter (交付通知書) counts as one "other" document when a card is
//     handed over ("issue", "renew-card"): it was posted to the holder's
//     registered address for exactly that card. For every other procedure
//     it proves nothing and is not counted.
//   - Face. Every procedure that sets or resets a PIN or issues a card or a
//     certificate needs the clerk to have compared the face with the card
//     photo: these are the steps a person could use to take over someone
//     else's identity for years. Suspension, lifting a suspension and
//     return need documents but no face match: the card may be lost (there
//     is no photo to compare), and the steps only stop or end the card.
//   - Proxy (代理人). A proxy cannot complete a procedure that sets or
//     resets PINs, or issues a card or a certificate, in one visit
//     (ErrProxyCannotSetPINs): the PINs must be chosen by the holder. The
//     municipality posts an inquiry letter (照会書) to the holder's address;
//     the proxy comes back with it answered, or the holder comes in person
//     — that second visit is another Visit. A proxy may suspend or return a
//     card (stopping a lost card must never wait). Lifting a suspension
//     re-enables the certificates of a card that was out of the holder's
//     hands, so only the holder may ask for it (ErrProxyNotAllowed). For a
//     proxy, the documents checked are the proxy's own.
//   - Under 15. No signature certificate (署名用電子証明書) is issued
//     (Decision.SignatureCertificate is false), and the legal
//     representative must accompany the holder for every procedure
//     (ErrMinorNeedsRepresentative); the representative sets the PINs
//     together with the child. A legal representative appearing without
//     the child is a proxy.
//   - Age. Counted in Japan time (UTC+9) on calendar dates: a person is N
//     from the N-th birthday on. Japanese law (年齢計算ニ関スル法律 with
//     民法143条) makes one a year older at the end of the day before the
//     birthday, so that one "reaches" 15 on the day before the 15th
//     birthday; that legal instant is not what the under-15 rule asks, and
//     would make the day before the birthday ambiguous on a screen. Here a
//     holder is under 15 until the 15th birthday itself. Someone born on
//     29 February turns a year older on 1 March in a common year.
//
// Check reports the first failing rule, in this order: the visit itself
// (procedure, dates), the documents' ids, who appeared (proxy, minor), the
// documents, the face. The earlier rules decide whether the procedure can
// happen today at all, so the clerk learns that before anything else.
package identity

import (
	"errors"
	"fmt"
	"time"

	"madoguchi/app/i18n"
)

// Document is a stable id of an identity document the clerk can tick.
// Ids never change: they are stored in procedure records.
type Document string

// The documents of the checklist.
const (
	DrivingLicence           Document = "driving-licence"
	DrivingRecord            Document = "driving-record-certificate"
	Passport                 Document = "passport"
	MyNumberCardOld          Document = "my-number-card-old"
	JukiCardPhoto            Document = "juki-card-photo"
	ResidenceCard            Document = "residence-card"
	SpecialPermanentResident Document = "special-permanent-resident"
	DisabilityHandbookPhoto  Document = "disability-handbook-photo"
	OfficialPhotoLicence     Document = "official-photo-licence"
	NotificationLetter       Document = "notification-letter"
	HealthInsurance          Document = "health-insurance"
	PensionBook              Document = "pension-book"
	NursingCareInsurance     Document = "nursing-care-insurance"
	MedicalCertificate       Document = "medical-certificate"
	StudentIDPhoto           Document = "student-id-photo"
	EmployeeIDPhoto          Document = "employee-id-photo"
	BankBook                 Document = "bank-book"
)

// Kind says how much a document proves on its own.
type Kind int

const (
	// KindPhoto: a public document with a face photo (「A」書類); one
	// suffices.
	KindPhoto Kind = iota + 1
	// KindOther: any other document (「B」書類); two are needed.
	KindOther
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case KindPhoto:
		return "photo"
	case KindOther:
		return "other"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Label is the kind's heading on the checklist.
func (k Kind) Label() i18n.Key {
	if k == KindPhoto {
		return i18n.Key("identity.kind.photo")
	}
	return i18n.Key("identity.kind.other")
}

// DocumentInfo is one line of the checklist.
type DocumentInfo struct {
	ID    Document `json:"id"`
	Kind  Kind     `json:"kind"`
	Label i18n.Key `json:"label"`
}

// documents is the checklist, photo documents first, in the order the
// municipalities' lists usually give them.
var documents = [...]DocumentInfo{
	{DrivingLicence, KindPhoto, i18n.Key("identity.doc.driving_licence")},
	{DrivingRecord, KindPhoto, i18n.Key("identity.doc.driving_record_certificate")},
	{Passport, KindPhoto, i18n.Key("identity.doc.passport")},
	{MyNumberCardOld, KindPhoto, i18n.Key("identity.doc.my_number_card_old")},
	{JukiCardPhoto, KindPhoto, i18n.Key("identity.doc.juki_card_photo")},
	{ResidenceCard, KindPhoto, i18n.Key("identity.doc.residence_card")},
	{SpecialPermanentResident, KindPhoto, i18n.Key("identity.doc.special_permanent_resident")},
	{DisabilityHandbookPhoto, KindPhoto, i18n.Key("identity.doc.disability_handbook_photo")},
	{OfficialPhotoLicence, KindPhoto, i18n.Key("identity.doc.official_photo_licence")},
	{NotificationLetter, KindOther, i18n.Key("identity.doc.notification_letter")},
	{HealthInsurance, KindOther, i18n.Key("identity.doc.health_insurance")},
	{PensionBook, KindOther, i18n.Key("identity.doc.pension_book")},
	{NursingCareInsurance, KindOther, i18n.Key("identity.doc.nursing_care_insurance")},
	{MedicalCertificate, KindOther, i18n.Key("identity.doc.medical_certificate")},
	{StudentIDPhoto, KindOther, i18n.Key("identity.doc.student_id_photo")},
	{EmployeeIDPhoto, KindOther, i18n.Key("identity.doc.employee_id_photo")},
	{BankBook, KindOther, i18n.Key("identity.doc.bank_book")},
}

// Documents returns the ordered checklist. The slice is the caller's.
func Documents() []DocumentInfo {
	out := make([]DocumentInfo, len(documents))
	copy(out, documents[:])
	return out
}

// Lookup returns a document's checklist line.
func Lookup(d Document) (DocumentInfo, bool) {
	for _, info := range documents {
		if info.ID == d {
			return info, true
		}
	}
	return DocumentInfo{}, false
}

// The procedures Visit.Procedure names.
const (
	ProcIssue         = "issue"          // card issuance (交付)
	ProcRenewCert     = "renew-cert"     // e-certificate renewal
	ProcRenewCard     = "renew-card"     // a new card replaces an expiring one
	ProcChangeDetails = "change-details" // 券面記載事項変更; the signature certificate is reissued
	ProcPINReset      = "pin-reset"      // 暗証番号の初期化・再設定
	ProcPUKUnlock     = "puk-unlock"     // next generation: unlock a blocked PIN with the PUK
	ProcSuspend       = "suspend"        // 一時停止 (loss)
	ProcResume        = "resume"         // 一時停止解除
	ProcReturn        = "return"         // 返納
)

// rule is what a procedure asks of the identity step.
type rule struct {
	proc string
	// sensitive: sets or resets a PIN, or issues a card or a
	// certificate. Needs the face matched; no proxy in one visit.
	sensitive bool
	// certificates: the procedure issues e-certificates, so the
	// signature certificate question arises.
	certificates bool
	// letter: a card is handed over, the notification letter counts.
	letter bool
	// proxy: a proxy may complete it.
	proxy bool
}

var rules = [...]rule{
	{ProcIssue, true, true, true, false},
	{ProcRenewCert, true, true, false, false},
	{ProcRenewCard, true, true, true, false},
	{ProcChangeDetails, true, true, false, false},
	{ProcPINReset, true, false, false, false},
	{ProcPUKUnlock, true, false, false, false},
	{ProcSuspend, false, false, false, true},
	{ProcResume, false, false, false, false},
	{ProcReturn, false, false, false, true},
}

func ruleOf(proc string) (rule, bool) {
	for _, r := range rules {
		if r.proc == proc {
			return r, true
		}
	}
	return rule{}, false
}

// NeedsFaceMatch reports whether procedure requires the clerk to compare
// the face with the card photo. Unknown procedures report true.
func NeedsFaceMatch(procedure string) bool {
	r, ok := ruleOf(procedure)
	return !ok || r.sensitive
}

// ProxyAllowed reports whether a proxy may complete procedure in one
// visit.
func ProxyAllowed(procedure string) bool {
	r, ok := ruleOf(procedure)
	return ok && r.proxy
}

// Visit is what the clerk records at the identity step.
type Visit struct {
	Procedure string     // one of the Proc constants
	Documents []Document // ticked by the clerk (the proxy's own when Proxy)
	// Proxy: a proxy (代理人) appears instead of the holder; a legal
	// representative without the child counts as one.
	Proxy bool
	// LegalRepresentative: for a minor, the legal representative
	// accompanies the holder.
	LegalRepresentative bool
	FaceMatched         bool      // the clerk compared the face with the card photo
	BirthDate           string    // YYYYMMDD of the holder (from the central record)
	Today               time.Time // the visit's instant; the date is taken in Japan time
}

// Decision is what the identity step allows.
type Decision struct {
	// SignatureCertificate: the holder may hold a signature certificate
	// (false under 15). Procedures that issue certificates issue the
	// signature certificate only when it is true.
	SignatureCertificate bool
	Age                  int
	// Notices are what the clerk must be told, in display order.
	Notices []i18n.Key
}

// MinorAge is the age from which a holder gets a signature certificate and
// may come without the legal representative.
const MinorAge = 15

// Sentinel errors; every error Check returns is an *Error wrapping one.
var (
	// ErrDocuments: neither one photo document nor two other documents.
	ErrDocuments = errors.New("identity: not enough identity documents")
	// ErrFaceNotMatched: the procedure needs the face compared with the
	// card photo and the clerk has not confirmed it.
	ErrFaceNotMatched = errors.New("identity: the face was not matched with the card photo")
	// ErrProxyCannotSetPINs: a proxy cannot complete a procedure that sets
	// or resets PINs (or issues a card or certificate) in one visit.
	ErrProxyCannotSetPINs = errors.New("identity: a proxy cannot complete a PIN-setting procedure in one visit")
	// ErrProxyNotAllowed: the procedure is for the holder in person
	// (lifting a suspension).
	ErrProxyNotAllowed = errors.New("identity: the holder must come in person")
	// ErrMinorNeedsRepresentative: a holder under 15 came without the
	// legal representative.
	ErrMinorNeedsRepresentative = errors.New("identity: a holder under 15 needs the legal representative")
	// ErrUnknownDocument: a ticked document id is not on the checklist.
	ErrUnknownDocument = errors.New("identity: unknown document")
	// ErrInvalidVisit: the visit cannot be checked (unknown procedure,
	// missing or impossible birth date, no date for today).
	ErrInvalidVisit = errors.New("identity: invalid visit")
)

// Error is a refusal the screen can show: Key is the message, Data its
// template values (never personal data). It wraps one of the sentinels.
type Error struct {
	Key  i18n.Key
	Data map[string]any
	err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%v (%s)", e.err, e.Key) }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.err }

func fail(err error, key i18n.Key, data map[string]any) (Decision, error) {
	return Decision{}, &Error{Key: key, Data: data, err: err}
}

// Check applies the rules of the package comment to a visit. On error the
// Decision is the zero value.
func Check(v Visit) (Decision, error) {
	r, ok := ruleOf(v.Procedure)
	if !ok {
		return fail(ErrInvalidVisit, i18n.Key("identity.error.unknown_procedure"), map[string]any{"Procedure": v.Procedure})
	}
	if v.Today.IsZero() {
		return fail(ErrInvalidVisit, i18n.Key("identity.error.today"), nil)
	}
	age, ok := Age(v.BirthDate, v.Today)
	if !ok {
		return fail(ErrInvalidVisit, i18n.Key("identity.error.birth_date"), nil)
	}

	seen := map[Document]bool{}
	photo, other, letterIgnored := 0, 0, false
	for _, d := range v.Documents {
		info, ok := Lookup(d)
		if !ok {
			return fail(ErrUnknownDocument, i18n.Key("identity.error.unknown_document"), map[string]any{"Document": string(d)})
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		switch {
		case d == NotificationLetter && !r.letter:
			letterIgnored = true
		case info.Kind == KindPhoto:
			photo++
		default:
			other++
		}
	}

	minor := age < MinorAge
	switch {
	case v.Proxy && r.sensitive:
		return fail(ErrProxyCannotSetPINs, i18n.Key("identity.error.proxy_cannot_set_pins"), nil)
	case v.Proxy && !r.proxy:
		return fail(ErrProxyNotAllowed, i18n.Key("identity.error.proxy_not_allowed"), nil)
	case minor && !v.Proxy && !v.LegalRepresentative:
		return fail(ErrMinorNeedsRepresentative, i18n.Key("identity.error.minor_needs_representative"), map[string]any{"Age": age, "MinorAge": MinorAge})
	}
	if photo < 1 && other < 2 {
		return fail(ErrDocuments, i18n.Key("identity.error.documents"), map[string]any{"Photo": photo, "Other": other})
	}
	if r.sensitive && !v.FaceMatched {
		return fail(ErrFaceNotMatched, i18n.Key("identity.error.face_not_matched"), nil)
	}

	d := Decision{SignatureCertificate: !minor, Age: age}
	if v.Proxy {
		d.Notices = append(d.Notices, i18n.Key("identity.notice.proxy_documents"))
	}
	if minor && !v.Proxy {
		d.Notices = append(d.Notices, i18n.Key("identity.notice.representative_documents"))
		if r.sensitive {
			d.Notices = append(d.Notices, i18n.Key("identity.notice.minor_pins"))
		}
	}
	if minor && r.certificates {
		d.Notices = append(d.Notices, i18n.Key("identity.notice.no_signature_certificate"))
	}
	if letterIgnored {
		d.Notices = append(d.Notices, i18n.Key("identity.notice.letter_not_counted"))
	}
	return d, nil
}

// Age returns the age in whole years on today's date in Japan time of a
// person born on birth (YYYYMMDD): a year is added on the birthday itself
// (see the package comment for why not the day before). ok is false for a
// malformed or impossible date, or one after today.
func Age(birth string, today time.Time) (age int, ok bool) {
	if len(birth) != 8 {
		return 0, false
	}
	b, err := time.Parse("20060102", birth)
	if err != nil {
		return 0, false
	}
	t := today.In(time.FixedZone("JST", 9*60*60)) // Japan has no daylight saving
	by, bm, bd := b.Date()
	ty, tm, td := t.Date()
	if ty < by || (ty == by && (tm < bm || (tm == bm && td < bd))) {
		return 0, false
	}
	age = ty - by
	if tm < bm || (tm == bm && td < bd) {
		age--
	}
	return age, true
}

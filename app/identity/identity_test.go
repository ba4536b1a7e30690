package identity

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/locales"
)

// jst is a Japan-time instant on a date.
func jst(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.FixedZone("JST", 9*3600))
}

var today = jst(2026, 11, 22, 10, 0)

const adult = "19850401"

func docs(ds ...Document) []Document { return ds }

func keys(ks ...string) []i18n.Key {
	out := make([]i18n.Key, len(ks))
	for i, k := range ks {
		out[i] = i18n.Key(k)
	}
	return out
}

func TestCheck(t *testing.T) {
	ok := func(v Visit) Visit { // the common defaults
		if v.Procedure == "" {
			v.Procedure = ProcIssue
		}
		if v.BirthDate == "" {
			v.BirthDate = adult
		}
		if v.Today.IsZero() {
			v.Today = today
		}
		return v
	}
	for _, tc := range []struct {
		name    string
		v       Visit
		err     error
		key     string
		data    map[string]any
		sig     bool
		age     int
		notices []i18n.Key
	}{
		{name: "licence, face matched", v: ok(Visit{Documents: docs(DrivingLicence), FaceMatched: true}), sig: true, age: 41},
		{name: "two others", v: ok(Visit{Documents: docs(HealthInsurance, PensionBook), FaceMatched: true}), sig: true, age: 41},
		{name: "letter counts at issuance", v: ok(Visit{Documents: docs(NotificationLetter, HealthInsurance), FaceMatched: true}), sig: true, age: 41},
		{name: "letter counts at card renewal", v: ok(Visit{Procedure: ProcRenewCard, Documents: docs(NotificationLetter, StudentIDPhoto), FaceMatched: true}), sig: true, age: 41},
		{name: "letter not counted for a PIN reset", v: ok(Visit{Procedure: ProcPINReset, Documents: docs(NotificationLetter, HealthInsurance), FaceMatched: true}),
			err: ErrDocuments, key: "identity.error.documents", data: map[string]any{"Photo": 0, "Other": 1}},
		{name: "letter not counted, said so", v: ok(Visit{Procedure: ProcRenewCert, Documents: docs(NotificationLetter, HealthInsurance, PensionBook), FaceMatched: true}),
			sig: true, age: 41, notices: keys("identity.notice.letter_not_counted")},
		{name: "one other", v: ok(Visit{Documents: docs(EmployeeIDPhoto), FaceMatched: true}),
			err: ErrDocuments, key: "identity.error.documents", data: map[string]any{"Photo": 0, "Other": 1}},
		{name: "same document twice counts once", v: ok(Visit{Documents: docs(HealthInsurance, HealthInsurance), FaceMatched: true}),
			err: ErrDocuments, key: "identity.error.documents", data: map[string]any{"Photo": 0, "Other": 1}},
		{name: "no documents", v: ok(Visit{FaceMatched: true}),
			err: ErrDocuments, key: "identity.error.documents", data: map[string]any{"Photo": 0, "Other": 0}},
		{name: "unknown document", v: ok(Visit{Documents: docs(Passport, "library-card"), FaceMatched: true}),
			err: ErrUnknownDocument, key: "identity.error.unknown_document", data: map[string]any{"Document": "library-card"}},
		{name: "face not matched", v: ok(Visit{Documents: docs(Passport)}), err: ErrFaceNotMatched, key: "identity.error.face_not_matched"},
		{name: "suspension needs no face", v: ok(Visit{Procedure: ProcSuspend, Documents: docs(Passport)}), sig: true, age: 41},
		{name: "resume needs no face", v: ok(Visit{Procedure: ProcResume, Documents: docs(MyNumberCardOld)}), sig: true, age: 41},
		{name: "return needs no face", v: ok(Visit{Procedure: ProcReturn, Documents: docs(ResidenceCard)}), sig: true, age: 41},
		{name: "return still needs documents", v: ok(Visit{Procedure: ProcReturn}), err: ErrDocuments, key: "identity.error.documents",
			data: map[string]any{"Photo": 0, "Other": 0}},
		{name: "proxy suspends", v: ok(Visit{Procedure: ProcSuspend, Proxy: true, Documents: docs(DrivingLicence)}),
			sig: true, age: 41, notices: keys("identity.notice.proxy_documents")},
		{name: "proxy returns", v: ok(Visit{Procedure: ProcReturn, Proxy: true, Documents: docs(HealthInsurance, BankBook)}),
			sig: true, age: 41, notices: keys("identity.notice.proxy_documents")},
		{name: "proxy cannot lift a suspension", v: ok(Visit{Procedure: ProcResume, Proxy: true, Documents: docs(DrivingLicence)}),
			err: ErrProxyNotAllowed, key: "identity.error.proxy_not_allowed"},
		{name: "proxy at issuance, before documents", v: ok(Visit{Proxy: true}),
			err: ErrProxyCannotSetPINs, key: "identity.error.proxy_cannot_set_pins"},
		{name: "legal representative alone is a proxy", v: ok(Visit{Proxy: true, LegalRepresentative: true, BirthDate: "20150101", Documents: docs(Passport), FaceMatched: true}),
			err: ErrProxyCannotSetPINs, key: "identity.error.proxy_cannot_set_pins"},
		{name: "under 15 with representative", v: ok(Visit{BirthDate: "20120401", LegalRepresentative: true, Documents: docs(HealthInsurance, StudentIDPhoto), FaceMatched: true}),
			sig: false, age: 14, notices: keys("identity.notice.representative_documents", "identity.notice.minor_pins", "identity.notice.no_signature_certificate")},
		{name: "under 15 alone", v: ok(Visit{BirthDate: "20120401", Documents: docs(Passport), FaceMatched: true}),
			err: ErrMinorNeedsRepresentative, key: "identity.error.minor_needs_representative", data: map[string]any{"Age": 14, "MinorAge": 15}},
		{name: "under 15 alone, suspension too", v: ok(Visit{Procedure: ProcSuspend, BirthDate: "20120401", Documents: docs(Passport)}),
			err: ErrMinorNeedsRepresentative, key: "identity.error.minor_needs_representative", data: map[string]any{"Age": 14, "MinorAge": 15}},
		{name: "under 15, suspension by a proxy", v: ok(Visit{Procedure: ProcSuspend, BirthDate: "20120401", Proxy: true, Documents: docs(Passport)}),
			sig: false, age: 14, notices: keys("identity.notice.proxy_documents")},
		{name: "under 15, PIN reset: no certificate notice", v: ok(Visit{Procedure: ProcPINReset, BirthDate: "20120401", LegalRepresentative: true, Documents: docs(MyNumberCardOld), FaceMatched: true}),
			sig: false, age: 14, notices: keys("identity.notice.representative_documents", "identity.notice.minor_pins")},
		{name: "15th birthday today", v: ok(Visit{BirthDate: "20111122", Documents: docs(Passport), FaceMatched: true}), sig: true, age: 15},
		{name: "15th birthday tomorrow", v: ok(Visit{BirthDate: "20111123", Documents: docs(Passport), FaceMatched: true}),
			err: ErrMinorNeedsRepresentative, key: "identity.error.minor_needs_representative", data: map[string]any{"Age": 14, "MinorAge": 15}},
		{name: "unknown procedure", v: ok(Visit{Procedure: "issuance", Documents: docs(Passport), FaceMatched: true}),
			err: ErrInvalidVisit, key: "identity.error.unknown_procedure", data: map[string]any{"Procedure": "issuance"}},
		{name: "impossible birth date", v: ok(Visit{BirthDate: "19850230", Documents: docs(Passport), FaceMatched: true}),
			err: ErrInvalidVisit, key: "identity.error.birth_date"},
		{name: "birth date in the future", v: ok(Visit{BirthDate: "20261123", Documents: docs(Passport), FaceMatched: true}),
			err: ErrInvalidVisit, key: "identity.error.birth_date"},
		{name: "birth date malformed", v: ok(Visit{BirthDate: "1985-4-1", Documents: docs(Passport), FaceMatched: true}),
			err: ErrInvalidVisit, key: "identity.error.birth_date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Check(tc.v)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err %T is not an *Error", err)
				}
				if string(e.Key) != tc.key {
					t.Errorf("key = %q, want %q", e.Key, tc.key)
				}
				if tc.data != nil && !reflect.DeepEqual(e.Data, tc.data) {
					t.Errorf("data = %v, want %v", e.Data, tc.data)
				}
				if !strings.Contains(err.Error(), tc.key) {
					t.Errorf("message %q lacks the key", err.Error())
				}
				if !reflect.DeepEqual(d, Decision{}) {
					t.Errorf("decision on error = %+v, want zero", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if d.SignatureCertificate != tc.sig || d.Age != tc.age {
				t.Errorf("decision = %+v, want signature %v age %d", d, tc.sig, tc.age)
			}
			if !reflect.DeepEqual(d.Notices, tc.notices) {
				t.Errorf("notices = %v, want %v", d.Notices, tc.notices)
			}
		})
	}
}

// TestFaceAndProxyPerProcedure: every procedure that sets a PIN or issues
// a card or certificate refuses an unmatched face and a proxy; the others
// need neither.
func TestFaceAndProxyPerProcedure(t *testing.T) {
	for _, tc := range []struct {
		proc      string
		sensitive bool
		proxy     bool
	}{
		{ProcIssue, true, false},
		{ProcRenewCert, true, false},
		{ProcRenewCard, true, false},
		{ProcChangeDetails, true, false},
		{ProcPINReset, true, false},
		{ProcPUKUnlock, true, false},
		{ProcSuspend, false, true},
		{ProcResume, false, false},
		{ProcReturn, false, true},
	} {
		v := Visit{Procedure: tc.proc, Documents: docs(Passport), BirthDate: adult, Today: today}
		_, err := Check(v)
		if tc.sensitive != errors.Is(err, ErrFaceNotMatched) {
			t.Errorf("%s without a face match: %v", tc.proc, err)
		}
		if NeedsFaceMatch(tc.proc) != tc.sensitive {
			t.Errorf("NeedsFaceMatch(%s) = %v", tc.proc, !tc.sensitive)
		}
		v.FaceMatched, v.Proxy = true, true
		_, err = Check(v)
		switch {
		case tc.proxy && err != nil:
			t.Errorf("%s by a proxy: %v", tc.proc, err)
		case !tc.proxy && tc.sensitive && !errors.Is(err, ErrProxyCannotSetPINs):
			t.Errorf("%s by a proxy: %v, want ErrProxyCannotSetPINs", tc.proc, err)
		case !tc.proxy && !tc.sensitive && !errors.Is(err, ErrProxyNotAllowed):
			t.Errorf("%s by a proxy: %v, want ErrProxyNotAllowed", tc.proc, err)
		}
		if ProxyAllowed(tc.proc) != tc.proxy {
			t.Errorf("ProxyAllowed(%s) = %v", tc.proc, !tc.proxy)
		}
	}
	if !NeedsFaceMatch("no-such") || ProxyAllowed("no-such") {
		t.Error("an unknown procedure must ask for the most")
	}
}

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		birth string
		today time.Time
		age   int
		ok    bool
	}{
		{"20111122", jst(2026, 11, 22, 0, 0), 15, true},
		{"20111122", jst(2026, 11, 21, 23, 59), 14, true}, // the legal "end of the day before" does not count
		// 2026-11-21 15:00 UTC is already 22 November in Japan.
		{"20111122", time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC), 15, true},
		{"20111122", time.Date(2026, 11, 21, 14, 59, 0, 0, time.UTC), 14, true},
		// Born on 29 February: a year older on 1 March in a common year.
		{"20080229", jst(2023, 2, 28, 12, 0), 14, true},
		{"20080229", jst(2023, 3, 1, 12, 0), 15, true},
		{"20080229", jst(2024, 2, 29, 12, 0), 16, true},
		{"20261122", jst(2026, 11, 22, 12, 0), 0, true},
		{"20261123", jst(2026, 11, 22, 12, 0), 0, false},
		{"20230229", jst(2026, 11, 22, 12, 0), 0, false},
		{"2011112", jst(2026, 11, 22, 12, 0), 0, false},
		{"2011-1-1", jst(2026, 11, 22, 12, 0), 0, false},
		{"", jst(2026, 11, 22, 12, 0), 0, false},
		{"２０１１１１２２", jst(2026, 11, 22, 12, 0), 0, false},
	} {
		age, ok := Age(tc.birth, tc.today)
		if age != tc.age || ok != tc.ok {
			t.Errorf("Age(%q, %v) = %d, %v; want %d, %v", tc.birth, tc.today, age, ok, tc.age, tc.ok)
		}
	}
	if _, err := Check(Visit{Procedure: ProcIssue, BirthDate: adult, Documents: docs(Passport), FaceMatched: true}); !errors.Is(err, ErrInvalidVisit) {
		t.Errorf("zero Today: %v", err)
	}
}

// TestDocuments: the checklist's ids are unique, its kinds valid, its
// labels in every language; the caller's copy is its own.
func TestDocuments(t *testing.T) {
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]map[string]bool{}
	for _, l := range []string{"ja", "en"} {
		have[l] = map[string]bool{}
		for _, id := range b.IDs(l) {
			have[l][id] = true
		}
	}
	ds := Documents()
	if len(ds) < 10 {
		t.Fatalf("only %d documents", len(ds))
	}
	seen := map[Document]bool{}
	photo := 0
	for _, d := range ds {
		if seen[d.ID] {
			t.Errorf("%s listed twice", d.ID)
		}
		seen[d.ID] = true
		if d.Kind != KindPhoto && d.Kind != KindOther {
			t.Errorf("%s: kind %v", d.ID, d.Kind)
		}
		if d.Kind == KindPhoto {
			photo++
		}
		for _, l := range []string{"ja", "en"} {
			if !have[l][string(d.Label)] {
				t.Errorf("%s: label %q missing in %s", d.ID, d.Label, l)
			}
		}
		if info, ok := Lookup(d.ID); !ok || info != d {
			t.Errorf("Lookup(%s) = %+v, %v", d.ID, info, ok)
		}
	}
	if ds[0].Kind != KindPhoto || ds[len(ds)-1].Kind != KindOther || photo == 0 {
		t.Error("photo documents must come first")
	}
	for _, id := range []Document{DrivingLicence, Passport, ResidenceCard, SpecialPermanentResident, DisabilityHandbookPhoto, MyNumberCardOld} {
		if info, _ := Lookup(id); info.Kind != KindPhoto {
			t.Errorf("%s is not a photo document", id)
		}
	}
	for _, id := range []Document{NotificationLetter, HealthInsurance, PensionBook, StudentIDPhoto} {
		if info, _ := Lookup(id); info.Kind != KindOther {
			t.Errorf("%s is not an other document", id)
		}
	}
	ds[0].ID = "changed"
	if Documents()[0].ID == "changed" {
		t.Error("Documents returned the table itself")
	}
	for _, k := range []Kind{KindPhoto, KindOther} {
		if !have["ja"][string(k.Label())] || !have["en"][string(k.Label())] {
			t.Errorf("kind %v: label %q missing", k, k.Label())
		}
	}
}

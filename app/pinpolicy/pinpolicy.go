// Package pinpolicy checks new PINs before they reach a card: the format
// the card accepts (an error), and weak choices the citizen is warned
// about (DigiDoc4's rules are the bar, ux-reference.md): a birth date in
// any common form, one repeated digit, an ascending or descending run,
// the PIN being replaced. Warnings are message keys; the citizen may
// still choose a weak PIN after reading the warning.
package pinpolicy

import (
	"fmt"
	"strconv"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
)

// Warning names a weakness; Key is its message.
type Warning struct {
	Code string   `json:"code"`
	Key  i18n.Key `json:"key"`
}

// Weaknesses.
var (
	WarnBirthDate = Warning{"birth-date", i18n.Key("pin.weak.birth_date")}
	WarnRepeated  = Warning{"repeated", i18n.Key("pin.weak.repeated")}
	WarnSequence  = Warning{"sequence", i18n.Key("pin.weak.sequence")}
	WarnSameAsOld = Warning{"same-as-old", i18n.Key("pin.weak.same_as_old")}
)

// Holder is what the checks know about the citizen.
type Holder struct {
	BirthDate string // YYYYMMDD
}

// Check returns the format error (nil when the card would accept the
// PIN) and the weaknesses of pin for spec. old may be empty.
func Check(spec card.PINSpec, pin, old secret.Value, h Holder) (error, []Warning) {
	norm, err := spec.Normalize(pin)
	if err != nil {
		return err, nil
	}
	defer norm.Wipe()
	var warns []Warning
	_ = norm.Reveal(func(p []byte) error {
		s := string(p)
		if repeated(s) {
			warns = append(warns, WarnRepeated)
		}
		if sequence(s) {
			warns = append(warns, WarnSequence)
		}
		if containsBirthDate(s, h.BirthDate) {
			warns = append(warns, WarnBirthDate)
		}
		if !old.Empty() {
			if o, err := spec.Normalize(old); err == nil {
				_ = o.Reveal(func(ob []byte) error {
					if string(ob) == s {
						warns = append(warns, WarnSameAsOld)
					}
					return nil
				})
				o.Wipe()
			}
		}
		return nil
	})
	return nil, warns
}

// repeated: one character throughout (1111, AAAAAA).
func repeated(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return len(s) > 1
}

// sequence: the digits (or letters) run up or down by one: 1234, 9876,
// 890123 (wrapping 9→0 counts, as on a keypad), ABCDEF.
func sequence(s string) bool {
	if len(s) < 3 {
		return false
	}
	up, down := true, true
	for i := 1; i < len(s); i++ {
		d := int(s[i]) - int(s[i-1])
		isDigit := s[i] >= '0' && s[i] <= '9'
		wrapUp := isDigit && s[i-1] == '9' && s[i] == '0'
		wrapDown := isDigit && s[i-1] == '0' && s[i] == '9'
		up = up && (d == 1 || wrapUp)
		down = down && (d == -1 || wrapDown)
	}
	return up || down
}

// birthForms lists the ways a birth date is commonly written in a PIN:
// YYYY, MMDD, DDMM, YYMMDD, DDMMYY, MMDDYY, YYYYMMDD, DDMMYYYY, MMDDYYYY,
// and the Japanese era year with month and day (S60 → 600401) or alone.
func birthForms(birth string) []string {
	b, err := time.Parse("20060102", birth)
	if err != nil {
		return nil
	}
	y, m, d := b.Year(), int(b.Month()), b.Day()
	yyyy, yy := fmt.Sprintf("%04d", y), fmt.Sprintf("%02d", y%100)
	mm, dd := fmt.Sprintf("%02d", m), fmt.Sprintf("%02d", d)
	forms := []string{yyyy, mm + dd, dd + mm, yy + mm + dd, dd + mm + yy, mm + dd + yy, yyyy + mm + dd, dd + mm + yyyy, mm + dd + yyyy}
	if _, ey, ok := i18n.EraOf(y, m, d); ok {
		e := fmt.Sprintf("%02d", ey)
		forms = append(forms, e+mm+dd, strconv.Itoa(ey)+mm+dd)
	}
	return forms
}

// containsBirthDate: the PIN is, or (for long passwords) contains, a
// written form of the birth date of 4 characters or more.
func containsBirthDate(pin, birth string) bool {
	for _, f := range birthForms(birth) {
		if len(f) < 4 {
			continue
		}
		if pin == f || (len(pin) > 4 && len(f) >= 6 && contains(pin, f)) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Notice is a localized sentence to show before a PIN entry or after a
// wrong one: its key, and the count it speaks of (for plurals).
type Notice struct {
	Key   i18n.Key `json:"key"`
	Count int      `json:"count"`
}

// BeforeEntry says how many tries are left before a VERIFY, and what the
// next failure would do. The last try has its own wording (the Belgian
// eID's "at the next incorrect entry your PIN code will be blocked").
func BeforeEntry(left int) Notice {
	switch {
	case left <= 0:
		return Notice{Key: i18n.Key("pin.tries.blocked"), Count: 0}
	case left == 1:
		return Notice{Key: i18n.Key("pin.tries.last"), Count: 1}
	}
	return Notice{Key: i18n.Key("pin.tries.left"), Count: left}
}

// AfterWrong says what a wrong entry left (AusweisApp's wording: the
// attempt, the consequence of the next failure, what to do then).
func AfterWrong(left int, canUnblockWithPUK bool) Notice {
	switch {
	case left <= 0 && canUnblockWithPUK:
		return Notice{Key: i18n.Key("pin.wrong.blocked_puk"), Count: 0}
	case left <= 0:
		return Notice{Key: i18n.Key("pin.wrong.blocked"), Count: 0}
	case left == 1:
		return Notice{Key: i18n.Key("pin.wrong.last"), Count: 1}
	}
	return Notice{Key: i18n.Key("pin.wrong.left"), Count: left}
}

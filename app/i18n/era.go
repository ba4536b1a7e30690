package i18n

import (
	"fmt"
	"time"
)

// An era of the Japanese calendar (和暦). Start is the first day, in Japan.
type era struct {
	key   Key
	start civil
}

// civil is a calendar date without a time zone.
type civil struct{ y, m, d int }

func (c civil) before(o civil) bool {
	if c.y != o.y {
		return c.y < o.y
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.d < o.d
}

// eras, newest first. Start dates as proclaimed (Gregorian): 令和 from
// 2019-05-01 (平成31年4月30日 is the last day of 平成), 平成 from
// 1989-01-08, 昭和 from 1926-12-25, 大正 from 1912-07-30, 明治 from
// 1868-10-23. Dates before 明治 are shown in the Western calendar only.
var eras = []era{
	{"era.reiwa", civil{2019, 5, 1}},
	{"era.heisei", civil{1989, 1, 8}},
	{"era.showa", civil{1926, 12, 25}},
	{"era.taisho", civil{1912, 7, 30}},
	{"era.meiji", civil{1868, 10, 23}},
}

// EraOf returns the era key and the year within it (1 for the first
// year, written 元年 in Japanese), or ok=false before 明治.
func EraOf(y, m, d int) (key Key, year int, ok bool) {
	c := civil{y, m, d}
	for _, e := range eras {
		if !c.before(e.start) {
			return e.key, y - e.start.y + 1, true
		}
	}
	return "", 0, false
}

// Japan is the time zone dates are shown in: Japan Standard Time, which
// has no daylight saving, so a fixed zone is exact and needs no tzdata.
var Japan = time.FixedZone("JST", 9*60*60)

// FormatDate shows t's date in Japan in both the Japanese era and the
// Western calendar, in lang's words: 令和8年11月22日 (2026-11-22).
func (b *Bundle) FormatDate(lang string, t time.Time) string {
	t = t.In(Japan)
	y, mo, d := t.Date()
	iso := fmt.Sprintf("%04d-%02d-%02d", y, int(mo), d)
	key, ey, ok := EraOf(y, int(mo), d)
	if !ok {
		return iso
	}
	year := fmt.Sprint(ey)
	if ey == 1 {
		year = b.T(lang, "era.first_year", nil)
	}
	return b.T(lang, "date.era_and_western", map[string]any{
		"Era": b.T(lang, key, nil), "Year": year, "Month": int(mo), "Day": d,
		"MonthName": b.T(lang, Key(fmt.Sprintf("month.%d", int(mo))), nil), "ISO": iso, "WesternYear": y,
	})
}

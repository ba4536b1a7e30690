package report

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/locales"
)

// messages is the program's message bundle, loaded once.
var messages = sync.OnceValues(func() (*i18n.Bundle, error) { return i18n.Load(locales.FS, "ja") })

// labeler localizes the report's labels in one language.
type labeler struct {
	b    *i18n.Bundle
	lang string
	// usable, when set, refuses a text (the PDF font lacks some of its
	// characters): the English text is used instead.
	usable func(string) bool
}

func newLabeler(lang string) (labeler, error) {
	b, err := messages()
	if err != nil {
		return labeler{}, fmt.Errorf("report: messages: %w", err)
	}
	return labeler{b: b, lang: b.Match(lang)}, nil
}

func (l labeler) t(k i18n.Key, data map[string]any) string {
	s := i18n.PlainText(l.b.T(l.lang, k, data))
	if l.usable != nil && !l.usable(s) {
		s = l.b.T("en", k, data)
	}
	return s
}

// lookup localizes the first of keys that has a message, or returns id.
func (l labeler) lookup(id string, keys ...i18n.Key) string {
	for _, k := range keys {
		if s := l.t(k, nil); s != string(k) {
			return s
		}
	}
	return id
}

// kind names a procedure kind: the report's own words when it has them,
// else the procedure menu's, else the id.
func (l labeler) kind(k string) string {
	if k == "" {
		return l.t(i18n.Key("report.procedure.none"), nil)
	}
	return l.lookup(k, i18n.Key("report.procedure."+k), i18n.Key("procedure."+k))
}

func (l labeler) outcome(o string) string {
	if k, ok := outcomeKeys[o]; ok {
		return l.t(k, nil)
	}
	return o
}

func (l labeler) step(s string) string {
	if k, ok := stepKeys[s]; ok {
		return l.t(k, nil)
	}
	return s
}

func (l labeler) pin(p string) string {
	return l.lookup(p, i18n.Key("pin."+strings.ReplaceAll(p, "-", "_")))
}

func (l labeler) item(it string) string {
	if k, ok := itemKeys[it]; ok {
		return l.t(k, nil)
	}
	return it
}

// terminal and counter name a group's terminal and counter, the roll-ups
// in words.
func (l labeler) terminal(t string) string {
	if t == All {
		return l.t(i18n.Key("report.all_terminals"), nil)
	}
	return t
}

func (l labeler) counter(c string) string {
	switch c {
	case All:
		return l.t(i18n.Key("report.all_counters"), nil)
	case "":
		return l.t(i18n.Key("report.counter_unknown"), nil)
	}
	return c
}

// heading is the report's title with its day in both calendars.
func (l labeler) heading(r Report) string {
	return l.t(i18n.Key("report.heading"), map[string]any{"Date": l.date(r.Day)})
}

func (l labeler) date(day time.Time) string {
	s := i18n.PlainText(l.b.FormatDate(l.lang, day))
	if l.usable != nil && !l.usable(s) {
		s = l.b.FormatDate("en", day)
	}
	return s
}

// scope says which terminals a report covers.
func (l labeler) scope(r Report) string {
	if r.Terminal != "" {
		return l.t(i18n.Key("report.scope.terminal"), map[string]any{"Terminal": r.Terminal})
	}
	return l.t(i18n.Key("report.scope.all"), nil)
}

var outcomeKeys = map[string]i18n.Key{
	"ok":     i18n.Key("report.outcome.ok"),
	"queued": i18n.Key("report.outcome.queued"),
	"failed": i18n.Key("report.outcome.failed"),
}

var stepKeys = map[string]i18n.Key{
	"":          i18n.Key("report.step.none"),
	"start":     i18n.Key("report.step.start"),
	"language":  i18n.Key("report.step.language"),
	"procedure": i18n.Key("report.step.procedure"),
	"card":      i18n.Key("report.step.card"),
	"pins":      i18n.Key("report.step.pins"),
}

var itemKeys = map[string]i18n.Key{
	"card": i18n.Key("report.expiry.card"),
	"auth": i18n.Key("report.expiry.auth"),
	"sign": i18n.Key("report.expiry.sign"),
	"any":  i18n.Key("report.expiry.any"),
}

// hms shows a duration as m:ss (h:mm:ss from an hour), to the second.
func hms(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Package i18n loads the embedded message files and localizes text for the
// Go side (CLI, receipts, errors) and for the frontend, which receives a
// whole catalogue per language and switches at run time.
package i18n

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Key is a message ID. Go code refers to messages only through Key
// literals, e.g. i18n.Key("status.reader.demo"), so that a test can find
// every key in use.
type Key string

// Language describes one UI language.
type Language struct {
	Tag    string `json:"tag"`    // BCP 47, e.g. "ja"
	Native string `json:"native"` // the language's name in itself, e.g. "日本語"
}

// Bundle holds every language's messages.
type Bundle struct {
	b        *goi18n.Bundle
	fallback string
	langs    []Language
	messages map[string]map[string]*goi18n.Message // lang → id → message
	plural   map[string]bool                       // ids with plural forms in any language
}

// Load parses every *.toml file of fsys. fallback is used for unknown
// languages and must be among them.
func Load(fsys fs.FS, fallback string) (*Bundle, error) {
	files, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, err
	}
	b := &Bundle{
		b:        goi18n.NewBundle(language.MustParse(fallback)),
		fallback: fallback,
		messages: map[string]map[string]*goi18n.Message{},
	}
	b.b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		mf, err := b.b.ParseMessageFileBytes(data, path.Base(f))
		if err != nil {
			return nil, fmt.Errorf("locale %s: %w", f, err)
		}
		// A language may be split over several files ("ja.toml",
		// "counter.ja.toml"): go-i18n takes the tag from the last
		// dotted part of the name, and the messages are merged.
		tag := mf.Tag.String()
		m, seen := b.messages[tag]
		if !seen {
			m = map[string]*goi18n.Message{}
			b.messages[tag] = m
		}
		for _, msg := range mf.Messages {
			if _, dup := m[msg.ID]; dup {
				return nil, fmt.Errorf("locale %s: key %q defined twice for %s", f, msg.ID, tag)
			}
			m[msg.ID] = msg
		}
	}
	for _, f := range files {
		tag := strings.TrimSuffix(path.Base(f), ".toml")
		if i := strings.LastIndexByte(tag, '.'); i >= 0 {
			continue // a part file; the language is listed by its main file
		}
		tag = language.Make(tag).String()
		native := tag
		if n, ok := b.messages[tag]["language.native"]; ok {
			native = n.Other
		}
		b.langs = append(b.langs, Language{Tag: tag, Native: native})
	}
	b.plural = map[string]bool{}
	for _, msgs := range b.messages {
		for id, m := range msgs {
			if pluralForms(m) != nil {
				b.plural[id] = true
			}
		}
	}
	if _, ok := b.messages[fallback]; !ok {
		return nil, fmt.Errorf("fallback language %q has no message file", fallback)
	}
	// Japanese first, then by tag: the order of the language menu.
	sort.Slice(b.langs, func(i, j int) bool {
		if (b.langs[i].Tag == fallback) != (b.langs[j].Tag == fallback) {
			return b.langs[i].Tag == fallback
		}
		return b.langs[i].Tag < b.langs[j].Tag
	})
	return b, nil
}

// Languages lists the loaded languages, the fallback first.
func (b *Bundle) Languages() []Language { return b.langs }

// Match returns the loaded language that best serves tag ("en-US" → "en"),
// or the fallback.
func (b *Bundle) Match(tag string) string {
	if _, ok := b.messages[tag]; ok {
		return tag
	}
	tags := b.b.LanguageTags()
	m := language.NewMatcher(tags)
	t, err := language.Parse(tag)
	if err != nil {
		return b.fallback
	}
	_, idx, conf := m.Match(t)
	if conf == language.No {
		return b.fallback
	}
	return tags[idx].String()
}

// IDs lists every message ID of lang, sorted.
func (b *Bundle) IDs(lang string) []string {
	ids := make([]string, 0, len(b.messages[lang]))
	for id := range b.messages[lang] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// T localizes key in lang with optional template data. A missing key
// yields the key itself, so a gap shows but never breaks a screen.
func (b *Bundle) T(lang string, key Key, data map[string]any) string {
	return b.localize(lang, key, nil, data)
}

// N localizes a plural message for count (also available as {{.Count}}).
func (b *Bundle) N(lang string, key Key, count int, data map[string]any) string {
	if data == nil {
		data = map[string]any{}
	}
	data["Count"] = count
	return b.localize(lang, key, count, data)
}

// localize looks the message up in lang's own messages, then the
// fallback's. It does not use go-i18n's Localizer, whose language matcher
// ignores private-use subtags and would serve "ja" for "ja-x-easy".
func (b *Bundle) localize(lang string, key Key, count any, data map[string]any) string {
	for _, tag := range []string{b.Match(lang), b.fallback} {
		m, ok := b.messages[tag][string(key)]
		if !ok {
			continue
		}
		form := "other"
		if n, ok := count.(int); ok {
			form = pluralForm(tag, n)
		}
		if s, err := execute(goi18n.NewMessageTemplate(m), form, data); err == nil {
			return s
		}
	}
	return string(key)
}

// pluralForm is the CLDR cardinal plural category of n in lang.
func pluralForm(lang string, n int) string {
	switch plural.Cardinal.MatchPlural(language.Make(lang), n, 0, 0, 0, 0) {
	case plural.Zero:
		return "zero"
	case plural.One:
		return "one"
	case plural.Two:
		return "two"
	case plural.Few:
		return "few"
	case plural.Many:
		return "many"
	}
	return "other"
}

// execute runs a message template in a plural form, falling back to the
// "other" form. (go-i18n's form type is internal: hence the literals.)
func execute(mt *goi18n.MessageTemplate, form string, data map[string]any) (string, error) {
	var s string
	err := errors.New("no form")
	switch form {
	case "zero":
		s, err = mt.Execute("zero", data, nil)
	case "one":
		s, err = mt.Execute("one", data, nil)
	case "two":
		s, err = mt.Execute("two", data, nil)
	case "few":
		s, err = mt.Execute("few", data, nil)
	case "many":
		s, err = mt.Execute("many", data, nil)
	}
	if err != nil || s == "" {
		return mt.Execute("other", data, nil)
	}
	return s, nil
}

// Catalog is a language's messages for the frontend. Plural messages
// appear once per form as "id#one", "id#other" etc.; the frontend picks the
// form with Intl.PluralRules. Templates use {{.Name}} placeholders.
type Catalog struct {
	Lang     string            `json:"lang"`
	Messages map[string]string `json:"messages"`
}

// Catalog returns lang's messages, completed from the fallback language.
func (b *Bundle) Catalog(lang string) Catalog {
	lang = b.Match(lang)
	out := map[string]string{}
	for _, l := range []string{b.fallback, lang} {
		for id, m := range b.messages[l] {
			if !b.plural[id] {
				out[id] = m.Other
				continue
			}
			for k := range out {
				if strings.HasPrefix(k, id+"#") {
					delete(out, k)
				}
			}
			out[id+"#other"] = m.Other
			for form, text := range pluralForms(m) {
				out[id+"#"+form] = text
			}
		}
	}
	return Catalog{Lang: lang, Messages: out}
}

// pluralForms returns the forms of a message that has any besides other.
func pluralForms(m *goi18n.Message) map[string]string {
	forms := map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many}
	plural := false
	for k, v := range forms {
		if v == "" {
			delete(forms, k)
		} else {
			plural = true
		}
	}
	if !plural {
		return nil
	}
	forms["other"] = m.Other
	return forms
}

// PlainText turns easy Japanese's furigana markup into plain text for
// files and paper: <ruby>漢字<rt>かんじ</rt></ruby> becomes 漢字(かんじ);
// <rp> and any other tag are dropped.
func PlainText(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	for {
		i := strings.Index(s, "<rp>")
		j := strings.Index(s, "</rp>")
		if i < 0 || j < i {
			break
		}
		s = s[:i] + s[j+len("</rp>"):]
	}
	s = strings.NewReplacer("<rt>", "(", "</rt>", ")").Replace(s)
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

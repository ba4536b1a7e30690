package i18n

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"

	"madoguchi/locales"
)

func load(t testing.TB) *Bundle {
	t.Helper()
	b, err := Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryKeyInEveryLocale fails when a locale lacks a key another has,
// or lacks a plural form its language needs.
func TestEveryKeyInEveryLocale(t *testing.T) {
	b := load(t)
	if len(b.Languages()) < 2 {
		t.Fatalf("languages = %v, want at least ja and en", b.Languages())
	}
	all := map[string]bool{}
	for _, l := range b.Languages() {
		for _, id := range b.IDs(l.Tag) {
			all[id] = true
		}
	}
	for _, l := range b.Languages() {
		forms := requiredForms(language.MustParse(l.Tag))
		for id := range all {
			m, ok := b.messages[l.Tag][id]
			if !ok {
				t.Errorf("locale %s: missing key %q", l.Tag, id)
				continue
			}
			if m.Other == "" {
				t.Errorf("locale %s: key %q has no 'other' text", l.Tag, id)
			}
			if pluralForms(m) == nil && !isPluralInAnyLocale(b, id) {
				continue
			}
			for _, f := range forms {
				if form(m, f) == "" {
					t.Errorf("locale %s: plural key %q lacks form %q", l.Tag, id, f)
				}
			}
		}
	}
}

func isPluralInAnyLocale(b *Bundle, id string) bool {
	for _, l := range b.Languages() {
		if m := b.messages[l.Tag][id]; m != nil && pluralForms(m) != nil {
			return true
		}
	}
	return false
}

// requiredForms lists the CLDR cardinal forms a language uses for whole
// numbers, found by asking CLDR about 0..1000.
func requiredForms(tag language.Tag) []plural.Form {
	seen := map[plural.Form]bool{}
	var out []plural.Form
	for n := 0; n <= 1000; n++ {
		f := plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0)
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func form(m *i18n.Message, f plural.Form) string {
	switch f {
	case plural.Zero:
		return m.Zero
	case plural.One:
		return m.One
	case plural.Two:
		return m.Two
	case plural.Few:
		return m.Few
	case plural.Many:
		return m.Many
	}
	return m.Other
}

// keyUses finds message keys referenced in Go (i18n.Key("...") or
// Key("...")) and TypeScript (t("..."), tn("...", n)) source.
var (
	goKey = regexp.MustCompile(`\bKey\("([a-z0-9_.]+)"\)`)
	tsKey = regexp.MustCompile(`\b(?:tn?|tRich|tnRich|tPlain)\(\s*['"]([a-z0-9_.]+)['"]`)
)

// TestEveryKeyInCodeHasAMessage scans the repository's Go and TypeScript
// sources for keys and checks each exists in the reference locale.
func TestEveryKeyInCodeHasAMessage(t *testing.T) {
	b := load(t)
	root := filepath.Join("..", "..")
	used := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "dist", ".git", "build":
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(p, "_test.go"):
			return nil
		case strings.HasSuffix(p, ".go"):
			re = goKey
		case strings.HasSuffix(p, ".ts"):
			re = tsKey
		default:
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			used[m[1]] = append(used[m[1]], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 10 {
		t.Fatalf("found only %d keys in code; the scan is broken", len(used))
	}
	// Keys built at run time.
	for m := 1; m <= 12; m++ {
		k := "month." + strconv.Itoa(m)
		used[k] = append(used[k], "era.go")
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := b.messages["ja"][k]; !ok {
			t.Errorf("key %q used in %v has no message", k, used[k])
		}
	}
}

func TestEraBoundaries(t *testing.T) {
	b := load(t)
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 12, 0, 0, 0, Japan) }
	for _, tc := range []struct {
		t    time.Time
		lang string
		want string
	}{
		{day(2026, 11, 22), "ja", "令和8年11月22日 (2026-11-22)"},
		{day(2019, 4, 30), "ja", "平成31年4月30日 (2019-04-30)"},
		{day(2019, 5, 1), "ja", "令和元年5月1日 (2019-05-01)"},
		{day(2020, 1, 1), "ja", "令和2年1月1日 (2020-01-01)"},
		{day(1989, 1, 7), "ja", "昭和64年1月7日 (1989-01-07)"},
		{day(1989, 1, 8), "ja", "平成元年1月8日 (1989-01-08)"},
		{day(1926, 12, 24), "ja", "大正15年12月24日 (1926-12-24)"},
		{day(1926, 12, 25), "ja", "昭和元年12月25日 (1926-12-25)"},
		{day(1912, 7, 29), "ja", "明治45年7月29日 (1912-07-29)"},
		{day(1912, 7, 30), "ja", "大正元年7月30日 (1912-07-30)"},
		{day(1868, 10, 22), "ja", "1868-10-22"},
		{day(2026, 11, 22), "en", "November 22, Reiwa 8 (2026-11-22)"},
		{day(2019, 5, 1), "en", "May 1, Reiwa 1 (2019-05-01)"},
		{day(2019, 4, 30), "en-US", "April 30, Heisei 31 (2019-04-30)"},
		{day(2026, 11, 22), "xx", "令和8年11月22日 (2026-11-22)"},
		// 2019-04-30 23:30 UTC is already 2019-05-01 in Japan.
		{time.Date(2019, 4, 30, 23, 30, 0, 0, time.UTC), "ja", "令和元年5月1日 (2019-05-01)"},
	} {
		if got := b.FormatDate(tc.lang, tc.t); got != tc.want {
			t.Errorf("FormatDate(%s, %v) = %q, want %q", tc.lang, tc.t, got, tc.want)
		}
	}
}

func TestPluralAndCatalog(t *testing.T) {
	b := load(t)
	if got := b.N("en", "status.queue.pending", 1, nil); got != "1 job" {
		t.Errorf("en one = %q", got)
	}
	if got := b.N("en", "status.queue.pending", 3, nil); got != "3 jobs" {
		t.Errorf("en other = %q", got)
	}
	if got := b.N("ja", "status.queue.pending", 1, nil); got != "1件" {
		t.Errorf("ja = %q", got)
	}
	c := b.Catalog("en-GB")
	if c.Lang != "en" || c.Messages["status.queue.pending#one"] != "{{.Count}} job" || c.Messages["app.title"] != "Madoguchi" {
		t.Errorf("catalog en: lang %q, %d messages", c.Lang, len(c.Messages))
	}
	if _, ok := c.Messages["status.queue.pending"]; ok {
		t.Error("plural message also present without a form suffix")
	}
	j := b.Catalog("ja")
	if j.Messages["status.queue.pending#other"] != "{{.Count}}件" {
		t.Errorf("ja plural = %q", j.Messages["status.queue.pending#other"])
	}
	if got := b.T("en", "no.such.key", nil); got != "no.such.key" {
		t.Errorf("missing key = %q", got)
	}
}

// TestPartFiles: a language split over several files is merged; a key
// defined twice is an error.
func TestPartFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"ja.toml":         {Data: []byte("[\"language.native\"]\nother = \"日本語\"\n[a]\nother = \"あ\"\n")},
		"counter.ja.toml": {Data: []byte("[b]\nother = \"い\"\n")},
		"en.toml":         {Data: []byte("[\"language.native\"]\nother = \"English\"\n[a]\nother = \"a\"\n")},
		"counter.en.toml": {Data: []byte("[b]\nother = \"b\"\n")},
	}
	b, err := Load(fsys, "ja")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.T("ja", Key("b"), nil); got != "い" {
		t.Errorf("part file message: %q", got)
	}
	if got := b.T("en", Key("a"), nil); got != "a" {
		t.Errorf("main file message: %q", got)
	}
	if n := len(b.Languages()); n != 2 {
		t.Errorf("languages: %d, want 2", n)
	}
	fsys["more.ja.toml"] = &fstest.MapFile{Data: []byte("[a]\nother = \"x\"\n")}
	if _, err := Load(fsys, "ja"); err == nil {
		t.Error("a key defined twice was accepted")
	}
}

// TestPrivateUseTag: easy Japanese (ja-x-easy) is served its own messages,
// not Japanese's, although language matchers ignore private-use subtags.
func TestPrivateUseTag(t *testing.T) {
	fsys := fstest.MapFS{
		"ja.toml":             {Data: []byte("[\"language.native\"]\nother = \"日本語\"\n[b]\nother = \"漢字\"\n")},
		"ja-x-easy.toml":      {Data: []byte("[\"language.native\"]\nother = \"やさしい にほんご\"\n")},
		"flow.ja-x-easy.toml": {Data: []byte("[b]\nother = \"<ruby>漢字<rt>かんじ</rt></ruby>\"\n")},
		"pt-BR.toml":          {Data: []byte("[\"language.native\"]\nother = \"Português\"\n[n]\none = \"{{.Count}} tentativa\"\nother = \"{{.Count}} tentativas\"\n")},
	}
	b, err := Load(fsys, "ja")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.T("ja-x-easy", Key("b"), nil); got != "<ruby>漢字<rt>かんじ</rt></ruby>" {
		t.Errorf("easy Japanese: %q", got)
	}
	if got := b.T("ja", Key("b"), nil); got != "漢字" {
		t.Errorf("Japanese: %q", got)
	}
	if got := b.Match("pt"); got != "pt-BR" {
		t.Errorf("Match(pt) = %q", got)
	}
	if one, many := b.N("pt-BR", Key("n"), 1, nil), b.N("pt-BR", Key("n"), 3, nil); one != "1 tentativa" || many != "3 tentativas" {
		t.Errorf("plurals: %q, %q", one, many)
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		"<ruby>漢字<rt>かんじ</rt></ruby>を <ruby>書<rp>(</rp><rt>か</rt><rp>)</rp></ruby>く": "漢字(かんじ)を 書(か)く",
		"no markup":                        "no markup",
		"a <b>bold</b> <script>x</script>": "a bold x",
	} {
		if got := PlainText(in); got != want {
			t.Errorf("PlainText(%q) = %q, want %q", in, got, want)
		}
	}
}

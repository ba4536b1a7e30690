package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"madoguchi/app/i18n"
)

func TestFontconfigLang(t *testing.T) {
	for tag, want := range map[string]string{
		"ja": "ja", "ja-x-easy": "ja", "zh-Hans": "zh-cn", "zh-Hant": "zh-tw", "ko": "ko",
		"pt-BR": "pt", "tl": "fil", "ne": "ne", "th": "th", "vi": "vi", "en": "en",
	} {
		if got := fontconfigLang(tag); got != want {
			t.Errorf("fontconfigLang(%q) = %q, want %q", tag, got, want)
		}
	}
}

// TestCheckFonts runs checkFonts against a stand-in fc-list that knows a
// font for Thai only: Thai is covered (by its first family name), Nepali
// is not; without fc-list the check says it could not run.
func TestCheckFonts(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = \":lang=th\" ] && printf 'Noto Sans Thai,Noto Sans Thai Regular\\nOther\\n'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "fc-list"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	got, err := checkFonts(context.Background(), []i18n.Language{{Tag: "th"}, {Tag: "ne"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []fontCheck{{Lang: "th", OK: true, Family: "Noto Sans Thai"}, {Lang: "ne"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := checkFonts(context.Background(), []i18n.Language{{Tag: "th"}}); !errors.Is(err, errNoFontconfig) {
		t.Fatalf("without fc-list: %v", err)
	}
}

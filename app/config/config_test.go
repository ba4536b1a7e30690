package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingFileGivesDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if err != nil || c != Default() {
		t.Fatalf("Load(missing) = %+v, %v", c, err)
	}
}

// TestTemplateIsTheDefaults keeps the documented file and Default() equal.
func TestTemplateIsTheDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c", "config.toml")
	if err := WriteTemplate(p); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c != Default() {
		t.Fatalf("template decodes to %+v, defaults are %+v", c, Default())
	}
	if err := WriteTemplate(p); err == nil {
		t.Fatal("WriteTemplate overwrote an existing file")
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

func TestBadFiles(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key": "langauge = \"en\"\n",
		"bad level":   "[log]\nlevel = \"loud\"\n",
		"bad syntax":  "language = \n",
		"no terminal": "terminal = \" \"\n",
	} {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := Load(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("language = \"en\"\n[log]\nlevel = \"debug\"\n"), 0o600)
	c, err := Load(p)
	if err != nil || c.Language != "en" || c.Log.Level != "debug" || c.Counter != Default().Counter {
		t.Fatalf("partial file: %+v, %v", c, err)
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/xdg")
	if d, _ := DataDir(""); d != "/srv/xdg/madoguchi" {
		t.Errorf("DataDir = %q", d)
	}
	if d, _ := DataDir("rel"); !filepath.IsAbs(d) || !strings.HasSuffix(d, "rel") {
		t.Errorf("DataDir(rel) = %q", d)
	}
}

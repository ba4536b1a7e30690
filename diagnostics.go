package main

import (
	"context"
	"fmt"
	"io"
	"syscall"

	"madoguchi/app"
	"madoguchi/app/i18n"
	"madoguchi/locales"
)

// freeSpace is the space an unprivileged user may still write on the disk
// holding path, for the diagnostics screen.
func freeSpace(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// missingFonts lists the screen languages no installed font covers.
func missingFonts(langs []i18n.Language) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		fc, err := checkFonts(ctx, langs)
		if err != nil {
			return nil, err
		}
		return missingLangs(fc), nil
	}
}

// cmdErrorCodes prints the diagnostics codes in a language.
func cmdErrorCodes(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("error-codes", stderr)
	lang := fs.String("lang", "en", "language")
	if err := parse(fs, args); err != nil {
		return err
	}
	msgs, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, app.ErrorCodesText(msgs, *lang))
	return nil
}

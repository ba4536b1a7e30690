package logging

import (
	"io"
	"log/slog"
	"path/filepath"
)

// Options configure New.
type Options struct {
	Dir      string     // directory of madoguchi.log
	Level    slog.Level // minimum level
	MaxBytes int64      // rotate beyond this size (0: 10 MiB)
	Keep     int        // backups to keep (0: 5)
	Also     io.Writer  // optional second sink (e.g. stderr for the CLI); nil for none
}

// New returns a logger writing JSON lines through the Redactor, and the
// file to close at exit.
func New(o Options) (*slog.Logger, io.Closer, error) {
	f, err := OpenRotating(filepath.Join(o.Dir, "madoguchi.log"), o.MaxBytes, o.Keep)
	if err != nil {
		return nil, nil, err
	}
	var w io.Writer = f
	if o.Also != nil {
		w = io.MultiWriter(f, o.Also)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.Level})
	return slog.New(NewRedactor(h)), f, nil
}

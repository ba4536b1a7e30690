// Package frontend embeds the built UI (frontend/dist, made by
// `npm run build`) for the Wails window and `madoguchi serve`.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built files with dist/ stripped.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

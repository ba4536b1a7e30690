// Package locales embeds Madoguchi's go-i18n message files, one TOML file
// per language, named <language tag>.toml. Every file holds every key; a
// test in app/i18n enforces it.
package locales

import "embed"

// FS holds the message files.
//
//go:embed *.toml
var FS embed.FS

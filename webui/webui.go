// Package webui embeds cuecard's browser UI: the rep's overlay, the
// session library and the replay page. The files under static/ are plain
// HTML, CSS and ES modules served as they are; third-party libraries are
// vendored under static/vendor/ with their licences.
package webui

import (
	"embed"
	"io/fs"
	"os"
)

//go:embed static
var static embed.FS

// FS returns the UI's files. With dir set it serves them from that
// directory instead (a checkout's webui/static while editing the UI).
func FS(dir string) fs.FS {
	if dir != "" {
		return os.DirFS(dir)
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// The embedded tree always has static/; this cannot fail.
		return static
	}
	return sub
}

package webui_test

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/webui"
)

// importRE finds the specifiers of static imports and of module scripts.
var importRE = regexp.MustCompile(`(?m)(?:^\s*import\s(?:[^;"]*?\sfrom\s)?"([^"]+)"|<script type="module" src="([^"]+)")`)

// TestModulesResolve checks that every module a page or a module imports
// is in the embedded UI: a missing one stops the page in the browser.
func TestModulesResolve(t *testing.T) {
	ui := webui.FS("")
	seen := 0
	err := fs.WalkDir(ui, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(name, "vendor/") {
			return err
		}
		if ext := path.Ext(name); ext != ".js" && ext != ".html" {
			return nil
		}
		b, err := fs.ReadFile(ui, name)
		if err != nil {
			return err
		}
		for _, m := range importRE.FindAllStringSubmatch(string(b), -1) {
			spec := m[1] + m[2]
			target := strings.TrimPrefix(spec, "/")
			if !strings.HasPrefix(spec, "/") {
				target = path.Join(path.Dir(name), spec)
			}
			seen++
			if _, err := fs.Stat(ui, target); err != nil {
				t.Errorf("%s imports %q: not in the UI", name, spec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 20 {
		t.Errorf("found %d imports, the pattern misses some", seen)
	}
}

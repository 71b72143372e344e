package deptest

import (
	"strings"
	"testing"
)

// TestWorkersClientImports keeps asr/workers light: a server on --asr
// workers holds no decoder, so the package must not pull in the embedded
// recognizer (cgo) or the server.
func TestWorkersClientImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const self = "github.com/cuecard/cuecard/asr/workers"
	for _, p := range deps(t, self) {
		for _, f := range forbidden {
			if strings.HasPrefix(p.ImportPath, f) && p.ImportPath != self {
				t.Errorf("asr/workers depends on %s", p.ImportPath)
			}
		}
		if !p.Standard && len(p.CgoFiles) > 0 {
			t.Errorf("asr/workers depends on %s, which uses cgo", p.ImportPath)
		}
	}
}

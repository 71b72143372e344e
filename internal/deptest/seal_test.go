package deptest

import "testing"

// TestSealImports keeps package seal, the format of recordings at rest,
// on the standard library alone: rekeying tools and the server share it.
func TestSealImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const self = "github.com/cuecard/cuecard/seal"
	for _, p := range deps(t, self) {
		if !p.Standard && p.ImportPath != self {
			t.Errorf("seal depends on %s", p.ImportPath)
		}
	}
}

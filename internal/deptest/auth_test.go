package deptest

import (
	"strings"
	"testing"
)

// TestAuthImports keeps package auth a leaf that the store and the server
// both build on: the standard library, golang.org/x/crypto and
// golang.org/x/time, and nothing of ours.
func TestAuthImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const self = "github.com/cuecard/cuecard/auth"
	allowed := []string{"golang.org/x/crypto/", "golang.org/x/sys/", "golang.org/x/time/"}
	for _, p := range deps(t, self) {
		if p.Standard || p.ImportPath == self {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(p.ImportPath, a)
		}
		if !ok {
			t.Errorf("auth depends on %s", p.ImportPath)
		}
		if len(p.CgoFiles) > 0 {
			t.Errorf("auth depends on %s, which uses cgo", p.ImportPath)
		}
	}
}

package deptest

import (
	"strings"
	"testing"
)

// TestTestProviderStaysInTests keeps the OpenID provider that the tests
// run (zitadel/oidc) out of the program: the server is only a client of
// a provider.
func TestTestProviderStaysInTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, p := range deps(t, "github.com/cuecard/cuecard/cmd/cuecard") {
		if strings.HasPrefix(p.ImportPath, "github.com/zitadel/") || strings.HasSuffix(p.ImportPath, "/internal/oidctest") {
			t.Errorf("cuecard depends on %s, which only tests may use", p.ImportPath)
		}
	}
}

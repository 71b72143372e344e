package deptest

import (
	"strings"
	"testing"
)

// TestClusterImports keeps package cluster about NATS alone: none of the
// server, the store, WebRTC or cgo comes with it.
func TestClusterImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, p := range deps(t, "github.com/cuecard/cuecard/cluster") {
		if strings.HasPrefix(p.ImportPath, "github.com/cuecard/cuecard/") && p.ImportPath != "github.com/cuecard/cuecard/cluster" {
			t.Errorf("cluster depends on %s", p.ImportPath)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(p.ImportPath, f) {
				t.Errorf("cluster depends on %s", p.ImportPath)
			}
		}
		if !p.Standard && len(p.CgoFiles) > 0 {
			t.Errorf("cluster depends on %s, which uses cgo", p.ImportPath)
		}
	}
}

// Package deptest checks that the light packages stay light: a client, the
// coach and the protocol must not compile cgo, WebRTC, SQLite or the
// server into whoever imports them.
package deptest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// pkg is the part of `go list -json` the test reads.
type pkg struct {
	ImportPath string
	Standard   bool
	CgoFiles   []string
}

// forbidden are import-path prefixes no light package may depend on.
var forbidden = []string{
	"github.com/pion/",
	"modernc.org/sqlite",
	"github.com/prometheus/",
	"github.com/cuecard/cuecard/server",
	"github.com/cuecard/cuecard/store",
	"github.com/cuecard/cuecard/asr/",
	"github.com/cuecard/cuecard/audio/soxr",
}

func TestLightPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, light := range []string{"client", "llm", "coach", "wire", "stream", "remote", "audio", "telephony"} {
		t.Run(light, func(t *testing.T) {
			for _, p := range deps(t, "github.com/cuecard/cuecard/"+light) {
				for _, f := range forbidden {
					if strings.HasPrefix(p.ImportPath, f) {
						t.Errorf("%s depends on %s", light, p.ImportPath)
					}
				}
				// The standard library's net has a cgo resolver; only our
				// own and third-party cgo is forbidden.
				if !p.Standard && len(p.CgoFiles) > 0 {
					t.Errorf("%s depends on %s, which uses cgo", light, p.ImportPath)
				}
			}
		})
	}
}

func deps(tb testing.TB, path string) []pkg {
	tb.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,CgoFiles", path)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			tb.Fatalf("go list %s: %v\n%s", path, err, ee.Stderr)
		}
		tb.Fatalf("go list %s: %v", path, err)
	}
	var ps []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return ps
		} else if err != nil {
			tb.Fatal(err)
		}
		ps = append(ps, p)
	}
}

func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	cmd := exec.Command("go", "build", "./coach", "./client", "./llm", "./wire", "./stream", "./remote", "./audio", "./telephony")
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}

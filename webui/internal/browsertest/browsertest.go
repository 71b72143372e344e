// Package browsertest is what the UI's end-to-end tests share: a
// synthesized call, the speech recognizer, and headless Debian Chromium.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/synth"
)

// ChromiumPath is Debian's chromium; the tests download no browser.
const ChromiumPath = "/usr/bin/chromium"

// Env is the set-up of one test package.
type Env struct {
	// CallDir holds rep.wav and prospect.wav of a short synthesized call.
	CallDir string
	// Sphinx is the embedded recognizer pool.
	Sphinx *sphinx.Recognizer
	// Err says why the set-up is unavailable.
	Err error
}

// Setup synthesizes the short test call into dir and loads the recognizer;
// call Close when done.
func Setup(dir, call string) *Env {
	e := &Env{}
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		e.Err = fmt.Errorf("chromium: %w (apt-get install chromium)", err)
		return e
	}
	e.CallDir = filepath.Join(dir, "call")
	utts, err := synth.ReadFile(call)
	if err != nil {
		e.Err = err
		return e
	}
	if _, err := synth.Synthesize(context.Background(), utts, e.CallDir, synth.DefaultOptions()); err != nil {
		e.Err = fmt.Errorf("synthesize the call (flite, sox): %w", err)
		return e
	}
	e.Sphinx, e.Err = sphinx.New(sphinx.DefaultConfig())
	return e
}

// Close releases the recognizer.
func (e *Env) Close() {
	if e.Sphinx != nil {
		e.Sphinx.Close()
	}
}

// Need skips a test when chromium, flite, sox or the speech model is
// missing, and fails it in CI, where they must be installed.
func (e *Env) Need(tb testing.TB) {
	tb.Helper()
	if e.Err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("end-to-end test set-up failed in CI: %v", e.Err)
	}
	tb.Skipf("end-to-end test set-up unavailable: %v", e.Err)
}

// Options are the headless Chromium flags every test uses: no sandbox (the
// tests run as root), a fresh profile, and nothing that reaches out to
// the network on its own.
func Options(tb testing.TB) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
}

// Artifacts returns the directory for screenshots: $CUECARD_ARTIFACTS, or
// a temporary directory of the test.
func Artifacts(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CUECARD_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		return d
	}
	return tb.TempDir()
}

// Main runs a test package's tests with an Env set up in a temporary
// directory (the short test call of server/testdata), calling ready with
// it first, and returns the exit code for os.Exit.
func Main(m *testing.M, ready func(*Env)) int {
	dir, err := os.MkdirTemp("", "cuecard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env := Setup(dir, "../../server/testdata/short-call.jsonl")
	defer env.Close()
	ready(env)
	return m.Run()
}

// NeedChromium skips a test when Chromium is missing, and fails it in CI,
// where it must be installed.
func NeedChromium(tb testing.TB) {
	tb.Helper()
	_, err := exec.LookPath(ChromiumPath)
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("end-to-end test needs chromium in CI: %v", err)
	}
	tb.Skipf("chromium unavailable (apt-get install chromium): %v", err)
}

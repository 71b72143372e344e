package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/synth"
)

// Shared by the tests: a synthesized call and the embedded recognizer.
var (
	callDir    string
	callErr    error
	recognizer *sphinx.Recognizer
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "cuecard-server-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		callDir = filepath.Join(dir, "call")
		utts, err := synth.ReadFile("testdata/short-call.jsonl")
		if err == nil {
			_, err = synth.Synthesize(context.Background(), utts, callDir, synth.DefaultOptions())
		}
		callErr = err
		if callErr == nil {
			recognizer, callErr = sphinx.New(sphinx.DefaultConfig())
			if recognizer != nil {
				defer recognizer.Close()
			}
		}
		return m.Run()
	}()
	if code == 0 {
		// scs.New starts an in-memory store's cleaner before the server
		// swaps in the database store; it cannot be stopped without a
		// race (one idle goroutine per server, a timer a minute).
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needCall skips (or in CI fails) a test that needs flite, sox and the
// speech model.
func needCall(tb testing.TB) {
	tb.Helper()
	if callErr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("synthesized call unavailable in CI: %v", callErr)
		}
		tb.Skipf("synthesized call unavailable: %v", callErr)
	}
}

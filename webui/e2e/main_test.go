// Package e2e drives the rep's overlay in real headless Chromium against a
// real cuecard server on loopback: real WebRTC (or the WebSocket
// fallback), real speech recognition, synthesized calls.
//
// The tests run one at a time: each plays a call in real time, and on a
// small machine calls played in parallel starve each other's audio (the
// server drops frames it cannot take, media time falls behind, cues come
// late or not at all).
package e2e

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// Shared by the tests: the synthesized call, a silent prospect side, the
// recognizer pool, and why any of them is missing.
var (
	env        *browsertest.Env
	callDir    string
	silence    string
	recognizer *sphinx.Recognizer
)

func TestMain(m *testing.M) {
	os.Exit(browsertest.Main(m, func(e *browsertest.Env) {
		env, callDir, recognizer = e, e.CallDir, e.Sphinx
		if e.Err == nil {
			silence = filepath.Join(callDir, "silence.wav")
			e.Err = writeSilence(silence, 16000, 60)
		}
	}))
}

// need skips a test when chromium, flite, sox or the speech model is
// missing, and fails it in CI, where they must be installed.
func need(tb testing.TB) {
	tb.Helper()
	env.Need(tb)
}

// writeSilence writes seconds of 16-bit mono digital silence as a WAV file.
func writeSilence(path string, rate, seconds int) error {
	n := rate * seconds * 2
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+n))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(n))
	return os.WriteFile(path, append(h, make([]byte, n)...), 0o644)
}

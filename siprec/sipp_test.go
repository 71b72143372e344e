package siprec_test

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
)

// needSIPp returns the sipp command, or skips (fails in CI) without it.
func needSIPp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is not installed (Debian: apt-get install sip-tester)")
		}
		t.Skip("sipp is not installed (Debian: apt-get install sip-tester): the SIPREC scenarios need it")
	}
	return p
}

// muLawWAV writes seconds of a 440 Hz tone as an 8 kHz mu-law WAV, the
// format sipp's rtp_stream plays as PCMU.
func muLawWAV(t *testing.T, path string, seconds int) {
	t.Helper()
	frames := tone(seconds*50, false)
	var data []byte
	for _, f := range frames {
		data = append(data, f...)
	}
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(36+len(data)))
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 7) // WAVE_FORMAT_MULAW
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint32(h, 8000)
	h = binary.LittleEndian.AppendUint32(h, 8000)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint16(h, 8)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	if err := os.WriteFile(path, append(h, data...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeUDPPort returns a port that was free a moment ago, for sipp's media.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// runSIPp plays scenario against the server over TCP, in dir; it fails
// the test when sipp reports a failed call.
func runSIPp(t *testing.T, sipp, dir, scenario string, port int) {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sf", sf, "-m", "1", "-t", "t1", "-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t)), "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err",
		"127.0.0.1:"+strconv.Itoa(port))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if testing.Verbose() {
		t.Logf("sipp %s:\n%s", scenario, out)
	}
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("sipp %s: %v\n%s", scenario, err, out)
	}
}

// TestSIPpCall is the call scenario played by sipp as the recording
// client: INVITE with a multipart SIPREC body, a real PCMU stream, a
// re-INVITE to hold, BYE.
func TestSIPpCall(t *testing.T) {
	sipp := needSIPp(t)
	k := newSink()
	s := startServer(t, k, nil)
	dir := t.TempDir()
	muLawWAV(t, filepath.Join(dir, "tone.wav"), 3)
	runSIPp(t, sipp, dir, "call.xml", s.TCPAddr().(*net.TCPAddr).Port)
	select {
	case <-k.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.calls) != 1 || k.calls[0].Rep.AOR != "sip:ana@sales.example.com" {
		t.Fatalf("calls %+v", k.calls)
	}
	// Three seconds of tone on the rep's stream, at 8 kHz.
	if n := k.samples[coach.Rep]; n < 2*8000 || k.energy[coach.Rep] < 100 {
		t.Fatalf("the rep's stream: %d samples, energy %f", n, k.energy[coach.Rep])
	}
}

// TestSIPpMalformedMetadata: sipp sends metadata that is not XML and
// expects 400.
func TestSIPpMalformedMetadata(t *testing.T) {
	sipp := needSIPp(t)
	k := newSink()
	s := startServer(t, k, nil)
	runSIPp(t, sipp, t.TempDir(), "malformed.xml", s.TCPAddr().(*net.TCPAddr).Port)
	if len(k.calls) != 0 || s.Calls() != 0 {
		t.Fatalf("a malformed call was started: %+v", k.calls)
	}
}

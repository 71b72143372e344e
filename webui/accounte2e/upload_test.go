package accounte2e

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/webui/internal/browsertest"
)

// stereoSilence writes seconds of 16 kHz 16-bit stereo silence as a WAV file.
func stereoSilence(tb testing.TB, seconds int) string {
	tb.Helper()
	n := 16000 * 4 * seconds
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+n))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 2)
	binary.LittleEndian.PutUint32(h[24:], 16000)
	binary.LittleEndian.PutUint32(h[28:], 64000)
	binary.LittleEndian.PutUint16(h[32:], 4)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(n))
	path := filepath.Join(tb.TempDir(), "call.wav")
	if err := os.WriteFile(path, append(h, make([]byte, n)...), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestUploadNeedsConsent: the library's upload form sends nothing until
// the consent is confirmed, then stores the call with the consent text
// given.
func TestUploadNeedsConsent(t *testing.T) {
	need(t)
	ts := startServer(t, servertest.Options{})
	newUser(t, ts, "ana@example.com", auth.RoleRep, "Sales")
	ctx := browser(t)
	browsertest.SignIn(t, ctx, ts.URL, "ana@example.com", "/sessions")
	waitJS(t, ctx, "the library", `document.body.dataset.ready === "true"`)
	do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS(`#upload input[name="stereo"]`), []string{stereoSilence(t, 3)}),
		chromedp.Click(chromedp.CSS(`#upload button[type=submit]`)))
	waitJS(t, ctx, "the refusal", `document.querySelector('#upload-status').textContent.includes("Confirm")`)
	if page, err := ts.DB.ListSessions(context.Background(), store.ListFilter{}); err != nil || page.Total != 0 {
		t.Fatalf("sessions after an upload without consent: %d, %v", page.Total, err)
	}
	const told = "Everyone was told on the phone and agreed."
	eval[bool](t, ctx, `(document.querySelector('#up-consent-text').value = "`+told+`", true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#up-consent`)), chromedp.Click(chromedp.CSS(`#upload button[type=submit]`)))
	waitJS(t, ctx, "the upload taken", `/Analyz/.test(document.querySelector('#upload-status').textContent)`)
	page, err := ts.DB.ListSessions(context.Background(), store.ListFilter{})
	if err != nil || page.Total != 1 {
		t.Fatalf("sessions after the upload: %d, %v", page.Total, err)
	}
	ses, err := ts.DB.GetSession(context.Background(), page.Sessions[0].ID)
	if err != nil || !ses.Consent || ses.ConsentText != told {
		t.Fatalf("uploaded session's consent %v %q, %v", ses.Consent, ses.ConsentText, err)
	}
}

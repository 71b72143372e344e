package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
)

// writeKeyFile writes a new random key to dir/name, hex encoded if hexed,
// and returns its path and key.
func writeKeyFile(t *testing.T, dir, name string, hexed bool) (string, *seal.Key) {
	t.Helper()
	raw := make([]byte, seal.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	data := raw
	if hexed {
		data = []byte(hex.EncodeToString(raw) + "\n")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

func sealedFile(t *testing.T, path string, k *seal.Key, plain []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := seal.Encrypt(&buf, bytes.NewReader(plain), k); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openSealed(path string, kr *seal.Keyring) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, err := seal.NewReader(f, st.Size(), kr)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestRecordingsRekey: rekey moves every sealed recording to the new key,
// leaves those already there, encrypts an ended call's recording left in
// the clear (not a live one's), and can be run again.
func TestRecordingsRekey(t *testing.T) {
	keys, data := t.TempDir(), t.TempDir()
	oldPath, oldKey := writeKeyFile(t, keys, "old", false)
	newPath, newKey := writeKeyFile(t, keys, "new", true)
	plain := bytes.Repeat([]byte("RIFF call audio "), 10000)
	a := filepath.Join(data, "audio", "s1", "rep.wav.enc")
	b := filepath.Join(data, "audio", "s2", "prospect.ogg.enc")
	sealedFile(t, a, oldKey, plain)
	sealedFile(t, b, newKey, plain[:100])

	ended, live := plainRecordings(t, data)

	code, out, errOut := runCmd(t, "recordings", "rekey", "--data", data, "--key-file", newPath, "--old-key-file", oldPath)
	if code != 0 || !strings.Contains(out, "re-encrypted 1 recordings with key "+newKey.ID()+" (1 already were); encrypted 1 that were in the clear") {
		t.Fatalf("rekey: %d %q %q", code, out, errOut)
	}
	for path, want := range map[string][]byte{a: plain, b: plain[:100]} {
		got, err := openSealed(path, seal.NewKeyring(newKey))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after rekey: %v", path, err)
		}
	}
	checkPlainSealed(t, data, ended, live, seal.NewKeyring(newKey))
	if _, err := openSealed(a, seal.NewKeyring(oldKey)); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("old key still opens %s: %v", a, err)
	}
	if code, out, _ := runCmd(t, "recordings", "rekey", "--data", data, "--key-file", newPath); code != 0 ||
		!strings.Contains(out, "re-encrypted 0 recordings") || !strings.Contains(out, "encrypted 0 that") {
		t.Fatalf("second rekey: %d %q", code, out)
	}
	// Without the key a file needs, rekey fails and names it.
	sealedFile(t, a, oldKey, plain)
	if code, _, errOut := runCmd(t, "recordings", "rekey", "--data", data, "--key-file", newPath); code == 0 ||
		!strings.Contains(errOut, oldKey.ID()) {
		t.Fatalf("rekey without the old key: %d %q", code, errOut)
	}
}

// TestRecordingKeyFlags: a bad key file is a clear error at start.
func TestRecordingKeyFlags(t *testing.T) {
	dir := t.TempDir()
	good, _ := writeKeyFile(t, dir, "good", false)
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"good", []string{"--recording-key-file", good, "--recording-old-key-file", good}, ""},
		{"bad key", []string{"--recording-key-file", bad}, "must be 32 bytes"},
		{"missing file", []string{"--recording-key-file", filepath.Join(dir, "none")}, "no such file"},
		{"old without current", []string{"--recording-old-key-file", good}, "needs --recording-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newServeMain(io.Discard, io.Discard)
			err := m.ParseFlags(append([]string{"--data", dir}, tc.args...), io.Discard)
			if tc.want == "" {
				if err != nil || m.keys == nil {
					t.Fatalf("err %v, keys %v", err, m.keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// plainRecordings stores two sessions in data, one ended and one live,
// each with a registered WAV recording of the rep in the clear, and
// returns their ids.
func plainRecordings(t *testing.T, data string) (ended, live string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids [2]string
	for i := range ids {
		ses, err := db.CreateSession(ctx, store.NewSession{Rep: "Dee"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MarkLive(ctx, ses.ID, 16000); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := db.EndSession(ctx, ses.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		p, err := db.RecordingPath(ses.ID, coach.Rep, "wav")
		if err != nil {
			t.Fatal(err)
		}
		if err := audio.WriteWAVFile(p, 16000, 1, make([]float32, 16000)); err != nil {
			t.Fatal(err)
		}
		if err := db.AddRecording(ctx, ses.ID, coach.Rep, p, "audio/wav"); err != nil {
			t.Fatal(err)
		}
		ids[i] = ses.ID
	}
	return ids[0], ids[1]
}

// checkPlainSealed checks that the ended session's recording is sealed,
// registered and gone in the clear, and the live one's untouched.
func checkPlainSealed(t *testing.T, data, ended, live string, kr *seal.Keyring) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec, err := db.Recording(ctx, ended, coach.Rep)
	if err != nil || !strings.HasSuffix(rec.Path, "rep.wav.enc") {
		t.Fatalf("ended session's recording %s: %v", rec.Path, err)
	}
	if b, err := openSealed(rec.Path, kr); err != nil || string(b[:4]) != "RIFF" {
		t.Fatalf("sealed recording: %v", err)
	}
	if _, err := os.Stat(strings.TrimSuffix(rec.Path, ".enc")); !os.IsNotExist(err) {
		t.Fatalf("plain recording still there: %v", err)
	}
	if rec, err := db.Recording(ctx, live, coach.Rep); err != nil || !strings.HasSuffix(rec.Path, "rep.wav") {
		t.Fatalf("live session's recording %s: %v", rec.Path, err)
	}
}

package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/cuecard/cuecard/seal"
)

func newKey(tb testing.TB) *seal.Key {
	tb.Helper()
	raw := make([]byte, seal.KeySize)
	if _, err := rand.Read(raw); err != nil {
		tb.Fatal(err)
	}
	k, err := seal.NewKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func sealBytes(tb testing.TB, k *seal.Key, plain []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	n, err := seal.Encrypt(&buf, bytes.NewReader(plain), k)
	if err != nil {
		tb.Fatal(err)
	}
	if n != int64(buf.Len()) {
		tb.Fatalf("Encrypt returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func open(sealed []byte, kr *seal.Keyring) (*seal.Reader, error) {
	return seal.NewReader(bytes.NewReader(sealed), int64(len(sealed)), kr)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	_, _ = r.Read(b)
	return b
}

func TestRoundTrip(t *testing.T) {
	k := newKey(t)
	kr := seal.NewKeyring(k)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0}, {"one byte", 1}, {"chunk-1", seal.ChunkSize - 1}, {"chunk", seal.ChunkSize},
		{"chunk+1", seal.ChunkSize + 1}, {"many chunks", 7*seal.ChunkSize + 1234}, {"many whole chunks", 5 * seal.ChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := randomBytes(tc.size)
			sealed := sealBytes(t, k, plain)
			if bytes.Contains(sealed, plain[:min(len(plain), 64)]) && len(plain) >= 16 {
				t.Fatal("sealed file contains the plaintext")
			}
			r, err := open(sealed, kr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != int64(tc.size) || r.KeyID() != k.ID() {
				t.Fatalf("size %d key %s, want %d %s", r.Size(), r.KeyID(), tc.size, k.ID())
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("round trip differs (%d bytes, want %d)", len(got), len(plain))
			}
		})
	}
}

func TestSeek(t *testing.T) {
	k := newKey(t)
	plain := randomBytes(5*seal.ChunkSize + 777)
	r, err := open(sealBytes(t, k, plain), seal.NewKeyring(k))
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for range 300 {
		off := rng.Int64N(int64(len(plain)) + 10)
		n := rng.IntN(3 * seal.ChunkSize)
		whence := rng.IntN(3)
		var arg int64
		switch whence {
		case io.SeekStart:
			arg = off
		case io.SeekCurrent:
			cur, _ := r.Seek(0, io.SeekCurrent)
			arg = off - cur
		case io.SeekEnd:
			arg = off - int64(len(plain))
		}
		pos, err := r.Seek(arg, whence)
		if err != nil || pos != off {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", arg, whence, pos, err, off)
		}
		got := make([]byte, n)
		m, err := io.ReadFull(r, got)
		want := plain[min(off, int64(len(plain))):min(off+int64(n), int64(len(plain)))]
		if m != len(want) || !bytes.Equal(got[:m], want) {
			t.Fatalf("read %d at %d: got %d bytes (err %v), want %d", n, off, m, err, len(want))
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative seek succeeded")
	}
}

func readAll(sealed []byte, kr *seal.Keyring) error {
	r, err := open(sealed, kr)
	if err != nil {
		return err
	}
	_, err = io.ReadAll(r)
	return err
}

func TestTamper(t *testing.T) {
	k := newKey(t)
	kr := seal.NewKeyring(k)
	plain := randomBytes(2*seal.ChunkSize + 100)
	sealed := sealBytes(t, k, plain)
	const hdr = len(seal.Magic) + 8 + 4 + 12
	// Every header byte, and a spread of chunk bytes.
	offs := []int{}
	for i := range hdr {
		offs = append(offs, i)
	}
	for i := hdr; i < len(sealed); i += 997 {
		offs = append(offs, i)
	}
	offs = append(offs, len(sealed)-1)
	for _, off := range offs {
		bad := bytes.Clone(sealed)
		bad[off] ^= 0x01
		err := readAll(bad, kr)
		if !errors.Is(err, seal.ErrAuth) && !errors.Is(err, seal.ErrFormat) && !errors.Is(err, seal.ErrUnknownKey) {
			t.Fatalf("byte %d flipped: err %v, want a typed error", off, err)
		}
	}
}

func TestTruncateReorderWrongKey(t *testing.T) {
	k := newKey(t)
	kr := seal.NewKeyring(k)
	plain := randomBytes(3 * seal.ChunkSize)
	sealed := sealBytes(t, k, plain)
	const hdr = len(seal.Magic) + 8 + 4 + 12
	const chunk = seal.ChunkSize + 16
	swapped := bytes.Clone(sealed)
	copy(swapped[hdr:], sealed[hdr+chunk:hdr+2*chunk])
	copy(swapped[hdr+chunk:], sealed[hdr:hdr+chunk])
	other := newKey(t)
	// Header claims another key: the header is authenticated with every chunk.
	forged := bytes.Clone(sealed)
	otherSealed := sealBytes(t, other, nil)
	copy(forged[len(seal.Magic):], otherSealed[len(seal.Magic):len(seal.Magic)+8])
	for _, tc := range []struct {
		name string
		data []byte
		kr   *seal.Keyring
		want error
	}{
		{"cut at a chunk boundary", sealed[:hdr+2*chunk], kr, seal.ErrTruncated},
		{"cut inside a chunk", sealed[:hdr+chunk+100], kr, seal.ErrAuth},
		{"cut inside a tag", sealed[:hdr+chunk+5], kr, seal.ErrTruncated},
		{"header only", sealed[:hdr], kr, seal.ErrTruncated},
		{"cut header", sealed[:hdr-1], kr, seal.ErrFormat},
		{"not sealed", []byte("RIFF....WAVEfmt " + string(make([]byte, 40))), kr, seal.ErrFormat},
		{"chunks swapped", swapped, kr, seal.ErrAuth},
		{"wrong key", sealed, seal.NewKeyring(other), seal.ErrUnknownKey},
		{"forged key id", forged, seal.NewKeyring(other, k), seal.ErrAuth},
		{"old key opens", sealed, seal.NewKeyring(other, k), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readAll(tc.data, tc.kr)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var ke *seal.KeyError
			if errors.Is(tc.want, seal.ErrUnknownKey) && (!errors.As(err, &ke) || ke.ID != k.ID()) {
				t.Fatalf("err %v does not name key %s", err, k.ID())
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	raw := randomBytes(seal.KeySize)
	want, err := seal.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"raw", string(raw), true},
		{"hex", hex.EncodeToString(raw) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"base64 url, unpadded", base64.RawURLEncoding.EncodeToString(raw), true},
		{"short", "abc", false},
		{"33 raw bytes", string(randomBytes(33)), false},
		{"hex of 31 bytes", hex.EncodeToString(raw[:31]), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := seal.ParseKey([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("err %v", err)
			}
			if err != nil && !errors.Is(err, seal.ErrKey) {
				t.Fatalf("err %v, want ErrKey", err)
			}
			if tc.ok && k.ID() != want.ID() {
				t.Fatal("a different key")
			}
		})
	}
}

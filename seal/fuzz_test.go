package seal_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cuecard/cuecard/seal"
)

// FuzzReader feeds arbitrary files to the decoder: it must fail with a
// typed error or return the plaintext, never panic.
func FuzzReader(f *testing.F) {
	raw := bytes.Repeat([]byte{7}, seal.KeySize)
	k, err := seal.NewKey(raw)
	if err != nil {
		f.Fatal(err)
	}
	kr := seal.NewKeyring(k)
	for _, n := range []int{0, 1, 100, seal.ChunkSize + 3} {
		var buf bytes.Buffer
		if _, err := seal.Encrypt(&buf, bytes.NewReader(make([]byte, n)), k); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(seal.Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := seal.NewReader(bytes.NewReader(data), int64(len(data)), kr)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err != nil && !errors.Is(err, seal.ErrFormat) && !errors.Is(err, seal.ErrAuth) &&
			!errors.Is(err, seal.ErrTruncated) && !errors.Is(err, seal.ErrUnknownKey) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

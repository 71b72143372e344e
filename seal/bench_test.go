package seal_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/cuecard/cuecard/seal"
)

// benchSize is about 2 minutes of a 16 kHz 16-bit mono recording.
const benchSize = 4 << 20

func BenchmarkEncrypt(b *testing.B) {
	k := newKey(b)
	plain := randomBytes(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Encrypt(io.Discard, bytes.NewReader(plain), k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	k := newKey(b)
	kr := seal.NewKeyring(k)
	sealed := sealBytes(b, k, randomBytes(benchSize))
	buf := make([]byte, 32<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := open(sealed, kr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

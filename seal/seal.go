// Package seal encrypts recordings at rest in a chunked AES-256-GCM
// format that can be read from any offset.
//
// A sealed file is a header, then the plaintext in ChunkSize chunks, each
// sealed on its own. The header is the magic "CCENC1", the key id (the
// first 8 bytes of the key's SHA-256), the chunk size (uint32, big
// endian) and a random 12-byte base nonce. Chunk i is sealed with the
// nonce base XOR i (in the last 8 bytes, big endian) and, as additional
// data, the header, i (uint64, big endian) and a byte that is 1 for the
// last chunk and 0 otherwise; so a chunk moved, dropped or taken from
// another file fails authentication, and so does a file cut at a chunk
// boundary. Every file has at least one chunk (an empty plaintext is one
// empty final chunk). The plaintext size follows from the file size.
//
// The package imports nothing of ours.
package seal

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic starts every sealed file.
const Magic = "CCENC1"

// ChunkSize is how much plaintext one chunk holds.
const ChunkSize = 64 << 10

const (
	nonceSize  = 12
	tagSize    = 16
	headerSize = len(Magic) + idSize + 4 + nonceSize
	sealedSize = ChunkSize + tagSize
)

// header is a sealed file's header, as read.
type header struct {
	raw   [headerSize]byte
	id    [idSize]byte
	nonce [nonceSize]byte
}

func newHeader(k *Key) (header, error) {
	var h header
	h.id = k.id
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return h, fmt.Errorf("seal: nonce: %w", err)
	}
	b := h.raw[:0]
	b = append(b, Magic...)
	b = append(b, h.id[:]...)
	b = binary.BigEndian.AppendUint32(b, ChunkSize)
	_ = append(b, h.nonce[:]...)
	return h, nil
}

// parseHeader decodes a header; it fails with ErrFormat.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize || string(b[:len(Magic)]) != Magic {
		return h, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	copy(h.raw[:], b)
	p := b[len(Magic):]
	copy(h.id[:], p)
	p = p[idSize:]
	if cs := binary.BigEndian.Uint32(p); cs != ChunkSize {
		return h, fmt.Errorf("%w: chunk size %d", ErrFormat, cs)
	}
	copy(h.nonce[:], p[4:])
	return h, nil
}

// nonceAAD returns chunk i's nonce and additional data.
func (h *header) nonceAAD(i uint64, final bool, aad []byte) ([nonceSize]byte, []byte) {
	n := h.nonce
	for j := range 8 {
		n[nonceSize-1-j] ^= byte(i >> (8 * j))
	}
	aad = append(aad[:0], h.raw[:]...)
	aad = binary.BigEndian.AppendUint64(aad, i)
	f := byte(0)
	if final {
		f = 1
	}
	return n, append(aad, f)
}

// Encrypt reads r to its end and writes it to w sealed with k. It
// returns the number of bytes written; on failure w holds a partial file
// that does not open.
func Encrypt(w io.Writer, r io.Reader, k *Key) (int64, error) {
	h, err := newHeader(k)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(h.raw[:])
	written := int64(n)
	if err != nil {
		return written, err
	}
	br := bufio.NewReaderSize(r, ChunkSize)
	plain := make([]byte, ChunkSize)
	out := make([]byte, 0, sealedSize)
	var aad []byte
	for i := uint64(0); ; i++ {
		m, err := io.ReadFull(br, plain)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return written, err
		}
		final := m < ChunkSize
		if !final {
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				final = true
			} else if perr != nil {
				return written, perr
			}
		}
		nonce, a := h.nonceAAD(i, final, aad)
		aad = a
		out = k.aead.Seal(out[:0], nonce[:], plain[:m], aad)
		n, err := w.Write(out)
		written += int64(n)
		if err != nil {
			return written, err
		}
		if final {
			return written, nil
		}
	}
}

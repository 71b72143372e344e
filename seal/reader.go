package seal

import (
	"errors"
	"fmt"
	"io"
)

// Reader decrypts a sealed file on demand, one chunk at a time, so that
// it can be served from any offset (http.ServeContent with Range). It is
// not safe for concurrent use.
type Reader struct {
	ra     io.ReaderAt
	h      header
	key    *Key
	chunks int64 // number of chunks, at least 1
	last   int64 // plaintext bytes of the last chunk
	size   int64 // plaintext size
	off    int64 // read offset in the plaintext

	cur   int64 // index of the chunk in plain; -1 for none
	plain []byte
	buf   []byte
	aad   []byte
}

// NewReader opens the sealed file of size bytes in ra with the key of
// kr its header names (a nil kr has no keys). It checks the header and the final chunk, so a
// truncated file fails here and not in the middle of a response. It fails
// with ErrFormat, ErrTruncated, ErrAuth or a *KeyError (ErrUnknownKey).
func NewReader(ra io.ReaderAt, size int64, kr *Keyring) (*Reader, error) {
	var hb [headerSize]byte
	if size < int64(headerSize) {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, size)
	}
	if _, err := ra.ReadAt(hb[:], 0); err != nil {
		return nil, fmt.Errorf("seal: read header: %w", err)
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	k, err := kr.key(h.id)
	if err != nil {
		return nil, err
	}
	body := size - int64(headerSize)
	r := &Reader{ra: ra, h: h, key: k, cur: -1, plain: make([]byte, 0, ChunkSize), buf: make([]byte, sealedSize)}
	r.chunks, r.last = body/sealedSize, ChunkSize
	if rem := body % sealedSize; rem != 0 {
		if rem < tagSize {
			return nil, fmt.Errorf("%w: %d bytes after the last chunk", ErrTruncated, rem)
		}
		r.chunks++
		r.last = rem - tagSize
	}
	if r.chunks == 0 {
		return nil, fmt.Errorf("%w: no chunks", ErrTruncated)
	}
	r.size = (r.chunks-1)*ChunkSize + r.last
	if err := r.load(r.chunks - 1); err != nil {
		return nil, err
	}
	return r, nil
}

// KeyID returns the id of the key the file was sealed with.
func (r *Reader) KeyID() string { return r.key.ID() }

// Size returns the plaintext size.
func (r *Reader) Size() int64 { return r.size }

// load decrypts chunk i into r.plain. A chunk that does not authenticate
// as chunk i (final if it is the last) fails with ErrAuth; as the last
// chunk it may also be a cut file (ErrTruncated).
func (r *Reader) load(i int64) error {
	if r.cur == i {
		return nil
	}
	r.cur = -1
	n := int64(sealedSize)
	final := i == r.chunks-1
	if final {
		n = r.last + tagSize
	}
	in := r.buf[:n]
	if _, err := r.ra.ReadAt(in, int64(headerSize)+i*sealedSize); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: chunk %d", ErrTruncated, i)
		}
		return fmt.Errorf("seal: read chunk %d: %w", i, err)
	}
	nonce, aad := r.h.nonceAAD(uint64(i), final, r.aad)
	r.aad = aad
	out, err := r.key.aead.Open(r.plain[:0], nonce[:], in, aad)
	if err != nil {
		if final && r.last == ChunkSize {
			// A file cut at a chunk boundary ends in a chunk not sealed
			// as final.
			if _, err2 := r.key.aead.Open(r.plain[:0], nonce[:], in, r.notFinal(i)); err2 == nil {
				return fmt.Errorf("%w: chunk %d is not the last", ErrTruncated, i)
			}
		}
		return fmt.Errorf("%w: chunk %d", ErrAuth, i)
	}
	r.plain, r.cur = out, i
	return nil
}

func (r *Reader) notFinal(i int64) []byte {
	_, aad := r.h.nonceAAD(uint64(i), false, nil)
	return aad
}

// Read reads decrypted bytes from the current offset.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.size {
		i := r.off / ChunkSize
		if err := r.load(i); err != nil {
			return n, err
		}
		c := copy(p[n:], r.plain[r.off-i*ChunkSize:])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

// Seek sets the plaintext offset (io.Seeker); seeking past the end is
// allowed and reads io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("seal: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seal: negative position")
	}
	r.off = offset
	return offset, nil
}

var _ io.ReadSeeker = (*Reader)(nil)

package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
)

// KeySize is the size of a recording key: AES-256.
const KeySize = 32

// idSize is the size of a key id: the first bytes of the key's SHA-256.
const idSize = 8

// Key is one AES-256-GCM recording key and its id.
type Key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// NewKey returns the key of 32 raw bytes, or an error wrapping ErrKey.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w (got %d bytes)", ErrKey, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Key{aead: aead}
	sum := sha256.Sum256(raw)
	copy(k.id[:], sum[:])
	return k, nil
}

// ParseKey returns the key in data: 32 raw bytes, or 64 hex digits, or
// standard or URL base64, with surrounding white space ignored in the
// encoded forms. Anything else is an error wrapping ErrKey.
func ParseKey(data []byte) (*Key, error) {
	if len(data) == KeySize {
		return NewKey(data)
	}
	s := string(bytes.TrimSpace(data))
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return NewKey(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return NewKey(b)
		}
	}
	return nil, fmt.Errorf("%w (got %d bytes that are neither)", ErrKey, len(data))
}

// ReadKeyFile reads and parses the key file at path (see ParseKey); the
// error names the file.
func ReadKeyFile(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recording key: %w", err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("recording key %s: %w", path, err)
	}
	return k, nil
}

// ID returns the key's id in hex, as stored in the header of every file
// sealed with it; it identifies the key without revealing it.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Keyring is the current key, which seals, and older keys, which still
// open the files sealed with them.
type Keyring struct {
	cur  *Key
	byID map[[idSize]byte]*Key
}

// NewKeyring returns a keyring sealing with current and opening files of
// current and old.
func NewKeyring(current *Key, old ...*Key) *Keyring {
	kr := &Keyring{cur: current, byID: map[[idSize]byte]*Key{current.id: current}}
	for _, k := range old {
		if _, ok := kr.byID[k.id]; !ok {
			kr.byID[k.id] = k
		}
	}
	return kr
}

// Current returns the key that seals.
func (kr *Keyring) Current() *Key { return kr.cur }

func (kr *Keyring) key(id [idSize]byte) (*Key, error) {
	if kr == nil {
		return nil, &KeyError{ID: hex.EncodeToString(id[:])}
	}
	if k, ok := kr.byID[id]; ok {
		return k, nil
	}
	return nil, &KeyError{ID: hex.EncodeToString(id[:])}
}

package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id costs of a password hash.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams are the costs HashPassword is called with:
// 64 MiB, two passes, one lane (RFC 9106's second recommended option).
var DefaultPasswordParams = PasswordParams{Memory: 64 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// The bounds a hash must keep to be checked. A stored hash is input too:
// a hostile or corrupt row must not make CheckPassword allocate more than
// 2 GiB or run for long.
const (
	minPassword = 10
	maxPassword = 1024
	maxMemory   = 1 << 21 // KiB
	maxTime     = 10
	maxThreads  = 16
	minSalt     = 8
	maxSalt     = 64
	minKey      = 16
	maxKey      = 64
	// maxHashLen exceeds the longest hash within the bounds above.
	maxHashLen = 256
)

// b64 is the PHC string's base64: standard alphabet, no padding, and
// strict, so each salt and key has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// HashPassword returns pw's argon2id hash as a PHC string
// ("$argon2id$v=19$m=65536,t=2,p=1$<salt>$<key>") with a fresh random
// salt. It returns ErrWeakPassword when pw is shorter than 10 bytes or
// longer than 1024, and an error when p is outside the bounds
// CheckPassword accepts.
func HashPassword(pw string, p PasswordParams) (string, error) {
	if len(pw) < minPassword || len(pw) > maxPassword {
		return "", ErrWeakPassword
	}
	if err := p.check(); err != nil {
		return "", fmt.Errorf("password params: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodeHash(p, salt, key), nil
}

// CheckPassword reports whether pw is the password hash was made from,
// comparing in constant time. It returns ErrBadHash, without hashing,
// when hash is malformed or outside the bounds: memory at most 2 GiB,
// 1 to 10 passes, 1 to 16 lanes, a salt of 8 to 64 bytes and a key of 16
// to 64.
func CheckPassword(hash, pw string) (bool, error) {
	h, err := decodeHash(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > maxPassword {
		// HashPassword never hashed it; do not spend time on it either.
		return false, nil
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// check reports whether p is within the bounds a hash must keep.
func (p PasswordParams) check() error {
	switch {
	case p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB is over %d", p.Memory, maxMemory)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d is not 1 to %d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads):
		// RFC 9106: at least 8 KiB per lane.
		return fmt.Errorf("memory %d KiB is under 8 per thread", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d is not 1 to %d", p.Time, maxTime)
	case p.SaltLen < minSalt || p.SaltLen > maxSalt:
		return fmt.Errorf("salt length %d is not %d to %d", p.SaltLen, minSalt, maxSalt)
	case p.KeyLen < minKey || p.KeyLen > maxKey:
		return fmt.Errorf("key length %d is not %d to %d", p.KeyLen, minKey, maxKey)
	}
	return nil
}

// passwordHash is a parsed PHC string.
type passwordHash struct {
	params    PasswordParams
	salt, key []byte
}

func encodeHash(p PasswordParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses an argon2id PHC string strictly: the fields in order,
// decimal numbers without signs or leading zeros, canonical base64, and
// every cost within bounds before anything is allocated for it.
func decodeHash(s string) (passwordHash, error) {
	var h passwordHash
	if len(s) > maxHashLen {
		return h, fmt.Errorf("%w: longer than %d bytes", ErrBadHash, maxHashLen)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v=19" {
		return h, fmt.Errorf("%w: not an argon2id v=19 PHC string", ErrBadHash)
	}
	p, err := parseCosts(f[3])
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	p.SaltLen = uint32(b64.DecodedLen(len(f[4])))
	p.KeyLen = uint32(b64.DecodedLen(len(f[5])))
	if err := p.check(); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	if h.salt, err = decodeB64(f[4]); err != nil {
		return h, fmt.Errorf("%w: salt: %w", ErrBadHash, err)
	}
	if h.key, err = decodeB64(f[5]); err != nil {
		return h, fmt.Errorf("%w: key: %w", ErrBadHash, err)
	}
	h.params = p
	return h, nil
}

// parseCosts reads "m=<memory>,t=<time>,p=<threads>".
func parseCosts(s string) (PasswordParams, error) {
	var p PasswordParams
	m, rest, ok1 := strings.Cut(s, ",")
	t, par, ok2 := strings.Cut(rest, ",")
	mem, err1 := parseField(m, "m=", maxMemory)
	tm, err2 := parseField(t, "t=", maxTime)
	th, err3 := parseField(par, "p=", maxThreads)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
		return p, fmt.Errorf("costs %q are not m=<KiB>,t=<passes>,p=<lanes> within bounds", s)
	}
	p.Memory, p.Time, p.Threads = mem, tm, uint8(th)
	return p, nil
}

// parseField reads name followed by a decimal number no greater than max,
// written without sign or leading zeros.
func parseField(s, name string, limit uint32) (uint32, error) {
	d, ok := strings.CutPrefix(s, name)
	if !ok || d == "" || len(d) > 10 || (d[0] == '0' && len(d) > 1) {
		return 0, fmt.Errorf("field %q", s)
	}
	for _, c := range []byte(d) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("field %q", s)
		}
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, fmt.Errorf("field %q", s)
	}
	return uint32(n), nil
}

// decodeB64 decodes canonical unpadded standard base64; the decoder
// alone would skip newlines.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("line break in base64")
	}
	return b64.DecodeString(s)
}

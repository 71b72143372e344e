package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Token is an API token: the id names its row in the store, the secret is
// known only to its holder (the store keeps HashSecret(Secret)).
type Token struct {
	ID     string
	Secret string
}

// The parts of a token: "cc_" + 16 lowercase base32 characters (10 random
// bytes) + "_" + 43 base64url characters (32 random bytes).
const (
	tokenPrefix = "cc_"
	idBytes     = 10
	idLen       = 16
	secretBytes = 32
	secretLen   = 43
	tokenLen    = len(tokenPrefix) + idLen + 1 + secretLen
)

const base32Lower = "abcdefghijklmnopqrstuvwxyz234567"

var (
	idEncoding  = base32.NewEncoding(base32Lower).WithPadding(base32.NoPadding)
	urlEncoding = base64.RawURLEncoding.Strict()
)

// plain returns the token as its holder writes it. It is not String:
// printing a Token must not print its secret by accident.
func (t Token) plain() string { return tokenPrefix + t.ID + "_" + t.Secret }

// NewToken returns a fresh random token and its plain form, which is shown
// to the user once and never stored.
func NewToken() (plain string, t Token, err error) {
	id := make([]byte, idBytes)
	if _, err := rand.Read(id); err != nil {
		return "", Token{}, fmt.Errorf("token id: %w", err)
	}
	secret, err := RandomString()
	if err != nil {
		return "", Token{}, fmt.Errorf("token secret: %w", err)
	}
	t = Token{ID: idEncoding.EncodeToString(id), Secret: secret}
	return t.plain(), t, nil
}

// ParseToken splits a token into its id and secret. It returns ErrBadToken
// unless s is exactly what NewToken makes: the prefix, the lengths, the
// alphabets and a canonical secret.
func ParseToken(s string) (Token, error) {
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) || s[len(tokenPrefix)+idLen] != '_' {
		return Token{}, ErrBadToken
	}
	id := s[len(tokenPrefix) : len(tokenPrefix)+idLen]
	secret := s[len(tokenPrefix)+idLen+1:]
	if !allIn(id, isBase32Lower) || !allIn(secret, isBase64URL) {
		return Token{}, ErrBadToken
	}
	// The last character carries two unused bits, which must be zero.
	if b, err := urlEncoding.DecodeString(secret); err != nil || len(b) != secretBytes {
		return Token{}, ErrBadToken
	}
	return Token{ID: id, Secret: secret}, nil
}

// HashSecret returns the hex SHA-256 of a token's secret, which the store
// keeps. A fast hash is right: the secret is 256 random bits, not a
// password.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports whether hash is HashSecret(secret), comparing in
// constant time.
func SecretMatches(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}

// RandomString returns 32 random bytes as 43 characters of unpadded
// base64url, for setup links, ingest tokens and OIDC state and nonce.
func RandomString() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random string: %w", err)
	}
	return urlEncoding.EncodeToString(b), nil
}

func allIn(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase32Lower(c byte) bool { return ('a' <= c && c <= 'z') || ('2' <= c && c <= '7') }

func isBase64URL(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_'
}

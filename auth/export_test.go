package auth

// DecodeHash parses a PHC string as CheckPassword does and returns its
// parts.
func DecodeHash(s string) (p PasswordParams, salt, key []byte, err error) {
	h, err := decodeHash(s)
	return h.params, h.salt, h.key, err
}

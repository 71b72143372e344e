package auth_test

import (
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
)

func TestTURNCredential(t *testing.T) {
	now := time.Unix(1700000000, 0)
	user, pw := auth.TURNCredential("north-turn-secret", "alice", 24*time.Hour, now)
	// printf %s 1700086400:alice | openssl dgst -sha1 -hmac north-turn-secret -binary | base64
	if user != "1700086400:alice" || pw != "s10DYljgT6iiuI1tSAubnmHni6s=" {
		t.Errorf("TURNCredential = %q, %q", user, pw)
	}
	// printf %s 1700000000:alice | openssl dgst -sha1 -hmac north-turn-secret -binary | base64
	if user, pw := auth.TURNCredential("north-turn-secret", "alice", 0, now.Add(999*time.Millisecond)); user != "1700000000:alice" || pw != "ms/KwPgqxwhpdflis6Yuv1XjyTA=" {
		t.Errorf("TURNCredential with no ttl = %q, %q", user, pw)
	}
	if _, pw2 := auth.TURNCredential("south-turn-secret", "alice", 24*time.Hour, now); pw2 == pw {
		t.Error("the password does not depend on the secret")
	}
}

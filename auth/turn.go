package auth

import (
	"crypto/hmac"
	"crypto/sha1" // HMAC-SHA1 is what the TURN REST API specifies.
	"encoding/base64"
	"strconv"
	"time"
)

// TURNCredential returns a TURN username and password for user that a
// TURN server sharing secret accepts until now+ttl (the TURN REST API of
// draft-uberti-behave-turn-rest, coturn's use-auth-secret): the username
// is "<unix expiry>:<user>" and the password the standard base64 of
// HMAC-SHA1(secret, username).
func TURNCredential(secret, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

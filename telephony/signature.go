package telephony

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs with HMAC-SHA1; we must check what it sends.
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// TwilioSignature returns the X-Twilio-Signature of a request to url (the
// URL exactly as Twilio dialed it, scheme, host, path and query): the
// base64 HMAC-SHA1 of the URL keyed with the account's auth token. A
// WebSocket upgrade has no body, so no form parameters are appended. See
// https://www.twilio.com/docs/usage/security#validating-requests.
func TwilioSignature(authToken, url string) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(url))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyTwilio checks the X-Twilio-Signature header of an upgrade request
// to url in constant time; ErrBadSignature if it is missing or wrong.
func VerifyTwilio(h http.Header, authToken, url string) error {
	got := h.Get("X-Twilio-Signature")
	if got == "" || !equal(got, TwilioSignature(authToken, url)) {
		return ErrBadSignature
	}
	return nil
}

// PlivoSignatureV3 returns Plivo's X-Plivo-Signature-V3 of a GET request
// (a WebSocket upgrade) to url with nonce: the base64 HMAC-SHA256, keyed
// with the account's auth token, of the URL, a dot and the nonce. See
// https://www.plivo.com/docs/voice/xml/request/validation.
func PlivoSignatureV3(authToken, url, nonce string) string {
	mac := hmac.New(sha256.New, []byte(authToken))
	mac.Write([]byte(url + "." + nonce))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyPlivo checks the X-Plivo-Signature-V3 header (one signature, or
// several separated by commas while a token is rotated) with the
// X-Plivo-Signature-V3-Nonce of an upgrade request to url, in constant
// time; ErrBadSignature if none matches.
func VerifyPlivo(h http.Header, authToken, url string) error {
	nonce := h.Get("X-Plivo-Signature-V3-Nonce")
	sigs := h.Get("X-Plivo-Signature-V3")
	if nonce == "" || sigs == "" {
		return ErrBadSignature
	}
	want := PlivoSignatureV3(authToken, url, nonce)
	ok := false
	for _, s := range strings.Split(sigs, ",") {
		if equal(strings.TrimSpace(s), want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// VerifyBearer checks that the request carries "Authorization: Bearer
// token" in constant time, as Telnyx sends the stream_auth_token of the
// streaming command; ErrBadSignature otherwise.
func VerifyBearer(h http.Header, token string) error {
	scheme, got, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !equal(strings.TrimSpace(got), token) {
		return ErrBadSignature
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

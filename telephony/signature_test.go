package telephony_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/cuecard/cuecard/telephony"
)

// TestTwilioSignatureKnown checks the HMAC against Twilio's published
// example: auth token 12345, URL https://mycompany.com/myapp.php?foo=1&bar=2
// and its POST parameters concatenated (see Twilio's "Validating
// requests" page), whose signature is 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
func TestTwilioSignatureKnown(t *testing.T) {
	url := "https://mycompany.com/myapp.php?foo=1&bar=2" +
		"CallSidCA1234567890ABCDE" + "Caller+12349013030" + "Digits1234" + "From+12349013030" + "To+18005551212"
	if got := telephony.TwilioSignature("12345", url); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Fatalf("signature %s", got)
	}
}

func TestVerify(t *testing.T) {
	const url = "wss://cuecard.example.com/v1/telephony/twilio?x=1"
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	good := telephony.TwilioSignature("tok", url)
	plivo := telephony.PlivoSignatureV3("ptok", url, "n1")
	cases := []struct {
		name string
		err  error
		ok   bool
	}{
		{"twilio good", telephony.VerifyTwilio(h("X-Twilio-Signature", good), "tok", url), true},
		{"twilio missing", telephony.VerifyTwilio(h(), "tok", url), false},
		{"twilio other token", telephony.VerifyTwilio(h("X-Twilio-Signature", good), "other", url), false},
		{"twilio other scheme", telephony.VerifyTwilio(h("X-Twilio-Signature", good), "tok", "ws://cuecard.example.com/v1/telephony/twilio?x=1"), false},
		{"twilio other query", telephony.VerifyTwilio(h("X-Twilio-Signature", good), "tok", url+"&y=2"), false},
		{"plivo good", telephony.VerifyPlivo(h("X-Plivo-Signature-V3", plivo, "X-Plivo-Signature-V3-Nonce", "n1"), "ptok", url), true},
		{"plivo rotated", telephony.VerifyPlivo(h("X-Plivo-Signature-V3", "old, "+plivo, "X-Plivo-Signature-V3-Nonce", "n1"), "ptok", url), true},
		{"plivo other nonce", telephony.VerifyPlivo(h("X-Plivo-Signature-V3", plivo, "X-Plivo-Signature-V3-Nonce", "n2"), "ptok", url), false},
		{"plivo no nonce", telephony.VerifyPlivo(h("X-Plivo-Signature-V3", plivo), "ptok", url), false},
		{"bearer good", telephony.VerifyBearer(h("Authorization", "Bearer s3cret"), "s3cret"), true},
		{"bearer wrong", telephony.VerifyBearer(h("Authorization", "Bearer s3cre"), "s3cret"), false},
		{"bearer basic", telephony.VerifyBearer(h("Authorization", "Basic s3cret"), "s3cret"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ok != (c.err == nil) || (c.err != nil && !errors.Is(c.err, telephony.ErrBadSignature)) {
				t.Fatalf("err %v, want ok=%v", c.err, c.ok)
			}
		})
	}
}

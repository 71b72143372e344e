package main

import (
	"io"
	"testing"

	"github.com/cuecard/cuecard/telephony"
)

func TestServeTelephonyFlags(t *testing.T) {
	t.Setenv("TWILIO_AUTH_TOKEN", "tw-env")
	t.Setenv("PLIVO_AUTH_TOKEN", "pl-env")
	t.Setenv("TELNYX_STREAM_TOKEN", "")
	m := newServeMain(io.Discard, io.Discard)
	err := m.ParseFlags([]string{"--asr", "none", "--plivo-auth-token", "pl-flag", "--telnyx-rep-track", "outbound"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tc := m.telephony
	if tc.TwilioAuthToken != "tw-env" || tc.PlivoAuthToken != "pl-flag" || tc.TelnyxStreamToken != "" {
		t.Errorf("tokens %q %q %q: the flag wins over the environment", tc.TwilioAuthToken, tc.PlivoAuthToken, tc.TelnyxStreamToken)
	}
	if tc.RepTrack[telephony.Twilio] != telephony.Inbound || tc.RepTrack[telephony.Telnyx] != telephony.Outbound || tc.RepTrack[telephony.Plivo] != telephony.Inbound {
		t.Errorf("rep tracks %v", tc.RepTrack)
	}
	if err := newServeMain(io.Discard, io.Discard).ParseFlags([]string{"--asr", "none", "--twilio-rep-track", "both"}, io.Discard); err == nil {
		t.Error("--twilio-rep-track both accepted")
	}
}

package main

import (
	"flag"
	"os"

	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/telephony"
)

// telephonyFlags are the flags of the dialer media-stream routes.
type telephonyFlags struct {
	twilioToken, telnyxToken, plivoToken string
	repTrack                             [3]string // by provider, Twilio first
}

func (f *telephonyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.twilioToken, "twilio-auth-token", "", "Twilio account auth token: checks X-Twilio-Signature on /v1/telephony/twilio (default: $TWILIO_AUTH_TOKEN)")
	fs.StringVar(&f.telnyxToken, "telnyx-stream-token", "", "the stream_auth_token given to Telnyx's streaming command, required as a Bearer token on /v1/telephony/telnyx (default: $TELNYX_STREAM_TOKEN)")
	fs.StringVar(&f.plivoToken, "plivo-auth-token", "", "Plivo account auth token: checks X-Plivo-Signature-V3 on /v1/telephony/plivo (default: $PLIVO_AUTH_TOKEN)")
	for i, p := range telephony.Providers {
		fs.StringVar(&f.repTrack[i], p.String()+"-rep-track", server.DefaultRepTrack.String(),
			"the "+p.String()+" track that carries the rep's voice, inbound or outbound (a stream's rep_track parameter overrides it)")
	}
}

// config checks the flags and returns the server's telephony settings.
func (f *telephonyFlags) config() (server.Telephony, error) {
	t := server.Telephony{TwilioAuthToken: f.twilioToken, TelnyxStreamToken: f.telnyxToken, PlivoAuthToken: f.plivoToken,
		RepTrack: map[telephony.Provider]telephony.Track{}}
	for env, v := range map[string]*string{"TWILIO_AUTH_TOKEN": &t.TwilioAuthToken, "TELNYX_STREAM_TOKEN": &t.TelnyxStreamToken, "PLIVO_AUTH_TOKEN": &t.PlivoAuthToken} {
		if *v == "" {
			*v = os.Getenv(env)
		}
	}
	for i, p := range telephony.Providers {
		tr := telephony.ParseTrack(f.repTrack[i])
		if tr == telephony.NoTrack {
			return t, usagef("--%s-rep-track %q: want inbound or outbound", p, f.repTrack[i])
		}
		t.RepTrack[p] = tr
	}
	return t, nil
}

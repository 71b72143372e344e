package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/siprec"
)

// siprecFlags configure the SIPREC recording server.
type siprecFlags struct {
	addr, mediaIP, consent string
	domains, users, reps   stringList
	srs                    *siprec.Server
	done                   chan error
}

func (f *siprecFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "siprec-addr", "", "run a SIPREC recording server (RFC 7866) on this host:port, UDP and TCP (default: off)")
	fs.StringVar(&f.mediaIP, "siprec-media-ip", "", "IP address of the SIPREC RTP ports, as given in SDP answers (default: the --siprec-addr host)")
	fs.Var(&f.domains, "siprec-rep-domain", "a recorded participant whose SIP address is in this domain is the rep (repeatable)")
	fs.Var(&f.users, "siprec-rep-user", "a recorded participant with this SIP address (user@domain) is the rep (repeatable)")
	fs.Var(&f.reps, "siprec-rep", "AOR=EMAIL: the rep with this SIP address is this cuecard user (repeatable; default: the address is the email)")
	fs.StringVar(&f.consent, "siprec-consent", "", "what the callers of recorded calls were told (default: the rep's team's consent text)")
}

// start binds the SIPREC server and serves it on a goroutine that stop
// waits for; without --siprec-addr it does nothing.
func (f *siprecFlags) start(srv *server.Server, m *serveMain) error {
	if f.addr == "" {
		return nil
	}
	reps := map[string]string{}
	for _, r := range f.reps {
		aor, email, ok := strings.Cut(r, "=")
		if !ok || aor == "" || email == "" {
			return fmt.Errorf("--siprec-rep %q: want AOR=EMAIL", r)
		}
		reps[aor] = email
		f.users = append(f.users, aor)
	}
	cfg := siprec.DefaultConfig()
	cfg.Addr, cfg.MediaIP, cfg.RepDomains, cfg.RepUsers = f.addr, f.mediaIP, f.domains, f.users
	sink := srv.SIPRECSink(server.SIPRECConfig{Reps: reps, ConsentText: f.consent})
	var err error
	if f.srs, err = siprec.New(cfg, sink, m.log); err != nil {
		return err
	}
	f.done = make(chan error, 1)
	go func() { f.done <- f.srs.Serve() }()
	fmt.Fprintf(m.stdout, "SIPREC recording server on %s (UDP and TCP)\n", f.srs.Addr())
	return nil
}

// stop ends the recorded calls and waits for the server.
func (f *siprecFlags) stop() error {
	if f.srs == nil {
		return nil
	}
	err := f.srs.Close()
	if serr := <-f.done; err == nil {
		err = serr
	}
	f.srs = nil
	return err
}

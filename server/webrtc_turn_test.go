package server_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API's MAC
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
)

// turnServer runs a TURN server on loopback that takes TURN REST API
// credentials made with secret (as coturn's use-auth-secret does), and
// returns its URL and the user ids it granted a relay to.
func turnServer(t *testing.T, secret string) (string, <-chan string) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	allocated := make(chan string, 16)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       "cuecard.test",
		AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, nil),
		QuotaHandler: func(user, _ string, _ net.Addr) bool {
			select {
			case allocated <- user:
			default:
			}
			return true
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("turn:%s?transport=udp", conn.LocalAddr()), allocated
}

// checkTURNCredential fails unless name and cred are TURN REST API
// credentials for user made with secret, expiring between from and to.
func checkTURNCredential(t *testing.T, secret, user, name, cred string, from, to time.Time) {
	t.Helper()
	exp, who, ok := strings.Cut(name, ":")
	sec, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || who != user {
		t.Fatalf("TURN username %q: want <unix expiry>:%s", name, user)
	}
	if at := time.Unix(sec, 0); at.Before(from.Truncate(time.Second)) || at.After(to) {
		t.Fatalf("TURN credential expires at %v, want between %v and %v", at, from, to)
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(name))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); cred != want {
		t.Fatalf("TURN credential %q for %q, want the HMAC %q", cred, name, want)
	}
}

// linkRE reads a WHIP ice-server Link header.
var linkRE = regexp.MustCompile(`^<([^>]+)>; rel="ice-server"; username="([^"]*)"; credential="([^"]*)"; credential-type="password"$`)

// TestWebRTCTURNCredentials checks that with a TURN secret the session's
// owner, and only they, get short-lived TURN REST API credentials: from
// the ICE servers endpoint before offering and in the answer's Link
// header; and that the server's own peer gets a relay with them from a
// real TURN server.
func TestWebRTCTURNCredentials(t *testing.T) {
	const secret, ttl = "the TURN server's shared secret", 10 * time.Minute
	turnURL, allocated := turnServer(t, secret)
	ts, _ := newRTCServer(t, func(c *server.WebRTCConfig) {
		c.TURN, c.TURNSecret, c.TURNTTL = []string{turnURL}, secret, ttl
		c.DrainTimeout = 100 * time.Millisecond // the peer never connects
	})
	id := rtcSession(t, ts)
	owner := ts.st.Admin.ID
	iceURL := ts.ts.URL + "/v1/sessions/" + id + "/ice-servers"

	resp, err := http.Get(iceURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "turn:") {
		t.Fatalf("anonymous ICE servers: %d %s, want 401 without them", resp.StatusCode, b)
	}

	from := time.Now().Add(ttl)
	resp, err = ts.st.HTTP.Get(iceURL)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ICEServers []struct {
			URLs                 []string
			Username, Credential string
		} `json:"ice_servers"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(got.ICEServers) != 1 || got.ICEServers[0].URLs[0] != turnURL {
		t.Fatalf("ICE servers: %d %+v %v", resp.StatusCode, got, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("ICE servers Cache-Control %q, want no-store", cc)
	}
	is := got.ICEServers[0]
	checkTURNCredential(t, secret, owner, is.Username, is.Credential, from, time.Now().Add(ttl))

	from = time.Now().Add(ttl)
	c := newRTCClient(t, coach.Rep, coach.Prospect)
	ans, answer := postOffer(t, ts, id, "application/sdp", c.offer(t))
	if ans.StatusCode != http.StatusCreated {
		t.Fatalf("offer: %d %s", ans.StatusCode, answer)
	}
	links := ans.Header.Values("Link")
	m := linkRE.FindStringSubmatch(strings.Join(links, ""))
	if len(links) != 1 || m == nil || m[1] != turnURL {
		t.Fatalf("answer's Link headers %q, want one ice-server with credentials", links)
	}
	checkTURNCredential(t, secret, owner, m[2], m[3], from, time.Now().Add(ttl))

	select {
	case user := <-allocated:
		if user != owner {
			t.Fatalf("the TURN server relayed for %q, want %q", user, owner)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server's peer got no relay from the TURN server")
	}
	if !strings.Contains(string(answer), "typ relay") {
		t.Errorf("the answer offers no relayed candidate:\n%s", answer)
	}
}

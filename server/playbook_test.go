package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server/servertest"
)

// talkSection is the default playbook's `talk:` block.
var talkSection = regexp.MustCompile(`(?m)^talk:\n(?:[ \t]+.*\n)+`)

// playbookWithTalk compiles the default playbook with its `talk:` block
// replaced by talk (none when empty).
func playbookWithTalk(tb testing.TB, talk string) *coach.Playbook {
	tb.Helper()
	def, err := coach.DefaultPlaybook()
	if err != nil {
		tb.Fatal(err)
	}
	if !talkSection.Match(def.Source) {
		tb.Fatal("the default playbook has no talk: block")
	}
	pb, err := coach.ParsePlaybook("talk.yaml", talkSection.ReplaceAll(def.Source, []byte(talk)))
	if err != nil {
		tb.Fatal(err)
	}
	return pb
}

// TestPlaybookTalkSettings checks that GET /v1/playbook reports the
// playbook's talk settings whole, defaults filled in, under the names the
// browser UI reads: the UI keeps no copy of them.
func TestPlaybookTalkSettings(t *testing.T) {
	own := coach.DefaultTalkConfig()
	own.WindowMS, own.HealthyRepShare, own.MonologueWarnMS, own.MonologueLimitMS = 120_000, [2]float64{0.2, 0.4}, 10_000, 20_000
	for _, tc := range []struct {
		name string
		talk string
		want coach.TalkConfig
	}{
		{"the playbook's own", "talk:\n  window_ms: 120000\n  healthy_rep_share: [0.2, 0.4]\n  monologue_warn_ms: 10000\n  monologue_limit_ms: 20000\n", own},
		{"defaults for a playbook without them", "", coach.DefaultTalkConfig()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pb := playbookWithTalk(t, tc.talk)
			ts := servertest.Start(t, servertest.Options{Playbook: pb})
			resp, err := authGet(ts.URL + "/v1/playbook")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Talk struct {
					WindowMS         int64      `json:"window_ms"`
					HealthyRepShare  [2]float64 `json:"healthy_rep_share"`
					MonologueWarnMS  int64      `json:"monologue_warn_ms"`
					MonologueLimitMS int64      `json:"monologue_limit_ms"`
				} `json:"talk"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /v1/playbook: %d %v", resp.StatusCode, err)
			}
			g, w := got.Talk, tc.want
			if g.WindowMS != w.WindowMS || g.HealthyRepShare != w.HealthyRepShare || g.MonologueWarnMS != w.MonologueWarnMS || g.MonologueLimitMS != w.MonologueLimitMS {
				t.Errorf("talk settings %+v, want %+v", g, w)
			}
		})
	}
}

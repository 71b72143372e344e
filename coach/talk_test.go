package coach

import "testing"

type seg struct {
	spk        Speaker
	start, end int64
}

// runTalk feeds speech segments (in start order) with ticks every 100 ms
// and returns the tracker.
func runTalk(t *testing.T, segs []seg, until int64) *talkTracker {
	t.Helper()
	k := newTalkTracker(DefaultTalkConfig())
	type ev struct {
		at    int64
		start bool
		spk   Speaker
	}
	var evs []ev
	for _, s := range segs {
		evs = append(evs, ev{s.start, true, s.spk}, ev{s.end, false, s.spk})
	}
	for at := int64(0); at <= until; at += 100 {
		for _, e := range evs {
			if e.at > at-100 && e.at <= at && !e.start {
				k.end(e.spk, e.at, e.at)
			}
		}
		for _, e := range evs {
			if e.at > at-100 && e.at <= at && e.start {
				k.start(e.spk, e.at, e.at)
			}
		}
		k.snapshot(at)
	}
	return k
}

func TestTalkMetrics(t *testing.T) {
	tests := []struct {
		name          string
		segs          []seg
		until         int64
		longestRep    int64
		longestPros   int64
		switches      int
		patience      int64
		overlaps      int
		repMS, prosMS int64
	}{
		{
			name:       "short pause merged into one monologue",
			segs:       []seg{{Rep, 0, 10_000}, {Rep, 11_000, 20_000}},
			until:      30_000,
			longestRep: 20_000, repMS: 19_000,
		},
		{
			name:       "long pause splits the monologue",
			segs:       []seg{{Rep, 0, 10_000}, {Rep, 12_000, 20_000}},
			until:      30_000,
			longestRep: 10_000, repMS: 18_000,
		},
		{
			name:       "backchannel does not break it, nor count as pause",
			segs:       []seg{{Rep, 0, 10_000}, {Prospect, 10_300, 11_000}, {Rep, 11_500, 20_000}},
			until:      30_000,
			longestRep: 20_000, repMS: 18_500, prosMS: 700,
		},
		{
			name:       "a real answer is a turn switch; patience is the gap",
			segs:       []seg{{Rep, 0, 5_000}, {Prospect, 5_400, 15_000}, {Rep, 15_800, 18_000}, {Prospect, 18_300, 30_000}, {Rep, 30_400, 33_000}},
			until:      40_000,
			longestRep: 5_000, longestPros: 11_700, switches: 4, patience: 600,
			repMS: 9_800, prosMS: 21_300,
		},
		{
			name:       "overlap counted once",
			segs:       []seg{{Rep, 0, 6_000}, {Prospect, 5_000, 12_000}},
			until:      20_000,
			longestRep: 5_000, longestPros: 7_000, switches: 1, overlaps: 1, patience: 0,
			repMS: 6_000, prosMS: 7_000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := runTalk(t, tt.segs, tt.until)
			var m Metrics
			k.finish(tt.until, &m)
			if m.LongestRepMonologueMS != tt.longestRep || m.LongestProspectMonologueMS != tt.longestPros {
				t.Errorf("longest rep %d prospect %d, want %d %d", m.LongestRepMonologueMS, m.LongestProspectMonologueMS, tt.longestRep, tt.longestPros)
			}
			if m.TurnSwitches != tt.switches {
				t.Errorf("switches %d, want %d", m.TurnSwitches, tt.switches)
			}
			if m.PatienceMS != tt.patience {
				t.Errorf("patience %d, want %d", m.PatienceMS, tt.patience)
			}
			if m.Overlaps != tt.overlaps {
				t.Errorf("overlaps %d, want %d", m.Overlaps, tt.overlaps)
			}
			if m.RepMS != tt.repMS || m.ProspectMS != tt.prosMS {
				t.Errorf("talk rep %d prospect %d, want %d %d", m.RepMS, m.ProspectMS, tt.repMS, tt.prosMS)
			}
		})
	}
}

func TestWindowShare(t *testing.T) {
	// Rep talks 0-100 s, prospect 100-200 s: over the last 180 s at 200 s
	// the rep has 80 s and the prospect 100 s.
	k := runTalk(t, []seg{{Rep, 0, 100_000}, {Prospect, 100_000, 200_000}}, 200_000)
	tk := k.snapshot(200_000)
	if got, want := tk.WindowRepShare, 80.0/180; got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("window share %.4f, want %.4f", got, want)
	}
	if tk.RepShare != 0.5 {
		t.Fatalf("share %.3f, want 0.5", tk.RepShare)
	}
	if tk.MonologueSpeaker != Prospect {
		t.Fatalf("monologue %v as the prospect stops, want prospect", tk.MonologueSpeaker)
	}
	if tk := k.snapshot(201_600); tk.MonologueSpeaker != NoSpeaker {
		t.Fatalf("monologue %v 1.6 s after the prospect stopped, want none", tk.MonologueSpeaker)
	}
}

func TestLiveMonologueLength(t *testing.T) {
	k := newTalkTracker(DefaultTalkConfig())
	k.start(Rep, 1000, 1000)
	tk := k.snapshot(31_000)
	if tk.MonologueSpeaker != Rep || tk.MonologueMS != 30_000 {
		t.Fatalf("monologue %v %d ms, want rep 30000", tk.MonologueSpeaker, tk.MonologueMS)
	}
}

package coach

import "slices"

// Talk metrics, as defined for cuecard (peers do not publish theirs):
//
//   - Talk time: the sum of a speaker's voice-activity segments.
//   - rep_share: rep talk time / (rep + prospect talk time), whole call.
//   - window_rep_share: the same over the last TalkConfig.WindowMS of
//     media time (segments clipped to the window).
//   - Monologue: a stretch in which one speaker holds the floor. Their own
//     pauses shorter than PauseMS are merged, and the other side's
//     backchannels (segments shorter than BackchannelMS) neither break it
//     nor count towards the pause. It ends when its speaker has been silent
//     for PauseMS (backchannels excluded) or when the other side has spoken
//     for BackchannelMS without a break. Its length runs from its first
//     speech to its speaker's last speech in it.
//   - Longest monologue per speaker; the prospect's is the customer story.
//   - Turn switches: consecutive monologues by different speakers;
//     interactivity is switches per minute of call.
//   - Patience: the median gap between the end of a prospect monologue and
//     the start of the rep's next one (overlapping starts count as 0).
//   - Overlaps: times one side started while the other was speaking, and
//     the total time both spoke at once.
type talkTracker struct {
	cfg TalkConfig

	speaking [3]bool
	segStart [3]int64
	lastEnd  [3]int64
	total    [3]int64
	segs     [3][]span // closed segments that may still touch the window

	// Current monologue.
	mono      Speaker
	monoStart int64
	monoEnd   int64 // the holder's last speech end (or now while speaking)
	bcInPause int64 // other-side backchannel time inside the holder's pause
	prevMono  Speaker
	prevEnd   int64 // end of the previous monologue

	longest   [3]int64
	switches  int
	gaps      []int64
	overlaps  int
	overlapMS int64
}

type span struct{ start, end int64 }

func newTalkTracker(cfg TalkConfig) *talkTracker { return &talkTracker{cfg: cfg} }

func other(s Speaker) Speaker {
	if s == Rep {
		return Prospect
	}
	return Rep
}

// start records that s began speaking at startMS; now is the media time
// it became known (voice activity detection needs a little speech first).
func (k *talkTracker) start(s Speaker, startMS, now int64) {
	if k.speaking[s] {
		return
	}
	k.advance(now)
	startMS = min(startMS, now)
	k.speaking[s] = true
	k.segStart[s] = startMS
	if k.mono == NoSpeaker {
		k.begin(s, startMS)
	}
}

// end records that s stopped speaking at endMS; now is the media time it
// became known (after the detector's hangover).
func (k *talkTracker) end(s Speaker, endMS, now int64) {
	if !k.speaking[s] {
		return
	}
	endMS = max(min(endMS, now), k.segStart[s])
	k.advance(endMS)
	o := other(s)
	// An overlap is counted once, when the first of the two segments ends.
	if k.speaking[o] && k.segStart[o] < endMS {
		k.overlaps++
		k.overlapMS += endMS - max(k.segStart[o], k.segStart[s])
	}
	k.speaking[s] = false
	k.lastEnd[s] = endMS
	k.total[s] += endMS - k.segStart[s]
	k.segs[s] = append(k.segs[s], span{k.segStart[s], endMS})
	if s == k.mono {
		k.monoEnd = endMS
		k.bcInPause = 0
	} else if k.mono != NoSpeaker && endMS-k.segStart[s] < k.cfg.BackchannelMS {
		k.bcInPause += endMS - k.segStart[s]
	}
	k.advance(now)
}

// begin starts a monologue of s at t, closing the current one.
func (k *talkTracker) begin(s Speaker, t int64) {
	k.close()
	if k.prevMono != NoSpeaker && k.prevMono != s {
		k.switches++
		if s == Rep && k.prevMono == Prospect {
			k.gaps = append(k.gaps, max(0, t-k.prevEnd))
		}
	}
	k.mono, k.monoStart, k.monoEnd, k.bcInPause = s, t, t, 0
}

// close ends the current monologue at its holder's last speech.
func (k *talkTracker) close() {
	if k.mono == NoSpeaker {
		return
	}
	end := k.monoEnd
	if k.speaking[k.mono] {
		end = max(end, k.segStart[k.mono])
	}
	k.longest[k.mono] = max(k.longest[k.mono], end-k.monoStart)
	k.prevMono, k.prevEnd = k.mono, end
	k.mono = NoSpeaker
}

// advance applies the monologue rules at media time t.
func (k *talkTracker) advance(t int64) {
	if k.mono == NoSpeaker {
		return
	}
	h, o := k.mono, other(k.mono)
	if k.speaking[h] {
		k.monoEnd = t
		// The other side taking the floor while the holder still talks.
		if k.speaking[o] && t-k.segStart[o] >= k.cfg.BackchannelMS {
			k.monoEnd = k.segStart[o]
			k.begin(o, k.segStart[o])
		}
		return
	}
	// The holder is silent.
	if k.speaking[o] && t-k.segStart[o] >= k.cfg.BackchannelMS {
		k.begin(o, k.segStart[o])
		return
	}
	bc := k.bcInPause
	if k.speaking[o] {
		bc += t - k.segStart[o]
	}
	if t-k.monoEnd-bc >= k.cfg.PauseMS {
		k.close()
		if k.speaking[o] {
			k.begin(o, k.segStart[o])
		}
	}
}

// snapshot returns the talk numbers at media time t.
func (k *talkTracker) snapshot(t int64) Talk {
	k.advance(t)
	var tk Talk
	tk.RepMS, tk.ProspectMS = k.talked(Rep, t), k.talked(Prospect, t)
	if sum := tk.RepMS + tk.ProspectMS; sum > 0 {
		tk.RepShare = float64(tk.RepMS) / float64(sum)
	}
	from := t - k.cfg.WindowMS
	wr, wp := k.inWindow(Rep, from, t), k.inWindow(Prospect, from, t)
	if wr+wp > 0 {
		tk.WindowRepShare = float64(wr) / float64(wr+wp)
	}
	if k.mono != NoSpeaker {
		tk.MonologueSpeaker = k.mono
		end := k.monoEnd
		if k.speaking[k.mono] {
			end = t
		}
		tk.MonologueMS = end - k.monoStart
	}
	return tk
}

func (k *talkTracker) talked(s Speaker, t int64) int64 {
	if k.speaking[s] {
		return k.total[s] + t - k.segStart[s]
	}
	return k.total[s]
}

// inWindow sums s's speech inside [from, to], dropping segments that can
// no longer touch any future window.
func (k *talkTracker) inWindow(s Speaker, from, to int64) int64 {
	segs := k.segs[s]
	drop := 0
	for drop < len(segs) && segs[drop].end <= from {
		drop++
	}
	if drop > 0 {
		k.segs[s] = append(segs[:0], segs[drop:]...)
		segs = k.segs[s]
	}
	var sum int64
	for _, sp := range segs {
		sum += min(sp.end, to) - max(sp.start, from)
	}
	if k.speaking[s] {
		sum += to - max(k.segStart[s], from)
	}
	return sum
}

// finish closes open segments and the monologue at t and fills m.
func (k *talkTracker) finish(t int64, m *Metrics) {
	for _, s := range []Speaker{Rep, Prospect} {
		if k.speaking[s] {
			k.end(s, t, t)
		}
	}
	k.advance(t)
	k.close()
	m.DurationMS = t
	m.RepMS, m.ProspectMS = k.total[Rep], k.total[Prospect]
	if sum := m.RepMS + m.ProspectMS; sum > 0 {
		m.RepShare = round3(float64(m.RepMS) / float64(sum))
	}
	m.LongestRepMonologueMS = k.longest[Rep]
	m.LongestProspectMonologueMS = k.longest[Prospect]
	m.TurnSwitches = k.switches
	if t > 0 {
		m.Interactivity = round3(float64(k.switches) / (float64(t) / 60000))
	}
	if len(k.gaps) > 0 {
		g := slices.Clone(k.gaps)
		slices.Sort(g)
		if n := len(g); n%2 == 1 {
			m.PatienceMS = g[n/2]
		} else {
			m.PatienceMS = (g[n/2-1] + g[n/2]) / 2
		}
	}
	m.Overlaps, m.OverlapMS = k.overlaps, k.overlapMS
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

package coach

import (
	"reflect"
	"strings"
)

// The expression environment. Rules are compiled against a struct type
// built for each playbook (one field per signal, derive and flag), so that
// a misspelt name or a rule of the wrong type is an error when the
// playbook loads, not a silent false during a call.

// talkVars are the talk numbers rules see as talk.*.
type talkVars struct {
	RepMS            int     `expr:"rep_ms"`
	ProspectMS       int     `expr:"prospect_ms"`
	RepShare         float64 `expr:"rep_share"`
	WindowRepShare   float64 `expr:"window_rep_share"`
	MonologueSpeaker string  `expr:"monologue_speaker"`
	MonologueMS      int     `expr:"monologue_ms"`
	RepTurnWords     int     `expr:"rep_turn_words"`
	ElapsedMS        int     `expr:"elapsed_ms"`
}

// firedVars describe a cue's last firing, as fired.* in rearm and outcome
// rules.
type firedVars struct {
	AtMS           int     `expr:"at_ms"`
	SinceMS        int     `expr:"since_ms"`
	WindowRepShare float64 `expr:"window_rep_share"`
	Count          int     `expr:"count"`
}

// Field positions of the environment struct.
const (
	envEvent = iota
	envNow
	envStage
	envStageIndex
	envReached
	envU
	envTalk
	envState
	envFired
)

// Field positions of u before the signals.
const (
	uSpeaker = iota
	uFinal
	uWords
	uNumbers
	uQuestions
	uTone
	uSecond
	uFixed // signals start here, then derives
)

// envLayout is a playbook's environment type.
type envLayout struct {
	typ      reflect.Type
	uNames   []string // names of u's fields, in order
	stateIdx map[string]int
}

func field(name string, t reflect.Type, tag string) reflect.StructField {
	return reflect.StructField{Name: name, Type: t, Tag: reflect.StructTag(`expr:"` + tag + `"`)}
}

// exported makes a Go field name from a rule name.
func exported(prefix, name string) string {
	return prefix + strings.ToUpper(name[:1]) + name[1:]
}

// newEnvLayout builds the environment of a playbook with these signals,
// derives and flags; labels are its signal model's (u.score.* and u.is.*).
func newEnvLayout(signals, derives, flags, labels []string) *envLayout {
	l := &envLayout{stateIdx: map[string]int{}}
	tInt, tBool, tStr := reflect.TypeOf(0), reflect.TypeOf(false), reflect.TypeOf("")
	uf := []reflect.StructField{
		field("Speaker", tStr, "speaker"), field("Final", tBool, "final"), field("Words", tInt, "words"),
		field("Numbers", tInt, "numbers"), field("Questions", tInt, "questions"), field("Tone", tInt, "tone"),
		field("Second", tBool, "second"),
	}
	l.uNames = []string{"speaker", "final", "words", "numbers", "questions", "tone", "second"}
	for _, s := range signals {
		uf = append(uf, field(exported("S", s), tInt, s))
		l.uNames = append(l.uNames, s)
	}
	for _, d := range derives {
		uf = append(uf, field(exported("D", d), tBool, d))
		l.uNames = append(l.uNames, d)
	}
	var score, is []reflect.StructField
	for _, m := range labels {
		score = append(score, field(exported("L", m), reflect.TypeOf(0.0), m))
		is = append(is, field(exported("L", m), tBool, m))
	}
	uf = append(uf, field("Score", reflect.StructOf(score), "score"), field("Is", reflect.StructOf(is), "is"))
	l.uNames = append(l.uNames, "score", "is")
	var sf []reflect.StructField
	for i, f := range flags {
		sf = append(sf, field(exported("F", f), tBool, f))
		l.stateIdx[f] = i
	}
	l.typ = reflect.StructOf([]reflect.StructField{
		field("Event", tStr, "event"),
		field("NowMS", tInt, "now_ms"),
		field("Stage", tStr, "stage"),
		field("StageIndex", tInt, "stage_index"),
		field("Reached", reflect.TypeOf(func(string) bool { return false }), "reached"),
		field("U", reflect.StructOf(uf), "u"),
		field("Talk", reflect.TypeOf(talkVars{}), "talk"),
		field("State", reflect.StructOf(sf), "state"),
		field("Fired", reflect.TypeOf(firedVars{}), "fired"),
	})
	return l
}

// env is one engine's instance of the environment.
type env struct {
	ptr   any           // *struct, handed to the VM
	v     reflect.Value // the struct
	u     reflect.Value
	state reflect.Value
	talk  *talkVars
	fired *firedVars
}

func (l *envLayout) instance() *env {
	p := reflect.New(l.typ)
	v := p.Elem()
	return &env{
		ptr: p.Interface(), v: v, u: v.Field(envU), state: v.Field(envState),
		talk:  v.Field(envTalk).Addr().Interface().(*talkVars),
		fired: v.Field(envFired).Addr().Interface().(*firedVars),
	}
}

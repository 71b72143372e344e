package coach

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultPlaybook []byte

// DefaultPlaybookYAML returns the source of the built-in playbook, a
// starting point for coaches who edit their own.
func DefaultPlaybookYAML() []byte { return slices.Clone(defaultPlaybook) }

// DefaultPlaybook compiles the built-in playbook. It fails only if the
// embedded file is broken, which the package's tests rule out.
func DefaultPlaybook() (*Playbook, error) {
	return ParsePlaybook("default.yaml", defaultPlaybook)
}

// MaxPlaybookSize bounds the size of a playbook source.
const MaxPlaybookSize = 1 << 20

// TalkConfig holds the talk tracker's definitions (README.md explains them).
type TalkConfig struct {
	WindowMS         int64      `yaml:"window_ms" json:"window_ms"`
	PauseMS          int64      `yaml:"pause_ms" json:"pause_ms"`
	BackchannelMS    int64      `yaml:"backchannel_ms" json:"backchannel_ms"`
	IntervalMS       int64      `yaml:"interval_ms" json:"interval_ms"`
	HealthyRepShare  [2]float64 `yaml:"healthy_rep_share" json:"healthy_rep_share"`
	MonologueWarnMS  int64      `yaml:"monologue_warn_ms" json:"monologue_warn_ms"`
	MonologueLimitMS int64      `yaml:"monologue_limit_ms" json:"monologue_limit_ms"`
}

// Playbook is a compiled coaching playbook: the signals the coach listens
// for, how stages advance, and when each cue fires. It is immutable and
// safe to share between engines.
type Playbook struct {
	Name   string
	Talk   TalkConfig
	Stages []string
	Cues   []CueInfo
	// Source is the YAML it was compiled from.
	Source []byte

	stemExc   map[string]string
	model     *SignalModel
	threshold []float64 // per model label
	layout    *envLayout
	questions *matcher
	qlead     *matcher
	signals   []signalDef
	derives   []deriveDef
	flags     []flagDef
	stages    []stageDef
	cues      []cueDef
}

// CueInfo describes one cue of a playbook, for display.
type CueInfo struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Priority int    `json:"priority"`
}

type signalDef struct {
	name           string
	phrases        *matcher
	cancel         *matcher
	reset          *matcher
	negate         *matcher
	window, negWin int
}

type deriveDef struct {
	name string
	prog *vm.Program
}

type flagDef struct {
	name       string
	set, clear *vm.Program
}

type stageDef struct {
	id    string
	enter *vm.Program
	quote []int // signals to quote, first that matched; none: the whole utterance
}

// inputs on which a rule is evaluated.
type inputMask uint8

const (
	onFinal inputMask = 1 << iota
	onPartial
	onTick
	onSpeechEnd
	onSpeechStart
	onAll = onFinal | onPartial | onTick | onSpeechEnd | onSpeechStart
)

var maskNames = map[string]inputMask{
	"final": onFinal, "partial": onPartial, "tick": onTick, "speech_end": onSpeechEnd, "speech_start": onSpeechStart,
}

func maskOf(k InputKind) inputMask {
	switch k {
	case Final, Labels:
		return onFinal
	case Partial:
		return onPartial
	case SpeechEnd:
		return onSpeechEnd
	case SpeechStart:
		return onSpeechStart
	}
	return onTick
}

type cueDef struct {
	CueInfo
	body, evidence *template.Template
	quote          []int
	on, rearmOn    inputMask
	when, rearm    *vm.Program
	cooldownMS     int64
	staleMS        int64
	maxPerCall     int
	outWindowMS    int64
	outOn          inputMask
	taken, missed  *vm.Program
}

// yaml shapes ---------------------------------------------------------------

// lstr is a YAML scalar that remembers its line.
type lstr struct {
	V    string
	Line int
}

func (s *lstr) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	return n.Decode(&s.V)
}

// lstrs is one scalar or a list of them.
type lstrs []lstr

func (l *lstrs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s lstr
		if err := s.UnmarshalYAML(n); err != nil {
			return err
		}
		*l = lstrs{s}
		return nil
	}
	var list []lstr
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

type yPlaybook struct {
	Name      lstr                `yaml:"name"`
	Version   int                 `yaml:"version"`
	Talk      TalkConfig          `yaml:"talk"`
	Questions yQuestions          `yaml:"questions"`
	Signals   yaml.Node           `yaml:"signals"`
	Derive    []yNamedExpr        `yaml:"derive"`
	Flags     []yFlag             `yaml:"flags"`
	Stages    []yStage            `yaml:"stages"`
	Cues      []yCue              `yaml:"cues"`
	Model     yModel              `yaml:"model"`
	Lexicons  map[string][]string `yaml:"lexicons"` // anchors for reuse; not read directly
	StemExc   map[string]string   `yaml:"stem_exceptions"`
}

// yModel names the signal model and the score at which each of its
// signals counts (u.is.*).
type yModel struct {
	Name       lstr      `yaml:"name"`
	Thresholds yaml.Node `yaml:"thresholds"`
}

type yQuestions struct {
	Openers []lstr `yaml:"openers"`
	Lead    []lstr `yaml:"lead"`
}

type ySignal struct {
	Phrases      []lstr `yaml:"phrases"`
	Cancel       []lstr `yaml:"cancel"`
	Reset        []lstr `yaml:"reset"`
	Negate       []lstr `yaml:"negate"`
	Window       int    `yaml:"window"`
	NegateWindow int    `yaml:"negate_window"`
}

type yNamedExpr struct {
	Name lstr `yaml:"name"`
	Expr lstr `yaml:"expr"`
}

type yFlag struct {
	Name  lstr `yaml:"name"`
	Set   lstr `yaml:"set"`
	Clear lstr `yaml:"clear"`
}

type yStage struct {
	ID        lstr  `yaml:"id"`
	Enter     lstr  `yaml:"enter"`
	QuoteFrom lstrs `yaml:"quote_from"`
}

type yCue struct {
	ID         lstr     `yaml:"id"`
	Title      lstr     `yaml:"title"`
	Priority   int      `yaml:"priority"`
	On         []lstr   `yaml:"on"`
	When       lstr     `yaml:"when"`
	Rearm      lstr     `yaml:"rearm"`
	RearmOn    []lstr   `yaml:"rearm_on"`
	CooldownMS int64    `yaml:"cooldown_ms"`
	StaleMS    int64    `yaml:"stale_ms"`
	MaxPerCall int      `yaml:"max_per_call"`
	QuoteFrom  lstrs    `yaml:"quote_from"`
	Evidence   lstr     `yaml:"evidence"`
	Body       lstr     `yaml:"body"`
	Outcome    yOutcome `yaml:"outcome"`
}

type yOutcome struct {
	WindowMS int64  `yaml:"window_ms"`
	On       []lstr `yaml:"on"`
	Taken    lstr   `yaml:"taken"`
	Missed   lstr   `yaml:"missed"`
}

// compile ---------------------------------------------------------------------

type compiler struct {
	file string
	an   *analyzer
	pb   *Playbook
	sig  map[string]int
	env  any // a zero environment, for type checking
}

func (c *compiler) errf(line int, format string, args ...any) error {
	return &PlaybookError{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// ParsePlaybook compiles a playbook from YAML source. name is used in error
// messages ("name:line: problem"); every error wraps ErrPlaybook.
func ParsePlaybook(name string, src []byte) (*Playbook, error) {
	if len(src) > MaxPlaybookSize {
		return nil, &PlaybookError{File: name, Msg: fmt.Sprintf("playbook is larger than %d bytes", MaxPlaybookSize)}
	}
	var y yPlaybook
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil {
		return nil, yamlError(name, err)
	}
	exc := map[string]string{}
	for k, v := range y.StemExc {
		exc[strings.ToLower(k)] = strings.ToLower(v)
	}
	c := &compiler{file: name, an: newAnalyzer(exc), pb: &Playbook{Name: y.Name.V, Talk: y.Talk, stemExc: exc}, sig: map[string]int{}}
	if err := c.compile(&y); err != nil {
		return nil, err
	}
	c.pb.Source = slices.Clone(src)
	return c.pb, nil
}

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &PlaybookError{File: name, Line: line, Msg: m[2]}
	}
	if errors.Is(err, io.EOF) {
		return &PlaybookError{File: name, Msg: "empty playbook"}
	}
	return &PlaybookError{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func (c *compiler) compile(y *yPlaybook) error {
	if y.Name.V == "" {
		return c.errf(y.Name.Line, "name: missing")
	}
	if err := c.talk(&y.Talk); err != nil {
		return err
	}
	var err error
	if c.pb.questions, err = c.patterns(y.Questions.Openers); err != nil {
		return err
	}
	if c.pb.qlead, err = c.patterns(y.Questions.Lead); err != nil {
		return err
	}
	if err := c.signals(&y.Signals); err != nil {
		return err
	}
	names := map[string]bool{"speaker": true, "final": true, "words": true, "numbers": true, "questions": true, "tone": true, "second": true, "score": true, "is": true}
	var signals, derives, flags []string
	for _, sd := range c.pb.signals {
		signals = append(signals, sd.name)
		names[sd.name] = true
	}
	for _, d := range y.Derive {
		if !identRE.MatchString(d.Name.V) {
			return c.errf(d.Name.Line, "derive: name %q must be a lower-case identifier", d.Name.V)
		}
		if names[d.Name.V] {
			return c.errf(d.Name.Line, "derive: %q is already defined", d.Name.V)
		}
		names[d.Name.V] = true
		derives = append(derives, d.Name.V)
	}
	seenFlag := map[string]bool{}
	for _, f := range y.Flags {
		if !identRE.MatchString(f.Name.V) || seenFlag[f.Name.V] {
			return c.errf(f.Name.Line, "flags: name %q must be a unique lower-case identifier", f.Name.V)
		}
		seenFlag[f.Name.V] = true
		flags = append(flags, f.Name.V)
	}
	if err := c.model(&y.Model); err != nil {
		return err
	}
	var labels []string
	if c.pb.model != nil {
		labels = c.pb.model.hdr.Labels
	}
	c.pb.layout = newEnvLayout(signals, derives, flags, labels)
	c.env = c.pb.layout.instance().ptr
	for i, d := range y.Derive {
		// A derive is computed in order and may use only those above it.
		for _, later := range derives[i:] {
			if regexp.MustCompile(`\bu\.` + later + `\b`).MatchString(d.Expr.V) {
				return c.errf(d.Expr.Line, "derive %s: uses u.%s, which is computed after it", d.Name.V, later)
			}
		}
		p, err := c.expr(d.Expr, "derive "+d.Name.V)
		if err != nil {
			return err
		}
		c.pb.derives = append(c.pb.derives, deriveDef{name: d.Name.V, prog: p})
	}
	for _, f := range y.Flags {
		fd := flagDef{name: f.Name.V}
		if fd.set, err = c.expr(f.Set, "flag "+f.Name.V+" set"); err != nil {
			return err
		}
		if f.Clear.V != "" {
			if fd.clear, err = c.expr(f.Clear, "flag "+f.Name.V+" clear"); err != nil {
				return err
			}
		}
		c.pb.flags = append(c.pb.flags, fd)
	}
	if err := c.stages(y.Stages); err != nil {
		return err
	}
	return c.cues(y.Cues)
}

var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// structType matches expr's description of our generated environment types.
var structType = regexp.MustCompile(`type (?:struct \{.*\}|main\.\w+|coach\.\w+) has no field (\w+)`)

func (c *compiler) talk(t *TalkConfig) error {
	d := DefaultTalkConfig()
	if t.WindowMS == 0 {
		t.WindowMS = d.WindowMS
	}
	if t.PauseMS == 0 {
		t.PauseMS = d.PauseMS
	}
	if t.BackchannelMS == 0 {
		t.BackchannelMS = d.BackchannelMS
	}
	if t.IntervalMS == 0 {
		t.IntervalMS = d.IntervalMS
	}
	if t.HealthyRepShare == [2]float64{} {
		t.HealthyRepShare = d.HealthyRepShare
	}
	if t.MonologueWarnMS == 0 {
		t.MonologueWarnMS = d.MonologueWarnMS
	}
	if t.MonologueLimitMS == 0 {
		t.MonologueLimitMS = d.MonologueLimitMS
	}
	switch {
	case t.WindowMS < 10_000 || t.WindowMS > 3_600_000:
		return c.errf(0, "talk.window_ms must be between 10000 and 3600000")
	case t.PauseMS < 0 || t.BackchannelMS < 0:
		return c.errf(0, "talk.pause_ms and talk.backchannel_ms must not be negative")
	case t.IntervalMS < 100 || t.IntervalMS > 500:
		return c.errf(0, "talk.interval_ms must be between 100 and 500 (the contract's talk rate)")
	case t.HealthyRepShare[0] < 0 || t.HealthyRepShare[1] > 1 || t.HealthyRepShare[0] > t.HealthyRepShare[1]:
		return c.errf(0, "talk.healthy_rep_share must be [low, high] within 0..1")
	}
	c.pb.Talk = *t
	return nil
}

// DefaultTalkConfig returns the talk definitions used when a playbook
// leaves them out.
func DefaultTalkConfig() TalkConfig {
	return TalkConfig{
		WindowMS: 180_000, PauseMS: 1500, BackchannelMS: 1000, IntervalMS: 500,
		HealthyRepShare: [2]float64{0.35, 0.55}, MonologueWarnMS: 30_000, MonologueLimitMS: 45_000,
	}
}

func (c *compiler) patterns(list []lstr) (*matcher, error) {
	phrases := make([]string, 0, len(list))
	for _, p := range list {
		if strings.TrimSpace(p.V) == "" {
			return nil, c.errf(p.Line, "empty phrase")
		}
		for _, ph := range splitPhrases(p.V) {
			if _, err := compilePattern(c.an, ph); err != nil {
				return nil, c.errf(p.Line, "%v", err)
			}
		}
		phrases = append(phrases, p.V)
	}
	m, err := compilePatterns(c.an, phrases)
	if err != nil {
		return nil, c.errf(0, "%v", err)
	}
	return m, nil
}

func (c *compiler) signals(n *yaml.Node) error {
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return c.errf(n.Line, "signals: want a mapping of signal name to phrases")
	}
	reserved := map[string]bool{"speaker": true, "final": true, "words": true, "numbers": true, "questions": true, "tone": true, "second": true, "score": true, "is": true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !identRE.MatchString(name) || reserved[name] {
			return c.errf(k.Line, "signals: %q is not a usable signal name", name)
		}
		if _, dup := c.sig[name]; dup {
			return c.errf(k.Line, "signals: %q is defined twice", name)
		}
		var ys ySignal
		if err := v.Decode(&ys); err != nil {
			return yamlError(c.file, err)
		}
		if len(ys.Phrases) == 0 {
			return c.errf(k.Line, "signal %s: no phrases", name)
		}
		sd := signalDef{name: name, window: ys.Window, negWin: ys.NegateWindow}
		if sd.window == 0 {
			sd.window = 12
		}
		if sd.negWin == 0 {
			sd.negWin = 3
		}
		var err error
		if sd.phrases, err = c.patterns(ys.Phrases); err != nil {
			return err
		}
		if sd.cancel, err = c.patterns(ys.Cancel); err != nil {
			return err
		}
		if sd.reset, err = c.patterns(ys.Reset); err != nil {
			return err
		}
		if sd.negate, err = c.patterns(ys.Negate); err != nil {
			return err
		}
		c.sig[name] = len(c.pb.signals)
		c.pb.signals = append(c.pb.signals, sd)
	}
	return nil
}

func (c *compiler) expr(s lstr, what string) (*vm.Program, error) {
	if strings.TrimSpace(s.V) == "" {
		return nil, c.errf(s.Line, "%s: missing expression", what)
	}
	p, err := expr.Compile(s.V, expr.Env(c.env), expr.AsBool())
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			msg := structType.ReplaceAllString(fe.Message, "unknown name $1")
			return nil, c.errf(s.Line, "%s: %s (column %d of %q)", what, msg, fe.Column+1, s.V)
		}
		return nil, c.errf(s.Line, "%s: %v", what, err)
	}
	return p, nil
}

func (c *compiler) quoteFrom(list lstrs) ([]int, error) {
	var out []int
	for _, s := range list {
		if s.V == "" {
			continue
		}
		i, ok := c.sig[s.V]
		if ok {
			out = append(out, i)
		}
		if m := c.pb.model; m != nil {
			if l, isLabel := m.labels[s.V]; isLabel {
				out = append(out, len(c.pb.signals)+l)
				ok = true
			}
		}
		if !ok {
			return nil, c.errf(s.Line, "quote_from: no signal named %q", s.V)
		}
	}
	return out, nil
}

// model loads the signal model the playbook names and its thresholds.
func (c *compiler) model(y *yModel) error {
	th := &y.Thresholds
	if y.Name.V == "" {
		if th.Kind == yaml.MappingNode && len(th.Content) > 0 {
			return c.errf(th.Line, "model: thresholds without a model name")
		}
		return nil
	}
	m, err := BuiltinSignalModel()
	if err != nil {
		return c.errf(y.Name.Line, "model: %v", err)
	}
	if y.Name.V != m.Name() {
		return c.errf(y.Name.Line, "model: no signal model named %q (built in: %s)", y.Name.V, m.Name())
	}
	c.pb.model = m
	c.pb.threshold = make([]float64, len(m.hdr.Labels))
	for i, l := range m.hdr.Labels {
		c.pb.threshold[i] = m.Threshold(l)
	}
	if th.Kind == 0 {
		return nil
	}
	if th.Kind != yaml.MappingNode {
		return c.errf(th.Line, "model.thresholds: want a mapping of signal to threshold")
	}
	for i := 0; i+1 < len(th.Content); i += 2 {
		k, v := th.Content[i], th.Content[i+1]
		l, ok := m.labels[k.Value]
		if !ok {
			return c.errf(k.Line, "model.thresholds: model %s has no signal %q", m.Name(), k.Value)
		}
		var x float64
		if err := v.Decode(&x); err != nil {
			return c.errf(v.Line, "model.thresholds: %s: cannot unmarshal %q into a number", k.Value, v.Value)
		}
		if !(x > 0 && x < 1) {
			return c.errf(v.Line, "model.thresholds: %s must be between 0 and 1", k.Value)
		}
		c.pb.threshold[l] = x
	}
	return nil
}

func (c *compiler) stages(ys []yStage) error {
	if len(ys) == 0 {
		return c.errf(0, "stages: at least one stage is needed")
	}
	seen := map[string]bool{}
	for _, s := range ys {
		if !identRE.MatchString(s.ID.V) || seen[s.ID.V] {
			return c.errf(s.ID.Line, "stages: id %q must be a unique lower-case identifier", s.ID.V)
		}
		seen[s.ID.V] = true
		c.pb.Stages = append(c.pb.Stages, s.ID.V)
	}
	for i, s := range ys {
		sd := stageDef{id: s.ID.V}
		if i > 0 || s.Enter.V != "" {
			p, err := c.expr(s.Enter, "stage "+s.ID.V+" enter")
			if err != nil {
				return err
			}
			sd.enter = p
		}
		q, err := c.quoteFrom(s.QuoteFrom)
		if err != nil {
			return err
		}
		sd.quote = q
		c.pb.stages = append(c.pb.stages, sd)
	}
	return nil
}

func (c *compiler) mask(list []lstr, def inputMask) (inputMask, error) {
	if len(list) == 0 {
		return def, nil
	}
	var m inputMask
	for _, s := range list {
		b, ok := maskNames[s.V]
		if !ok {
			return 0, c.errf(s.Line, "unknown input %q (want final, partial, tick, speech_end or speech_start)", s.V)
		}
		m |= b
	}
	return m, nil
}

func (c *compiler) template(s lstr, what string) (*template.Template, error) {
	t, err := parseTemplate(what, s.V)
	if err != nil {
		return nil, c.errf(s.Line, "%v", err)
	}
	return t, nil
}

func (c *compiler) cues(ys []yCue) error {
	seen := map[string]bool{}
	for _, y := range ys {
		if !identRE.MatchString(y.ID.V) || seen[y.ID.V] {
			return c.errf(y.ID.Line, "cues: id %q must be a unique lower-case identifier", y.ID.V)
		}
		seen[y.ID.V] = true
		if y.Title.V == "" {
			return c.errf(y.ID.Line, "cue %s: title missing", y.ID.V)
		}
		d := cueDef{CueInfo: CueInfo{ID: y.ID.V, Title: y.Title.V, Priority: y.Priority},
			cooldownMS: y.CooldownMS, staleMS: y.StaleMS, maxPerCall: y.MaxPerCall, outWindowMS: y.Outcome.WindowMS}
		if d.Priority == 0 {
			d.Priority = 2
		}
		if d.maxPerCall == 0 {
			d.maxPerCall = 5
		}
		if d.cooldownMS < 0 || d.staleMS < 0 || d.maxPerCall < 0 || d.outWindowMS < 0 {
			return c.errf(y.ID.Line, "cue %s: cooldown_ms, stale_ms, max_per_call and outcome.window_ms must not be negative", y.ID.V)
		}
		if d.outWindowMS == 0 {
			d.outWindowMS = 60_000
		}
		var err error
		name := "cue " + y.ID.V
		if d.on, err = c.mask(y.On, onFinal); err != nil {
			return err
		}
		if d.rearmOn, err = c.mask(y.RearmOn, onAll); err != nil {
			return err
		}
		if d.outOn, err = c.mask(y.Outcome.On, onFinal); err != nil {
			return err
		}
		if d.when, err = c.expr(y.When, name+" when"); err != nil {
			return err
		}
		if y.Rearm.V != "" {
			if d.rearm, err = c.expr(y.Rearm, name+" rearm"); err != nil {
				return err
			}
		}
		if d.taken, err = c.expr(y.Outcome.Taken, name+" outcome.taken"); err != nil {
			return err
		}
		if y.Outcome.Missed.V != "" {
			if d.missed, err = c.expr(y.Outcome.Missed, name+" outcome.missed"); err != nil {
				return err
			}
		}
		if d.quote, err = c.quoteFrom(y.QuoteFrom); err != nil {
			return err
		}
		if y.Body.V == "" {
			return c.errf(y.ID.Line, "%s: body missing", name)
		}
		if d.body, err = c.template(y.Body, name+" body"); err != nil {
			return err
		}
		ev := y.Evidence
		if ev.V == "" {
			ev.V = "{{.Quote}}"
		}
		if d.evidence, err = c.template(ev, name+" evidence"); err != nil {
			return err
		}
		c.pb.cues = append(c.pb.cues, d)
		c.pb.Cues = append(c.pb.Cues, d.CueInfo)
	}
	if len(c.pb.cues) == 0 {
		return c.errf(0, "cues: at least one cue is needed")
	}
	return nil
}

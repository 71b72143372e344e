package coach

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Cue templates come from playbooks that anyone with the editor, the check
// endpoint or a backtest can send, so they are bounded twice. At compile
// time a template may use only constructs whose output is bounded by its
// source and its data: no range, no template calls, no functions that
// build strings (print, printf and println can double a value held in a
// variable at every step; html and js grow theirs). Execution, at compile
// time and on every cue, writes into a writer capped at MaxCueText, so a
// construct the check missed still cannot use more memory than that.

// MaxTemplateSource bounds the source of one cue template (a body or an
// evidence line); a card is read at a glance, so this is generous.
const MaxTemplateSource = 2 << 10

// MaxCueText bounds what one cue template may write when it runs. The
// data a template sees is short (a clause, a quote of at most 30 words,
// the talk figures), so a legitimate card stays far below it.
const MaxCueText = 4 << 10

var tmplFuncs = template.FuncMap{
	"pct":  func(f float64) string { return strconv.Itoa(int(f*100+0.5)) + "%" },
	"secs": func(ms int64) string { return strconv.FormatInt((ms+500)/1000, 10) + " s" },
}

// tmplAllowed lists the functions a cue template may call: ours, whose
// output is a number and a unit, and the built-ins that return a boolean,
// a length or a part of their argument. Any other function, including one
// added to tmplFuncs later, is refused until it is added here.
var tmplAllowed = map[string]bool{
	"pct": true, "secs": true,
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
}

// parseTemplate parses and checks one cue template; what names it in
// errors ("cue future_forward body").
func parseTemplate(what, src string) (*template.Template, error) {
	if len(src) > MaxTemplateSource {
		return nil, fmt.Errorf("%s: template is longer than %d bytes", what, MaxTemplateSource)
	}
	t, err := template.New(what).Funcs(tmplFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("%s: define and block are not allowed in cue templates", what)
	}
	// A define named like the template itself replaces its tree, so the
	// tree is taken after parsing.
	if t.Tree == nil {
		return nil, fmt.Errorf("%s: empty template", what)
	}
	if err := checkNode(t.Root); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Run once on sample data so unknown fields fail now, not mid-call.
	if _, err := renderCue(t, templateData{}); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return t, nil
}

// checkNode refuses the constructs that can loop, recurse or grow: it
// allows only what runs once per node of the parse tree and writes a value
// no longer than its data or its source.
func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case nil, *parse.TextNode, *parse.CommentNode, *parse.FieldNode, *parse.VariableNode,
		*parse.DotNode, *parse.NilNode, *parse.BoolNode, *parse.NumberNode, *parse.StringNode:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		return checkNodes(n.Nodes)
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNodes(c.Args); err != nil {
				return err
			}
		}
		return nil
	case *parse.ChainNode:
		return checkNode(n.Node)
	case *parse.IdentifierNode:
		if !tmplAllowed[n.Ident] {
			return fmt.Errorf("function %s is not allowed in cue templates (allowed: %s)", n.Ident, allowedFuncs())
		}
		return nil
	case *parse.RangeNode:
		return fmt.Errorf("range is not allowed in cue templates")
	case *parse.TemplateNode:
		return fmt.Errorf("template and block are not allowed in cue templates")
	case *parse.BreakNode, *parse.ContinueNode:
		return fmt.Errorf("break and continue are not allowed in cue templates")
	}
	return fmt.Errorf("%q is not allowed in cue templates", n.String())
}

func checkNodes(list []parse.Node) error {
	for _, n := range list {
		if err := checkNode(n); err != nil {
			return err
		}
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkNode(b.Pipe); err != nil {
		return err
	}
	if err := checkNode(b.List); err != nil {
		return err
	}
	return checkNode(b.ElseList)
}

// allowedFuncs lists tmplAllowed in order, for error messages.
func allowedFuncs() string {
	return strings.Join(slices.Sorted(maps.Keys(tmplAllowed)), ", ")
}

// renderCue runs t on data into a writer capped at MaxCueText. It returns
// an error wrapping ErrCueTextTooLong when the output would be longer, and
// never a partial text.
func renderCue(t *template.Template, data templateData) (string, error) {
	w := cappedWriter{max: MaxCueText}
	if err := t.Execute(&w, data); err != nil {
		return "", err
	}
	return w.b.String(), nil
}

// cappedWriter keeps what is written to it up to max bytes and refuses
// any write that would go past.
type cappedWriter struct {
	b   strings.Builder
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w (%d bytes)", ErrCueTextTooLong, w.max)
	}
	return w.b.Write(p)
}

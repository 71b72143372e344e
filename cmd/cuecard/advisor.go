package main

import (
	"context"
	"encoding/json"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/llm"
	"github.com/cuecard/cuecard/server"
)

// advisor adapts the language-model client to what the server needs.
type advisor struct{ c *llm.Client }

var _ server.Advisor = advisor{}

func (a advisor) Review() server.Reviewer { return a.c.NewReviewer() }

func (a advisor) Notes(ctx context.Context, finals []coach.Event, sum *coach.Summary) (json.RawMessage, error) {
	lines := make([]llm.Line, len(finals))
	for i, ev := range finals {
		lines[i] = llm.LineOf(ev)
	}
	n, err := a.c.Notes(ctx, lines, sum)
	if err != nil {
		return nil, err
	}
	return json.Marshal(n)
}

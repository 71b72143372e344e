package coach

import (
	"errors"
	"fmt"
)

// ErrPlaybook is wrapped by every playbook validation error.
var ErrPlaybook = errors.New("invalid playbook")

// ErrTimeBackwards is returned by Engine.Step for an input older than the
// one before it.
var ErrTimeBackwards = errors.New("media time went backwards")

// ErrFinished is returned by Engine.Step after Finish.
var ErrFinished = errors.New("engine finished")

// ErrCueTextTooLong is returned when a cue template writes more than
// MaxCueText bytes; the engine then shows the cue's title instead.
var ErrCueTextTooLong = errors.New("cue text is longer than the limit")

// PlaybookError names the file and line of a problem in a playbook.
type PlaybookError struct {
	File string
	Line int // 0 when the problem is not tied to a line
	Msg  string
}

func (e *PlaybookError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap lets callers test for ErrPlaybook with errors.Is.
func (e *PlaybookError) Unwrap() error { return ErrPlaybook }

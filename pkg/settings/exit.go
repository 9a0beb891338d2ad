package settings

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes of the commands.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Exit reports err on stderr as one line, "NAME: ...", and returns the command's exit code: ExitOK for
// nil and ErrHelp, ExitUsage for a *UsageError, ExitFailure for anything else.
func Exit(name string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, ErrHelp) {
		return ExitOK
	}
	fmt.Fprintln(stderr, name+": "+OneLine(err))
	if usage := (*UsageError)(nil); errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitFailure
}

// OneLine joins a multi-line error (joined errors, a tool's output) into one line, "; " between lines.
func OneLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

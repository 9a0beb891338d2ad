package settings

import (
	"errors"
	"fmt"
	"strings"
)

// Env looks up an environment variable, as os.LookupEnv does.
type Env func(name string) (value string, ok bool)

// NoEnv is an environment without variables.
func NoEnv(string) (string, bool) { return "", false }

// EnvMap is an environment of the variables in m.
func EnvMap(m map[string]string) Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// ErrHelp is returned by Parse when the arguments ask for help (-h, -help, --help).
var ErrHelp = errors.New("help requested")

// UsageError is a command line or environment the command cannot run with; commands exit 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *UsageError) Unwrap() error { return e.Err }

// Invalid wraps err (nil stays nil) as a UsageError: for validation errors of a parsed config.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// Parse sets each flag from args (--name=value, --name value, one dash or two; a boolean flag given bare
// is true), and each flag not given there from the first of its variables that is set in env (an empty
// value counts: it is the flag given empty). A flag given neither way keeps its default. Value errors name
// the flag, and the variable when the text came from one; all of them are returned, joined, as a
// *UsageError. -h, -help or --help anywhere before "--" returns ErrHelp.
func Parse(flags []Flag, args []string, env Env) error {
	byName := make(map[string]Flag, len(flags))
	for _, f := range flags {
		if _, dup := byName[f.Name]; dup {
			return fmt.Errorf("settings: flag --%s is defined twice", f.Name)
		}
		byName[f.Name] = f
	}
	given := make(map[string]bool)
	var errs []error
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return &UsageError{Err: fmt.Errorf("unexpected argument %q: flags only", args[i+1])}
			}
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			return &UsageError{Err: fmt.Errorf("unexpected argument %q: flags only", arg)}
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		if name == "h" || name == "help" {
			return ErrHelp
		}
		f, ok := byName[name]
		if !ok {
			return &UsageError{Err: fmt.Errorf("unknown flag %s", arg)}
		}
		switch {
		case hasValue:
		case f.isBool():
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return &UsageError{Err: fmt.Errorf("--%s: needs a value (%s)", name, f.Value.Kind())}
		}
		given[name] = true
		if err := f.Value.Set(value); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	for _, f := range flags {
		if given[f.Name] {
			continue
		}
		for _, variable := range f.Env() {
			value, ok := env(variable)
			if !ok {
				continue
			}
			if err := f.Value.Set(value); err != nil {
				errs = append(errs, fmt.Errorf("--%s (from %s): %w", f.Name, variable, err))
			}
			break
		}
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	return nil
}

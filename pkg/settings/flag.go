package settings

import (
	"strings"
)

// EnvPrefix starts the name of every environment variable that stands in for a flag.
const EnvPrefix = "EGRESS_"

// EnvVar returns the environment variable that stands in for the flag name: EGRESS_ and the name in upper
// case with '-' as '_' (--capture-port is EGRESS_CAPTURE_PORT).
func EnvVar(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Value is a flag's value, bound to the field it sets. String returns the text Set reads back to the
// same value, so that a config can be written as arguments and parsed again.
type Value interface {
	String() string
	Set(text string) error
	// Kind names what the flag takes in usage text (PORT, CIDRS, DURATION); empty for booleans, which
	// may be given without a value.
	Kind() string
}

// Flag is one setting: a flag, the variables that stand in for it, its default and its usage.
type Flag struct {
	// Name is the flag's name without dashes, e.g. "capture-port".
	Name string
	// Value is bound to the setting's field; its text when the table is made is the default.
	Value Value
	// Usage says what the setting does, in a sentence or more. Backquotes mark code in --help and docs.
	Usage string
	// Aliases are further variables read, in order, when neither the flag nor EnvVar(Name) is set (the
	// downward API's POD_NAME, client-go's KUBECONFIG).
	Aliases []string
	// Explicit makes Args write the flag even at its default: the pod spec then says it, whatever the
	// image's defaults, because another container or the pod spec itself must agree with it (ports, IDs).
	Explicit bool
	// DefaultText describes an empty default in usage and docs, e.g. "nameservers of /etc/resolv.conf".
	DefaultText string
}

// Env returns the variables that stand in for the flag, in the order they are read.
func (f Flag) Env() []string {
	return append([]string{EnvVar(f.Name)}, f.Aliases...)
}

// isBool reports whether the flag may be given without a value.
func (f Flag) isBool() bool { return f.Value.Kind() == "" }

// Select returns the flags of flags named in names, in the order of names; it panics on a name that is
// not there, a programming error.
func Select(flags []Flag, names ...string) []Flag {
	out := make([]Flag, 0, len(names))
	for _, name := range names {
		f, ok := find(flags, name)
		if !ok {
			panic("settings.Select: no flag --" + name)
		}
		out = append(out, f)
	}
	return out
}

func find(flags []Flag, name string) (Flag, bool) {
	for _, f := range flags {
		if f.Name == name {
			return f, true
		}
	}
	return Flag{}, false
}

// Args writes the flags as --name=value arguments, in table order: every Explicit flag, and every other
// flag whose text differs from that of the flag of the same name in defaults (the same table bound to
// the default config). Parsing the arguments into the default config gives back the config flags are
// bound to.
func Args(flags, defaults []Flag) []string {
	var args []string
	for _, f := range flags {
		text := f.Value.String()
		d, ok := find(defaults, f.Name)
		if f.Explicit || !ok || d.Value.String() != text {
			args = append(args, "--"+f.Name+"="+text)
		}
	}
	return args
}

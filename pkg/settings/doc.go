// Package settings is the one way egress-init, egress-sidecar and the webhook read their settings: a
// table of flags, each bound to a field of a typed config, with the EGRESS_* environment variable that
// stands in for it, its default (the field's value when the table is made) and its usage. From the table
// come the parser (flag, else variable, else default), --help, the documentation's flag tables, and
// Args, which writes a config back as the arguments that parse to it.
//
// A config package exposes its table as a method that binds the flags to a config's fields, e.g.
// func (c *Config) Flags() []settings.Flag; the command parses into a config that starts from the
// defaults.
package settings

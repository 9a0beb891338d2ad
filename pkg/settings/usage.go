package settings

import (
	"fmt"
	"io"
	"strings"
)

// Command names a command and says what it does, for Usage.
type Command struct {
	// Name is the command's name, e.g. "egress-init".
	Name string
	// Synopsis follows the name in the usage line, e.g. "[flags]".
	Synopsis string
	// Description is a paragraph on what the command does.
	Description string
}

// usageWidth is where usage text wraps.
const usageWidth = 100

// Usage writes the command's --help: the usage line, the description, and each flag with its variables,
// its default and its usage.
func Usage(w io.Writer, cmd Command, flags []Flag) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s %s\n\n", cmd.Name, cmd.Synopsis)
	if cmd.Description != "" {
		b.WriteString(wrap(cmd.Description, "", usageWidth))
		b.WriteString("\n")
	}
	b.WriteString(wrap("Every flag can also be set by the environment variable named beside it; a flag on the "+
		"command line wins over its variable, and a variable over the default.", "", usageWidth))
	b.WriteString("\nFlags:\n")
	for _, f := range flags {
		b.WriteString("  --" + f.Name)
		if !f.isBool() {
			b.WriteString(" " + f.Value.Kind())
		}
		b.WriteString("  [" + strings.Join(f.Env(), ", ") + "]")
		if d := defaultText(f); d != "" {
			b.WriteString("  (default " + d + ")")
		}
		b.WriteString("\n")
		b.WriteString(wrap(f.Usage, "      ", usageWidth))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// defaultText is the default as usage and docs show it: the value's text, else DefaultText, else nothing.
func defaultText(f Flag) string {
	if text := f.Value.String(); text != "" {
		return text
	}
	return f.DefaultText
}

// wrap breaks text into lines of at most width characters (a longer word gets a line of its own), each
// starting with indent and ending with a newline.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// MarkdownTable writes the flags as a Markdown table: flag, environment variables, default, meaning.
func MarkdownTable(flags []Flag) string {
	var b strings.Builder
	b.WriteString("| flag | environment variable | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range flags {
		env := make([]string, 0, 1+len(f.Aliases))
		for _, v := range f.Env() {
			env = append(env, "`"+v+"`")
		}
		def := ""
		switch {
		case f.Value.String() != "":
			def = "`" + f.Value.String() + "`"
		case f.DefaultText != "":
			def = f.DefaultText
		}
		usage := strings.ReplaceAll(f.Usage, "|", `\|`)
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, strings.Join(env, ", "), def, usage)
	}
	return b.String()
}

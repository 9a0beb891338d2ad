package kubectlegress

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// table lays rows out in columns as kubectl does: three spaces between columns, the first row the header.
func table(rows [][]string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	for _, r := range rows {
		io.WriteString(w, strings.Join(r, "\t")+"\n")
	}
	w.Flush()
	return b.String()
}

// structured writes v as YAML or JSON.
func structured(w io.Writer, format string, v any) error {
	if format == OutputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

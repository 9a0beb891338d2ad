package kubectlegress

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"egress.io/egress/internal/docsection"
	"egress.io/egress/pkg/settings"
)

// TestHelp: kubectl egress --help and each command's --help, as golden files.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"--help"}, "testdata/help.golden"},
		{[]string{"suggest", "--help"}, "testdata/help-suggest.golden"},
		{[]string{"why", "-h"}, "testdata/help-why.golden"},
		{[]string{"status", "--help"}, "testdata/help-status.golden"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, env(nil), &out, &out, nil); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		golden(t, tc.golden, out.String())
	}
	var out bytes.Buffer
	var usage *settings.UsageError
	if err := run(context.Background(), nil, env(nil), &out, &out, nil); !errors.As(err, &usage) {
		t.Errorf("no command: %v", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), &out, &out, nil); !errors.As(err, &usage) {
		t.Errorf("unknown command: %v", err)
	}
}

// TestDocsFlagTables keeps docs/kubectl-egress.md's flag tables equal to the commands' tables.
func TestDocsFlagTables(t *testing.T) {
	s, w, st := newSuggestOptions(), whyOptions{common: defaultCommon()}, statusOptions{common: defaultCommon(), Top: 10}
	for name, flags := range map[string][]settings.Flag{"suggest flags": s.flags(), "why flags": w.flags(), "status flags": st.flags()} {
		if err := docsection.Check("../../docs/kubectl-egress.md", name, "go test ./pkg/kubectlegress -update",
			settings.MarkdownTable(flags), *update); err != nil {
			t.Error(err)
		}
	}
}

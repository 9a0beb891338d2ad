// Package settingstest holds the checks every command's tests run on its table of settings
// (pkg/settings): that each EGRESS_* variable agrees with its flag and loses to it, and golden files for
// --help.
package settingstest

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"

	"egress.io/egress/pkg/settings"
)

// EnvAgreesWithFlags checks every flag of a command's table: the sample's first value given as the flag's
// variable parses to what it parses to as the flag, and differs from the default; given both, the flag's
// value wins. fresh returns a config at its defaults and the table bound to it. samples has two distinct
// values for every flag of the table; a flag without one fails the test, so a new flag gets a sample.
func EnvAgreesWithFlags[T any](t *testing.T, fresh func() (*T, []settings.Flag), samples map[string][2]string) {
	t.Helper()
	defaults, table := fresh()
	for _, f := range table {
		sample, ok := samples[f.Name]
		if !ok {
			t.Errorf("--%s has no sample values in this test; add two", f.Name)
			continue
		}
		parse := func(args []string, env map[string]string) T {
			t.Helper()
			c, flags := fresh()
			if err := settings.Parse(flags, args, settings.EnvMap(env)); err != nil {
				t.Fatalf("--%s: %v", f.Name, err)
			}
			return *c
		}
		env := settings.EnvVar(f.Name)
		byFlag := parse([]string{"--" + f.Name + "=" + sample[0]}, nil)
		byEnv := parse(nil, map[string]string{env: sample[0]})
		if !reflect.DeepEqual(byFlag, byEnv) {
			t.Errorf("%s=%q and --%s=%q disagree:\n env  %+v\n flag %+v", env, sample[0], f.Name, sample[0], byEnv, byFlag)
		}
		if reflect.DeepEqual(byEnv, *defaults) {
			t.Errorf("%s=%q changed nothing (is the sample the default?)", env, sample[0])
		}
		both := parse([]string{"--" + f.Name + "=" + sample[1]}, map[string]string{env: sample[0]})
		if want := parse([]string{"--" + f.Name + "=" + sample[1]}, nil); !reflect.DeepEqual(both, want) {
			t.Errorf("--%s=%q with %s=%q: the flag did not win:\n got  %+v\n want %+v", f.Name, sample[1], env, sample[0], both, want)
		}
	}
	for name := range samples {
		found := false
		for _, f := range table {
			found = found || f.Name == name
		}
		if !found {
			t.Errorf("sample for --%s, which the table does not have", name)
		}
	}
}

// Golden compares got with the file at path, or writes it there with update.
func Golden(t *testing.T, path, got string, update bool, regenerate string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s to create it)", err, regenerate)
	}
	if string(want) == got {
		return
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(want)), B: difflib.SplitLines(got), FromFile: path, ToFile: "got", Context: 3,
	})
	t.Errorf("%s is stale (run %s and review the diff):\n%s", path, regenerate, strings.TrimSpace(diff))
}

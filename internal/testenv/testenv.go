// Package testenv holds the one interface the test-support packages (netnstest, testworld) ask of their
// caller: the part of testing.TB they use. *testing.T satisfies it. Their primitives return errors; the
// functions that take a T are thin wrappers that fail the test and register cleanup.
package testenv

// T is the part of testing.TB that test helpers use.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

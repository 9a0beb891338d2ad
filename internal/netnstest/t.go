package netnstest

// T is the part of testing.TB that this package uses. *testing.T satisfies it, and so can a program that is
// not a test (the demo), with its own cleanup stack.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

package env

import (
	"errors"
	"fmt"
	"testing"
)

// tb lets a program use internal/netnstest, whose functions take a testing.TB: Fatalf panics with a
// fatalError that catch turns back into an error, and Cleanup collects functions that cleanup runs last
// in, first out. Only the methods netnstest calls are implemented; the embedded nil TB panics on others.
type tb struct {
	testing.TB
	cleanups []func()
	errs     []error
}

// fatalError carries a Fatalf out of netnstest.
type fatalError struct{ err error }

func (t *tb) Helper()                           {}
func (t *tb) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *tb) Fatalf(format string, args ...any) { panic(fatalError{fmt.Errorf(format, args...)}) }
func (t *tb) Fatal(args ...any)                 { panic(fatalError{errors.New(fmt.Sprint(args...))}) }
func (t *tb) Errorf(format string, args ...any) { t.errs = append(t.errs, fmt.Errorf(format, args...)) }
func (t *tb) Error(args ...any)                 { t.errs = append(t.errs, errors.New(fmt.Sprint(args...))) }
func (t *tb) Logf(string, ...any)               {}
func (t *tb) Log(...any)                        {}

// catch runs f and returns the error of a Fatalf inside it; other panics go on.
func (t *tb) catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe.err
		}
	}()
	f()
	return nil
}

// cleanup runs the collected functions, last first, and returns the errors they reported.
func (t *tb) cleanup() error {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		if err := t.catch(t.cleanups[i]); err != nil {
			t.errs = append(t.errs, err)
		}
	}
	t.cleanups = nil
	errs := t.errs
	t.errs = nil
	return errors.Join(errs...)
}

//go:build race

package rawio

// raceEnabled: under the race detector Wrap returns the connection itself. The standard library's reads
// and writes tell the detector that a write happens before the read that sees its bytes; raw system calls
// would not, and every test that checks, after a response, what the sidecar did would report a race.
const raceEnabled = true

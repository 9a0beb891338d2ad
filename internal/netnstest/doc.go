// Package netnstest builds throwaway Linux network namespaces for tests that need real iptables, real
// sockets and real processes: a "pod" namespace joined by a veth to a "world" namespace, with addresses
// only from the benchmarking ranges 198.18.0.0/15 and 2001:db8::/32 and no route to anything else.
// Nothing it does touches the host namespace's interfaces, routes or iptables.
//
// A test gets a Pair from NewPair, which removes it in t.Cleanup. Inside a namespace it can then
//
//   - run a command as any UID/GID: Pair.Run, or Command for a background process;
//   - run Go code in this process: Do (e.g. open listeners with Listen and ListenPacket, which stay in
//     the namespace they were created in);
//   - run Go code in another process as another UID/GID: Helper re-executes the test binary, whose
//     TestMain must call Main first. The built-in helpers "tcp" and "udp" cover dialling and sending.
//
// Everything needs root (CI runs as root). Missing privileges or commands fail the test, naming what is
// missing; only testing.Short skips, through SkipIfShort.
package netnstest

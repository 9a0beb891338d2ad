package netnstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A HelperFunc is Go code a test runs in a separate process, inside a namespace, as another user: it
// gets the arguments given to Helper, writes its result to stdout and fails by returning an error.
type HelperFunc func(args []string, stdout io.Writer) error

// Environment of a re-executed test binary, read by Main.
const (
	envHelper = "NETNSTEST_HELPER"
	envUID    = "NETNSTEST_UID"
	envGID    = "NETNSTEST_GID"
)

// helperTimeout bounds every dial, write and read of the built-in helpers.
const helperTimeout = 2 * time.Second

// builtinHelpers are available to every test binary that calls Main.
var builtinHelpers = map[string]HelperFunc{
	"tcp": helperTCP,
	"udp": helperUDP,
}

// Main runs a helper and exits when this process is a test binary re-executed by Helper; otherwise it
// returns at once. Call it first in TestMain. helpers adds to (and may override) the built-in "tcp" and
// "udp" helpers. A helper's process drops to the requested UID/GID, without supplementary groups,
// before running it; an error is printed to stderr and exits with status 1.
func Main(helpers map[string]HelperFunc) {
	name, ok := os.LookupEnv(envHelper)
	if !ok {
		return
	}
	fn := helpers[name]
	if fn == nil {
		fn = builtinHelpers[name]
	}
	if fn == nil {
		fmt.Fprintf(os.Stderr, "netnstest: no helper %q\n", name)
		os.Exit(2)
	}
	if err := dropPrivileges(os.Getenv(envUID), os.Getenv(envGID)); err != nil {
		fmt.Fprintf(os.Stderr, "netnstest: %v\n", err)
		os.Exit(2)
	}
	if err := fn(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// dropPrivileges switches every thread to uid/gid; Go applies setuid to all threads.
func dropPrivileges(uidText, gidText string) error {
	uid, err := strconv.Atoi(uidText)
	if err != nil {
		return fmt.Errorf("bad %s %q: %w", envUID, uidText, err)
	}
	gid, err := strconv.Atoi(gidText)
	if err != nil {
		return fmt.Errorf("bad %s %q: %w", envGID, gidText, err)
	}
	if uid == 0 && gid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("clearing supplementary groups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	return nil
}

// HelperCommand returns a command that re-executes the running test binary inside namespace ns to run
// the helper called name with args, as uid/gid. The test binary's TestMain must call Main.
func HelperCommand(ns string, uid, gid int, name string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	// The binary starts as root (the test binary's directory is private to root) and drops privileges
	// itself, in Main.
	cmd := Command(ns, 0, 0, self, args...)
	cmd.Env = append(os.Environ(), envHelper+"="+name, envUID+"="+strconv.Itoa(uid), envGID+"="+strconv.Itoa(gid))
	return cmd
}

// Helper runs the helper called name with args inside ns as uid/gid and returns its stdout. The error,
// when the helper fails, includes its stderr (e.g. "connection refused").
func Helper(ns string, uid, gid int, name string, args ...string) (string, error) {
	cmd := HelperCommand(ns, uid, gid, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helper %s %s as %d:%d in %s: %w: %s", name, strings.Join(args, " "), uid, gid, ns, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// helperTCP implements "tcp ADDRESS [MESSAGE]": connect to ADDRESS (host:port), send MESSAGE, close
// the sending side, and print everything the server sends back before closing.
func helperTCP(args []string, stdout io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: tcp ADDRESS [MESSAGE]")
	}
	conn, err := net.DialTimeout("tcp", args[0], helperTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(helperTimeout)); err != nil {
		return err
	}
	if len(args) == 2 {
		if _, err := io.WriteString(conn, args[1]); err != nil {
			return err
		}
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	_, err = io.Copy(stdout, conn)
	return err
}

// helperUDP implements "udp ADDRESS MESSAGE": send MESSAGE in one datagram from a connected socket and
// print the first datagram that comes back. No reply within the timeout, or an ICMP error, is an error.
func helperUDP(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: udp ADDRESS MESSAGE")
	}
	conn, err := net.Dial("udp", args[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(helperTimeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, args[1]); err != nil {
		return err
	}
	reply := make([]byte, 64<<10)
	n, err := conn.Read(reply)
	if err != nil {
		return err
	}
	_, err = stdout.Write(reply[:n])
	return err
}

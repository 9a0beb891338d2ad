package netnstest_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"egress.io/egress/internal/netnstest"
)

func TestMain(m *testing.M) {
	netnstest.Main(map[string]netnstest.HelperFunc{"whoami": helperWhoami})
	os.Exit(m.Run())
}

// helperWhoami prints the helper process's IDs, to show Helper drops privileges.
func helperWhoami(_ []string, stdout io.Writer) error {
	groups, err := os.Getgroups()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d:%d groups=%v", os.Getuid(), os.Getgid(), groups)
	return err
}

// serveGreeting answers every connection with "hello REMOTE" and closes it.
func serveGreeting(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(conn, "hello %s", conn.RemoteAddr())
		conn.Close()
	}
}

func TestPairConnectsPodToWorld(t *testing.T) {
	netnstest.SkipIfShort(t)
	p := netnstest.NewPair(t)
	for _, name := range []string{p.Pod, p.World, p.PodIf, p.WorldIf} {
		if len(name) > 15 {
			t.Errorf("name %q exceeds IFNAMSIZ", name)
		}
	}

	for _, addr := range []string{"198.18.0.2:7777", "[2001:db8::2]:7777"} {
		go serveGreeting(netnstest.Listen(t, p.World, "tcp", addr))
		out, err := netnstest.Helper(p.Pod, 1000, 1000, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wantFrom := netnstest.PodIPv4.String()
		if strings.HasPrefix(addr, "[") {
			wantFrom = "[" + netnstest.PodIPv6.String() + "]"
		}
		if !strings.HasPrefix(out, "hello "+wantFrom+":") {
			t.Errorf("tcp %s from the pod: got %q, want a greeting to %s", addr, out, wantFrom)
		}
	}

	echo := netnstest.ListenPacket(t, p.World, "udp", "198.18.0.2:7778")
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	if out, err := netnstest.Helper(p.Pod, 1000, 1000, "udp", "198.18.0.2:7778", "ping"); err != nil || out != "echo ping" {
		t.Errorf("udp from the pod: %q, %v", out, err)
	}
}

func TestRunAndHelperAsAnotherUser(t *testing.T) {
	netnstest.SkipIfShort(t)
	p := netnstest.NewPair(t)
	if got := strings.Join(strings.Fields(p.Run(t, p.Pod, 1000, 1001, "sh", "-c", "id -u; id -g; id -G")), " "); got != "1000 1001 1001" {
		t.Errorf("ids as 1000:1001 = %q, want 1000 1001 1001 (no supplementary groups)", got)
	}
	if got := p.Run(t, p.Pod, 0, 0, "id", "-u"); strings.TrimSpace(got) != "0" {
		t.Errorf("root run printed %q", got)
	}
	out, err := netnstest.Helper(p.Pod, 2555, 2555, "whoami")
	if err != nil || out != "2555:2555 groups=[]" {
		t.Errorf("helper as 2555:2555 = %q, %v", out, err)
	}
	if _, err := netnstest.Helper(p.Pod, 1000, 1000, "tcp", "198.18.0.2:1"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("helper error does not carry its stderr: %v", err)
	}
}

func TestDoEntersTheNamespace(t *testing.T) {
	netnstest.SkipIfShort(t)
	p := netnstest.NewPair(t)
	err := netnstest.Do(p.Pod, func() error {
		_, err := net.InterfaceByName(p.PodIf)
		return err
	})
	if err != nil {
		t.Errorf("the pod's veth is not visible inside Do: %v", err)
	}
	if _, err := net.InterfaceByName(p.PodIf); err == nil {
		t.Errorf("the pod's veth %s is visible in the host namespace", p.PodIf)
	}
	if err := netnstest.Do("egt-no-such-namespace", func() error { return nil }); err == nil {
		t.Error("Do entered a namespace that does not exist")
	}
}

func TestPairIsRemovedAndWithoutIPv6(t *testing.T) {
	netnstest.SkipIfShort(t)
	var names []string
	t.Run("pair", func(t *testing.T) {
		p := netnstest.NewPair(t, netnstest.WithoutIPv6())
		names = []string{p.Pod, p.World}
		out := p.Run(t, p.Pod, 0, 0, "ip", "-6", "addr", "show", "scope", "global")
		if strings.TrimSpace(out) != "" {
			t.Errorf("WithoutIPv6 pair has global IPv6 addresses:\n%s", out)
		}
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s still exists after its test ended", name)
		}
	}
}

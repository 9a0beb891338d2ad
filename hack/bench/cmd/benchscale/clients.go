package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"egress.io/egress/hack/bench/internal/proc"
	"egress.io/egress/hack/bench/internal/procstat"
	"egress.io/egress/hack/bench/internal/scale"
)

// clientProcess is the scaleclients process and its command channel.
type clientProcess struct {
	proc *proc.Proc
	in   *json.Encoder
	out  *json.Decoder
}

// startClients starts the client process with setup.
func startClients(group *proc.Group, binary, name string, setup scale.Setup) (*clientProcess, error) {
	cmd := exec.Command(binary)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := group.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	c := &clientProcess{proc: p, in: json.NewEncoder(stdin), out: json.NewDecoder(bufio.NewReader(stdout))}
	if err := c.in.Encode(setup); err != nil {
		return nil, fmt.Errorf("%s: sending the setup: %w", name, err)
	}
	return c, nil
}

// do sends a command and returns the reply; a reply with an error is an error.
func (c *clientProcess) do(cmd scale.Command) (scale.Reply, error) {
	if err := c.in.Encode(cmd); err != nil {
		return scale.Reply{}, fmt.Errorf("%s: %s: %w (see %s)", c.proc.Name, cmd.Op, err, c.proc.Log)
	}
	var r scale.Reply
	if err := c.out.Decode(&r); err != nil {
		return scale.Reply{}, fmt.Errorf("%s: %s: %w (see %s)", c.proc.Name, cmd.Op, err, c.proc.Log)
	}
	if r.Error != "" {
		return r, fmt.Errorf("%s: %s: %s", c.proc.Name, cmd.Op, r.Error)
	}
	return r, nil
}

// rss is the client process's resident memory in bytes.
func (c *clientProcess) rss() float64 {
	m, err := procstat.RSS(c.proc.PID())
	if err != nil {
		return 0
	}
	return float64(m.RSS)
}

// quit ends the process.
func (c *clientProcess) quit() {
	c.do(scale.Command{Op: "quit"})
	select {
	case <-c.proc.Done():
	case <-time.After(30 * time.Second):
		c.proc.Stop(5 * time.Second)
	}
}

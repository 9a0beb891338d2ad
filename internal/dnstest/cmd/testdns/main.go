// Command testdns runs a dnstest server as a process, for tests that need a DNS server inside a network
// namespace:
//
//	testdns --listen 198.18.0.2:53 --record api.example.test=198.18.0.2 --record v6.example.test=fd00::2 \
//	        --cname www.example.test=api.example.test --ttl 30s
//
// It prints "testdns: serving on ADDR" on standard output once it answers on UDP and TCP, and runs until
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"egress.io/egress/internal/dnstest"
)

func main() {
	err := run(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "testdns:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves, and returns when a signal arrives.
func run(args []string) error {
	fs := flag.NewFlagSet("testdns", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:53", "`host:port` to serve on, UDP and TCP")
	ttl := fs.Duration("ttl", 30*time.Second, "TTL of the answers")
	truncate := fs.Bool("truncate-udp", false, "answer every UDP query truncated (TC bit, no records)")
	var records, cnames pairs
	fs.Var(&records, "record", "`name=ip[,ip...]` to answer (repeatable)")
	fs.Var(&cnames, "cname", "`name=target` alias (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	recs := make(map[string][]netip.Addr)
	for _, p := range records {
		for _, v := range strings.Split(p.value, ",") {
			addr, err := netip.ParseAddr(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("--record %s=%s: %w", p.name, p.value, err)
			}
			recs[p.name] = append(recs[p.name], addr)
		}
	}
	srv := dnstest.New(recs, *ttl)
	for _, p := range cnames {
		srv.SetCNAME(p.name, p.value)
	}
	srv.SetTruncateUDP(*truncate)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Listen(*listen); err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	fmt.Printf("testdns: serving on %s\n", srv.Addr())
	<-ctx.Done()
	return srv.Close()
}

// pairs is a repeatable name=value flag.
type pairs []pair

type pair struct{ name, value string }

func (p *pairs) String() string {
	if p == nil {
		return ""
	}
	var parts []string
	for _, x := range *p {
		parts = append(parts, x.name+"="+x.value)
	}
	return strings.Join(parts, " ")
}

func (p *pairs) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" || value == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	*p = append(*p, pair{name: name, value: value})
	return nil
}

package env

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"egress.io/egress/internal/netnstest"
)

//go:embed world-nginx.conf.tmpl
var worldNginxConf string

// SmallBody is the 100-byte body of /small.
var SmallBody = strings.Repeat("0123456789", 9) + "egress-ok\n"

// worldConfig fills world-nginx.conf.tmpl.
type worldConfig struct {
	Dir, WWW, Cert, Key, IP, SmallBody string
	BigSize                            int64
	Workers                            int
	HTTP2                              bool
}

// startWorld serves /small and /big over HTTP and HTTPS at WorldIP with nginx, and the benchmark's
// names with testdns, both in the world namespace.
func (e *Env) startWorld(opts Options) error {
	dir := filepath.Join(e.Dir, "world")
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return fmt.Errorf("world: %w", err)
	}
	// A sparse file: no disk is written, and reads come from the page cache's zero page.
	big, err := os.Create(filepath.Join(www, "big"))
	if err != nil {
		return fmt.Errorf("world: %w", err)
	}
	if err := big.Truncate(opts.BigFileSize); err != nil {
		big.Close()
		return fmt.Errorf("world: sizing /big: %w", err)
	}
	big.Close()
	os.Chmod(big.Name(), 0o644)

	conf := filepath.Join(dir, "nginx.conf")
	cfg := worldConfig{
		Dir: dir, WWW: www, Cert: e.Certs.Cert, Key: e.Certs.Key, IP: WorldIP,
		SmallBody: SmallBody, BigSize: opts.BigFileSize, Workers: opts.Cores, HTTP2: opts.OriginHTTP2,
	}
	if err := WriteTemplate(conf, worldNginxConf, cfg); err != nil {
		return fmt.Errorf("world: %w", err)
	}
	nginx, err := e.Procs.Start("world-nginx", netnstest.Command(e.Pair.World, 0, 0, "nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf))
	if err != nil {
		return err
	}
	if err := nginx.WaitUntil("the origin to listen", 10*time.Second, func() bool {
		return e.canDial(e.Pair.World, net.JoinHostPort(WorldIP, "443"))
	}); err != nil {
		return err
	}

	args := []string{"--listen", net.JoinHostPort(WorldIP, "53"), "--ttl", "300s"}
	for _, name := range OriginNames {
		args = append(args, "--record", name+"="+WorldIP)
	}
	dns, err := e.Procs.Start("world-dns", netnstest.Command(e.Pair.World, 0, 0, e.Bin["testdns"], args...))
	if err != nil {
		return err
	}
	return dns.WaitUntil("testdns to serve", 10*time.Second, func() bool {
		data, _ := os.ReadFile(dns.Log)
		return strings.Contains(string(data), "serving on")
	})
}

// WriteTemplate executes text with data into path (mode 0644).
func WriteTemplate(path, text string, data any) error {
	tmpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(text)
	if err != nil {
		return fmt.Errorf("template for %s: %w", path, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("template for %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

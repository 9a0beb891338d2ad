package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"egress.io/egress/internal/certs"
	"egress.io/egress/internal/testworld"
)

// worldCounterComment marks the iptables rule that counts TCP connections reaching the world.
const worldCounterComment = "egress-node: connections reaching the world"

const worldNginxServers = `
    server {
        listen {{ip}}:80 default_server;
        location / { return 200 "hello from $host over plain HTTP\n"; }
    }
`

const worldNginxTLSServer = `
    server {
        listen {{ip}}:443 ssl{{default}};
        server_name {{name}};
        ssl_certificate {{dir}}/{{name}}.pem;
        ssl_certificate_key {{dir}}/{{name}}.key;
        location / { return 200 "hello from $host over verified TLS\n"; }
    }
`

// writeWorld makes the world's CA and a certificate for each name, and nginx's configuration: HTTP for any
// name on port 80, HTTPS for each name on 443. It returns the CA's file.
func writeWorld(l layout, names []string) (string, error) {
	dir := l.world("")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ca, err := certs.NewCA(dir, "the world's CA", 0)
	if err != nil {
		return "", err
	}
	var servers strings.Builder
	servers.WriteString(worldNginxServers)
	for i, name := range names {
		if _, err := ca.Server(dir, name, name); err != nil {
			return "", err
		}
		def := ""
		if i == 0 {
			def = " default_server"
		}
		servers.WriteString(strings.NewReplacer("{{name}}", name, "{{default}}", def).Replace(worldNginxTLSServer))
	}
	conf := testworld.NginxPreamble + "\nhttp {" + testworld.NginxHTTPPreamble + servers.String() + "}\n"
	conf = strings.NewReplacer("{{dir}}", strings.TrimSuffix(dir, "/"), "{{ip}}", WorldIP).Replace(conf)
	if err := os.WriteFile(l.world("nginx.conf"), []byte(conf), 0o644); err != nil {
		return "", err
	}
	return ca.File, nil
}

// WorldConnections returns how many TCP connections have reached the world so far.
func (c *Cluster) WorldConnections() (int, error) {
	out, err := exec.Command("ip", "netns", "exec", c.WorldNetns, "iptables-save", "-c", "-t", "filter").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("reading the world's connection counter: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, worldCounterComment) && strings.HasPrefix(line, "[") {
			packets, _, _ := strings.Cut(strings.TrimPrefix(line, "["), ":")
			return strconv.Atoi(packets)
		}
	}
	return 0, fmt.Errorf("the world's connection counter is missing:\n%s", out)
}

// WorldAccessLog returns the world's nginx access log: "$connection $scheme $host $request_uri $status".
func (c *Cluster) WorldAccessLog() string {
	data, _ := os.ReadFile(c.layout.world("access.log"))
	return string(data)
}

package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeOnce runs an HTTP GET probe against the pod's IP from the host, as the kubelet does: success is a
// status from 200 to 399 within the probe's timeout.
func (p *Pod) probeOnce(ctx context.Context, c *corev1.Container, probe *corev1.Probe) error {
	get := probe.HTTPGet
	if get == nil {
		return fmt.Errorf("container %s: only httpGet probes are supported", c.Name)
	}
	port, err := resolvePort(c, get.Port)
	if err != nil {
		return err
	}
	host := get.Host
	if host == "" {
		host = p.opts.PodIP.String()
	}
	scheme := "http"
	if get.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	timeout := time.Duration(max(probe.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+get.Path, nil)
	if err != nil {
		return err
	}
	resp, err := p.probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("%s: HTTP %d", req.URL, resp.StatusCode)
	}
	return nil
}

// waitProbe polls a probe every periodSeconds until it succeeds, or fails after failureThreshold failures.
func (p *Pod) waitProbe(ctx context.Context, c *corev1.Container, probe *corev1.Probe) error {
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	threshold := max(probe.FailureThreshold, 1)
	var err error
	for failures := int32(0); failures < threshold; failures++ {
		if err = p.probeOnce(ctx, c, probe); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited[c.Name]:
			return fmt.Errorf("container %s exited", c.Name)
		case <-time.After(period):
		}
	}
	return fmt.Errorf("container %s: probe failed %d times: %w", c.Name, threshold, err)
}

func resolvePort(c *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

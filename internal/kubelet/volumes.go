package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// serviceAccountMountPath is where a pod's service-account token volume is mounted in a cluster.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// materializeVolumes writes every volume of the pod under dir/volumes/NAME and returns name → directory.
func (p *Pod) materializeVolumes(ctx context.Context) (map[string]string, error) {
	dirs := map[string]string{}
	for _, vol := range p.spec.Spec.Volumes {
		dir := filepath.Join(p.opts.Dir, "volumes", vol.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("volume %s: %w", vol.Name, err)
		}
		var err error
		switch {
		case vol.EmptyDir != nil:
			err = os.Chmod(dir, 0o777)
		case vol.DownwardAPI != nil:
			err = p.writeDownwardAPI(dir, vol.DownwardAPI.Items)
		case vol.Projected != nil:
			err = p.writeProjected(ctx, dir, vol.Projected.Sources)
		case vol.ConfigMap != nil:
			err = p.writeConfigMap(ctx, dir, vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.Optional)
		case vol.Secret != nil:
			err = p.writeSecret(ctx, dir, vol.Secret.SecretName, vol.Secret.Items)
		default:
			err = fmt.Errorf("this kind of volume is not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", vol.Name, err)
		}
		dirs[vol.Name] = dir
	}
	return dirs, nil
}

func (p *Pod) writeDownwardAPI(dir string, items []corev1.DownwardAPIVolumeFile) error {
	for _, item := range items {
		if item.FieldRef == nil {
			return fmt.Errorf("%s: only fieldRef is supported", item.Path)
		}
		v, err := fieldValue(p.spec, p.opts.PodIP.String(), item.FieldRef.FieldPath)
		if err != nil {
			return fmt.Errorf("%s: %w", item.Path, err)
		}
		if err := writeVolumeFile(dir, item.Path, []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pod) writeProjected(ctx context.Context, dir string, sources []corev1.VolumeProjection) error {
	for _, src := range sources {
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			err = p.writeToken(ctx, dir, src.ServiceAccountToken)
		case src.ConfigMap != nil:
			err = p.writeConfigMap(ctx, dir, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
		case src.DownwardAPI != nil:
			err = p.writeDownwardAPI(dir, src.DownwardAPI.Items)
		case src.Secret != nil:
			err = p.writeSecret(ctx, dir, src.Secret.Name, src.Secret.Items)
		default:
			err = fmt.Errorf("this projected source is not supported")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeToken asks the TokenRequest API for a token of the pod's service account bound to the pod, as the
// kubelet does for projected serviceAccountToken sources.
func (p *Pod) writeToken(ctx context.Context, dir string, src *corev1.ServiceAccountTokenProjection) error {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.spec.Name, UID: p.spec.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := p.opts.Client.CoreV1().ServiceAccounts(p.spec.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s/%s: %w", p.spec.Namespace, sa, err)
	}
	return writeVolumeFile(dir, src.Path, []byte(tr.Status.Token))
}

func (p *Pod) writeConfigMap(ctx context.Context, dir, name string, items []corev1.KeyToPath, optional *bool) error {
	cm, err := p.opts.Client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("config map %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return writeKeys(dir, data, items)
}

func (p *Pod) writeSecret(ctx context.Context, dir, name string, items []corev1.KeyToPath) error {
	s, err := p.opts.Client.CoreV1().Secrets(p.spec.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return writeKeys(dir, s.Data, items)
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeVolumeFile(dir, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, item := range items {
		v, ok := data[item.Key]
		if !ok {
			return fmt.Errorf("key %s is missing", item.Key)
		}
		if err := writeVolumeFile(dir, item.Path, v); err != nil {
			return err
		}
	}
	return nil
}

func writeVolumeFile(dir, path string, data []byte) error {
	if strings.Contains(path, "..") || filepath.IsAbs(path) {
		return fmt.Errorf("path %q escapes the volume", path)
	}
	full := filepath.Join(dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	// World-readable: the containers run as other users, and there is no fsGroup handling here. Written
	// beside and renamed into place, so a refresh replaces the file atomically, as the kubelet's does.
	tmp := full + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, full)
}

// RefreshDownwardAPI re-reads the pod from the API server and rewrites its downward-API volume files, as
// the kubelet does when labels or annotations change.
func (p *Pod) RefreshDownwardAPI(ctx context.Context) error {
	fresh, err := p.opts.Client.CoreV1().Pods(p.spec.Namespace).Get(ctx, p.spec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("refreshing pod %s/%s: %w", p.spec.Namespace, p.spec.Name, err)
	}
	p.spec.Labels, p.spec.Annotations = fresh.Labels, fresh.Annotations
	for _, vol := range p.spec.Spec.Volumes {
		if vol.DownwardAPI == nil {
			continue
		}
		if err := p.writeDownwardAPI(p.volumes[vol.Name], vol.DownwardAPI.Items); err != nil {
			return fmt.Errorf("volume %s: %w", vol.Name, err)
		}
	}
	return nil
}

// remap rewrites a path under one of the container's mount paths to the volume's directory on the host.
func remap(s string, mounts []corev1.VolumeMount, dirs map[string]string) string {
	for _, m := range mounts {
		if rest, ok := strings.CutPrefix(s, m.MountPath); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			return filepath.Join(dirs[m.Name], filepath.FromSlash(strings.TrimPrefix(rest, "/")))
		}
		// Flags written as --flag=/mount/path/file.
		if i := strings.Index(s, "="+m.MountPath); i >= 0 {
			return s[:i+1] + remap(s[i+1:], []corev1.VolumeMount{m}, dirs)
		}
	}
	return s
}

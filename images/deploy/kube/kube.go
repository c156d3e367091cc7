// Package kube reads Kubernetes manifests with the Kubernetes API types
// (so every field means what the kubelet makes of it) and finds the
// containers that run a service's image, as deploy.Containers. It is the
// only package of the engine module that imports k8s.io/api: the command
// that runs it (slimage-deploy) is built only when SLIMAGE_MANIFESTS is
// set.
package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/probe/report"
)

// Scheme starts a manifest's reference to a service's image
// (slimage://api), as package manifests resolves it.
const Scheme = "slimage://"

// Manifest is one file to read: Path to open, Name as messages say it.
type Manifest struct{ Path, Name string }

// Service is what a container's image is matched against: the service's
// name (slimage://<name>) and the repositories its image goes by (the
// local tag's, the pushed one's).
type Service struct {
	Name         string
	Repositories []string
}

// workload is a pod template found in a manifest.
type workload struct {
	file, object, namespace string
	pod                     corev1.PodSpec
	job                     bool
}

// objects is what the manifests hold that a container's run depends on.
type objects struct {
	workloads  []workload
	configMaps map[string]map[string]string // namespace/name: data
}

// Plan reads files and returns the containers that run svc's image.
func Plan(files []Manifest, svc Service) (*deploy.Plan, error) {
	objs := &objects{configMaps: map[string]map[string]string{}}
	plan := &deploy.Plan{Service: svc.Name}
	for _, f := range files {
		plan.Manifests = append(plan.Manifests, f.Name)
		if err := objs.read(f); err != nil {
			return nil, err
		}
	}
	for _, w := range objs.workloads {
		for _, c := range w.pod.Containers {
			match := matches(c.Image, svc)
			if match == "" {
				continue
			}
			dc, err := objs.container(w, c)
			if err != nil {
				return nil, err
			}
			dc.Match = match
			plan.Containers = append(plan.Containers, dc)
		}
	}
	return plan, nil
}

// matches says how image names svc's image: "slimage://<name>", or the
// repository it shares with one of svc's; "" for neither.
func matches(image string, svc Service) string {
	if image == Scheme+svc.Name {
		return image
	}
	if strings.HasPrefix(image, Scheme) {
		return ""
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return ""
	}
	for _, r := range svc.Repositories {
		if mine, err := name.ParseReference(r); err == nil && mine.Context().Name() == ref.Context().Name() {
			return "repository " + ref.Context().String()
		}
	}
	return ""
}

// read adds what f declares: workloads and ConfigMaps, from every YAML
// document in it (a List's items too).
func (o *objects) read(f Manifest) error {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return fmt.Errorf("read manifest %s: %w", f.Name, err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read manifest %s: document %d: %v: fix its YAML", f.Name, n, err)
		}
		if err := o.add(f.Name, n, doc); err != nil {
			return err
		}
	}
}

func (o *objects) add(file string, n int, doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return fmt.Errorf("read manifest %s: document %d: %v: fix its YAML", file, n, err)
	}
	decode := func(v any) error {
		if err := yaml.Unmarshal(doc, v); err != nil {
			return fmt.Errorf("read manifest %s: document %d (%s): %v: fix the field it names", file, n, tm.Kind, err)
		}
		return nil
	}
	add := func(kind string, meta metav1.ObjectMeta, pod corev1.PodSpec, job bool) {
		object := kind + " " + meta.Name
		if meta.Namespace != "" {
			object = kind + " " + meta.Namespace + "/" + meta.Name
		}
		o.workloads = append(o.workloads, workload{file: file, object: object, namespace: meta.Namespace, pod: pod, job: job})
	}
	switch tm.Kind {
	case "Deployment":
		var v appsv1.Deployment
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.Template.Spec, false)
	case "StatefulSet":
		var v appsv1.StatefulSet
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.Template.Spec, false)
	case "DaemonSet":
		var v appsv1.DaemonSet
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.Template.Spec, false)
	case "ReplicaSet":
		var v appsv1.ReplicaSet
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.Template.Spec, false)
	case "Job":
		var v batchv1.Job
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.Template.Spec, true)
	case "CronJob":
		var v batchv1.CronJob
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec.JobTemplate.Spec.Template.Spec, true)
	case "Pod":
		var v corev1.Pod
		if err := decode(&v); err != nil {
			return err
		}
		add(tm.Kind, v.ObjectMeta, v.Spec, v.Spec.RestartPolicy == corev1.RestartPolicyNever || v.Spec.RestartPolicy == corev1.RestartPolicyOnFailure)
	case "ConfigMap":
		var v corev1.ConfigMap
		if err := decode(&v); err != nil {
			return err
		}
		o.configMaps[v.Namespace+"/"+v.Name] = v.Data
	case "List":
		var v struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := decode(&v); err != nil {
			return err
		}
		for _, item := range v.Items {
			if err := o.add(file, n, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// container translates c of w as the kubelet runs it.
func (o *objects) container(w workload, c corev1.Container) (deploy.Container, error) {
	dc := deploy.Container{File: w.file, Object: w.object, Name: c.Name, Image: c.Image, Job: w.job}
	where := dc.Where()
	o.security(&dc, w.pod.SecurityContext, c.SecurityContext)
	for _, p := range c.Ports {
		dc.Ports = append(dc.Ports, deploy.Port{Name: p.Name, Number: int(p.ContainerPort), Protocol: string(orProto(p.Protocol))})
	}
	dc.Volumes, dc.Notes = volumes(w.pod.Volumes, c.VolumeMounts)
	env, notes, err := o.env(w, c, where)
	if err != nil {
		return dc, err
	}
	dc.Env, dc.Notes = env, append(dc.Notes, notes...)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	dc.Command, dc.Args = expandAll(c.Command, vars), expandAll(c.Args, vars)
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		dc.Memory = m.Value()
	}
	for _, p := range []struct {
		field string
		probe *corev1.Probe
	}{{report.Startup, c.StartupProbe}, {report.Readiness, c.ReadinessProbe}, {report.Liveness, c.LivenessProbe}} {
		if p.probe != nil {
			dc.Probes = append(dc.Probes, probe(p.field, p.probe, c.Ports))
		}
	}
	dc.Grace = 30 * time.Second // Kubernetes' default
	if g := w.pod.TerminationGracePeriodSeconds; g != nil {
		dc.Grace = time.Duration(*g) * time.Second
	}
	if ls := c.Lifecycle; ls != nil && ls.PreStop != nil {
		switch h := ls.PreStop; {
		case h.Sleep != nil:
			dc.PreStop = time.Duration(h.Sleep.Seconds) * time.Second
		case h.Exec != nil:
			dc.Notes = append(dc.Notes, fmt.Sprintf("lifecycle.preStop.exec %q is not run here (a scratch image has no shell or sleep to run it; lifecycle.preStop.sleep needs none)", h.Exec.Command))
		default:
			dc.Notes = append(dc.Notes, "lifecycle.preStop is not run here: only its sleep is counted against the grace period")
		}
	}
	return dc, nil
}

func orProto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// security sets what the pod's and the container's security contexts say,
// the container's winning field by field.
func (o *objects) security(dc *deploy.Container, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	var user, group *int64
	var nonRoot *bool
	if pod != nil {
		user, group, nonRoot = pod.RunAsUser, pod.RunAsGroup, pod.RunAsNonRoot
		if pod.FSGroup != nil {
			dc.FSGroup = id(pod.FSGroup)
			dc.Groups = append(dc.Groups, dc.FSGroup)
		}
		for _, g := range pod.SupplementalGroups {
			dc.Groups = append(dc.Groups, strconv.FormatInt(g, 10))
		}
	}
	if c != nil {
		if c.RunAsUser != nil {
			user = c.RunAsUser
		}
		if c.RunAsGroup != nil {
			group = c.RunAsGroup
		}
		if c.RunAsNonRoot != nil {
			nonRoot = c.RunAsNonRoot
		}
		dc.ReadOnlyRoot = c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem
		dc.NoNewPrivileges = c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation
		if caps := c.Capabilities; caps != nil {
			for _, d := range caps.Drop {
				dc.CapDrop = append(dc.CapDrop, string(d))
			}
			for _, a := range caps.Add {
				dc.CapAdd = append(dc.CapAdd, string(a))
			}
		}
	}
	dc.User, dc.Group = id(user), id(group)
	dc.RunAsNonRoot = nonRoot != nil && *nonRoot
}

func id(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

// volumes are c's mounts of emptyDir volumes; other kinds are noted.
func volumes(vols []corev1.Volume, mounts []corev1.VolumeMount) ([]deploy.Volume, []string) {
	byName := map[string]corev1.Volume{}
	for _, v := range vols {
		byName[v.Name] = v
	}
	var out []deploy.Volume
	var notes []string
	for _, m := range mounts {
		v := byName[m.Name]
		if ed := v.EmptyDir; ed != nil && m.SubPath == "" {
			dv := deploy.Volume{Name: m.Name, Path: m.MountPath}
			if ed.SizeLimit != nil {
				dv.Size = ed.SizeLimit.Value()
			}
			out = append(out, dv)
			continue
		}
		notes = append(notes, fmt.Sprintf("volume %s at %s is not mounted here (only emptyDir volumes are): what the service reads from it is missing", m.Name, m.MountPath))
	}
	return out, notes
}

// env is c's environment as the kubelet sets it: envFrom first, then env
// in order, values from ConfigMaps in the same files and namespace.
func (o *objects) env(w workload, c corev1.Container, where string) ([]string, []string, error) {
	var env, notes []string
	// $(VAR) in a value sees what is defined before it: envFrom's, then
	// env's in order.
	vars := map[string]string{}
	set := func(k, v string) {
		vars[k] = v
		for i, kv := range env {
			if strings.HasPrefix(kv, k+"=") {
				env[i] = k + "=" + v
				return
			}
		}
		env = append(env, k+"="+v)
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			data, ok := o.configMaps[w.namespace+"/"+from.ConfigMapRef.Name]
			if !ok {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, nil, fmt.Errorf("read manifests: %s: envFrom names ConfigMap %s, which is in none of the files: add it to SLIMAGE_MANIFESTS, or mark it optional", where, from.ConfigMapRef.Name)
			}
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				set(from.Prefix+k, data[k])
			}
		case from.SecretRef != nil:
			notes = append(notes, fmt.Sprintf("envFrom Secret %s is not set here (no Secret values are read)", from.SecretRef.Name))
		}
	}
	for _, e := range c.Env {
		switch vf := e.ValueFrom; {
		case vf == nil:
			set(e.Name, expand(e.Value, vars))
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			v, ok := o.configMaps[w.namespace+"/"+ref.Name][ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, nil, fmt.Errorf("read manifests: %s: env %s names key %s of ConfigMap %s, which none of the files holds: add it to SLIMAGE_MANIFESTS, or mark it optional", where, e.Name, ref.Key, ref.Name)
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			notes = append(notes, fmt.Sprintf("env %s comes from Secret %s and is not set here", e.Name, vf.SecretKeyRef.Name))
		default:
			notes = append(notes, fmt.Sprintf("env %s comes from the pod's own fields and is not set here", e.Name))
		}
	}
	return env, notes, nil
}

func optional(b *bool) bool { return b != nil && *b }

// probe translates p with Kubernetes' defaults (period 10s, timeout 1s,
// thresholds 1 and 3, scheme HTTP) and its port resolved by name.
func probe(field string, p *corev1.Probe, ports []corev1.ContainerPort) deploy.Probe {
	dp := deploy.Probe{Field: field,
		InitialDelay:     seconds(p.InitialDelaySeconds, 0),
		Period:           seconds(p.PeriodSeconds, 10),
		Timeout:          seconds(p.TimeoutSeconds, 1),
		SuccessThreshold: int(orDefault(p.SuccessThreshold, 1)),
		FailureThreshold: int(orDefault(p.FailureThreshold, 3)),
	}
	var port intstr.IntOrString
	switch h := p.ProbeHandler; {
	case h.HTTPGet != nil:
		dp.Handler, port, dp.Path, dp.Host = report.HTTPGet, h.HTTPGet.Port, h.HTTPGet.Path, h.HTTPGet.Host
		dp.Scheme = string(h.HTTPGet.Scheme)
		if dp.Scheme == "" {
			dp.Scheme = "HTTP"
		}
		if dp.Path == "" {
			dp.Path = "/"
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			dp.Headers = append(dp.Headers, deploy.Header{Name: hd.Name, Value: hd.Value})
		}
	case h.TCPSocket != nil:
		dp.Handler, port, dp.Host = report.TCPSocket, h.TCPSocket.Port, h.TCPSocket.Host
	case h.GRPC != nil:
		dp.Handler, port = report.GRPC, intstr.FromInt32(h.GRPC.Port)
		if h.GRPC.Service != nil {
			dp.Service = *h.GRPC.Service
		}
	case h.Exec != nil:
		dp.Handler, dp.Command = report.Exec, h.Exec.Command
		return dp
	}
	if port.Type == intstr.String {
		dp.PortName = port.StrVal
		for _, cp := range ports {
			if cp.Name == port.StrVal {
				dp.Port = int(cp.ContainerPort)
			}
		}
	} else {
		dp.Port = port.IntValue()
	}
	return dp
}

func seconds(v, def int32) time.Duration {
	if v == 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func expandAll(args []string, vars map[string]string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expand(a, vars)
	}
	return out
}

// expand replaces $(VAR) with VAR's value where the container defines
// it, and $$ with $, as the kubelet does in command, args and env.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := vars[name]; ok {
					b.WriteString(v)
				} else {
					b.WriteString("$(" + name + ")")
				}
				i += 2 + end
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

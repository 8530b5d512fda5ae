package kubernetes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const testNamespace = "trtserve-test"

// loadCRDs reads every vendored CRD once; the subtests share them.
var loadCRDs = sync.OnceValues(func() (map[string]*crdSchema, error) {
	m := map[string]*crdSchema{}
	for key := range crdFiles {
		i := strings.LastIndex(key, "/")
		s, err := loadCRD(key[:i], key[i+1:])
		if err != nil {
			return nil, err
		}
		m[key] = s
	}
	return m, nil
})

func crds(t testing.TB) map[string]*crdSchema {
	t.Helper()
	m, err := loadCRDs()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rendered is one `helm template`, every object checked and the built-in
// ones decoded.
type rendered struct {
	objs        []object
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	ingresses   []*networkingv1.Ingress
	configMaps  []*corev1.ConfigMap
	pvcs        []*corev1.PersistentVolumeClaim
	custom      map[string][]map[string]any // kind -> objects
}

func helmArgs(values []string, set []string) []string {
	args := []string{}
	for _, v := range values {
		args = append(args, "-f", filepath.Join(chartDir, "ci", v))
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

func helmTemplate(t testing.TB, values, set []string) ([]byte, error) {
	t.Helper()
	args := append([]string{"template", "t", chartDir, "--namespace", testNamespace}, helmArgs(values, set)...)
	return run(t, tool(t, "helm"), args...)
}

// render runs helm template and checks every object strictly.
func render(t *testing.T, values, set []string) *rendered {
	t.Helper()
	out, err := helmTemplate(t, values, set)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := splitYAML(out)
	if err != nil {
		t.Fatal(err)
	}
	return check(t, objs)
}

func check(t *testing.T, objs []object) *rendered {
	t.Helper()
	r := &rendered{objs: objs, custom: map[string][]map[string]any{}}
	schemas := crds(t)
	for _, o := range objs {
		typed, err := checkObject(o, schemas)
		if err != nil {
			t.Error(err)
			continue
		}
		switch v := typed.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, v)
		case *corev1.Service:
			r.services = append(r.services, v)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, v)
		case *networkingv1.Ingress:
			r.ingresses = append(r.ingresses, v)
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, v)
		case *corev1.PersistentVolumeClaim:
			r.pvcs = append(r.pvcs, v)
		case nil:
			var m map[string]any
			_ = kjson.UnmarshalCaseSensitivePreserveInts(o.Raw, &m)
			r.custom[o.Kind] = append(r.custom[o.Kind], m)
		}
	}
	return r
}

func (r *rendered) count() map[string]int {
	c := map[string]int{}
	for _, o := range r.objs {
		c[o.Kind]++
	}
	return c
}

// dig walks a decoded custom resource.
func dig(m any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[k]
		case int:
			l, ok := m.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			m = l[k]
		}
	}
	return m
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func mount(c corev1.Container, name string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func volume(s corev1.PodSpec, name string) (corev1.Volume, bool) {
	for _, v := range s.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return corev1.Volume{}, false
}

func isGPU(d *appsv1.Deployment) bool {
	q, ok := d.Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
	return ok && !q.IsZero()
}

// checkCommon holds for every rendering: what the issue asks of each pod.
func checkCommon(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.deployments) == 0 {
		t.Fatal("no Deployment rendered")
	}
	if len(r.services) != 1 {
		t.Fatalf("want one Service, got %d", len(r.services))
	}
	svc := r.services[0]
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["http"] == 0 || ports["metrics"] == 0 {
		t.Errorf("Service ports %v: want http and metrics", ports)
	}
	for _, d := range r.deployments {
		pod := d.Spec.Template
		if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s: selector %v does not match its pods' labels %v", d.Name, d.Spec.Selector.MatchLabels, pod.Labels)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s: the Service's selector %v does not select its pods %v", d.Name, svc.Spec.Selector, pod.Labels)
		}
		ps := pod.Spec
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod does not require a non-root user", d.Name)
		}
		if len(ps.TopologySpreadConstraints) == 0 {
			t.Errorf("%s: no topology spread", d.Name)
		}
		c := ps.Containers[0]
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container must have a read-only root filesystem and no privilege escalation: %+v", d.Name, sc)
		}
		if _, ok := mount(c, "tmp"); !ok {
			t.Errorf("%s: no writable /tmp on a read-only root filesystem", d.Name)
		}
		if m, ok := mount(c, "models"); !ok || !m.ReadOnly || m.MountPath != "/models" {
			t.Errorf("%s: models must be mounted read-only at /models: %+v", d.Name, m)
		}
		checkPorts(t, d.Name, c, svc)
		tlsOn := checkTLS(t, d.Name, ps, c)
		_, mutual := env(c, "TRTSERVE_TLS_CLIENT_CA")
		grpcPort, _ := containerPort(c, "grpc")
		probe := func(name string, p *corev1.Probe, path string) {
			switch {
			case p == nil:
				t.Errorf("%s: no %s probe", d.Name, name)
			case p.GRPC != nil:
				// Kubernetes gRPC probes never speak TLS, and only the
				// readiness answer exists in grpc.health.v1.
				if tlsOn || path != "/v2/health/ready" || grpcPort == 0 || p.GRPC.Port != grpcPort {
					t.Errorf("%s: %s gRPC probe %+v (TLS %v, gRPC port %d): only startup/readiness, on the gRPC port, without TLS", d.Name, name, p.GRPC, tlsOn, grpcPort)
				}
			case mutual:
				// The kubelet has no client certificate: an HTTPS GET
				// would fail its handshake, and a tcpSocket probe would
				// call the pod ready before its models load. The probes
				// GET the health port, plain HTTP, which the server opens
				// (TRTSERVE_HEALTH_PORT) and the Service does not carry.
				hp, inPod := containerPort(c, "health")
				e, set := env(c, "TRTSERVE_HEALTH_PORT")
				_, onSvc := servicePort(svc, "health")
				switch {
				case !inPod || !set || e.Value != fmt.Sprint(hp) || onSvc:
					t.Errorf("%s: under mutual TLS the container needs a health port that TRTSERVE_HEALTH_PORT opens (port %d %v, env %+v), not on the Service (%v)", d.Name, hp, inPod, e, onSvc)
				case p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "health" || (p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP):
					t.Errorf("%s: under mutual TLS the %s probe must GET %s on the health port in plain HTTP: %+v", d.Name, name, path, p)
				}
			default:
				want := corev1.URISchemeHTTP
				if tlsOn {
					want = corev1.URISchemeHTTPS
				}
				if p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
					t.Errorf("%s: %s probe must GET %s on the HTTP port: %+v", d.Name, name, path, p)
				} else if got := p.HTTPGet.Scheme; got != want && (got != "" || want != corev1.URISchemeHTTP) {
					t.Errorf("%s: %s probe scheme %q, want %q (TLS %v)", d.Name, name, got, want, tlsOn)
				}
			}
		}
		probe("liveness", c.LivenessProbe, "/healthz")
		if c.LivenessProbe != nil && c.LivenessProbe.GRPC != nil {
			t.Errorf("%s: liveness must not be a gRPC probe: grpc.health.v1 answers readiness", d.Name)
		}
		probe("readiness", c.ReadinessProbe, "/v2/health/ready")
		probe("startup", c.StartupProbe, "/v2/health/ready")
		if sp := c.StartupProbe; sp != nil && sp.PeriodSeconds*sp.FailureThreshold < 600 {
			t.Errorf("%s: startup probe allows %d s, too short for engine builds", d.Name, sp.PeriodSeconds*sp.FailureThreshold)
		}
		// The grace period must cover the preStop sleep and the drain.
		drain := 0 * time.Second
		if e, ok := env(c, "TRTSERVE_SHUTDOWN_TIMEOUT"); ok {
			var err error
			if drain, err = time.ParseDuration(e.Value); err != nil {
				t.Errorf("%s: TRTSERVE_SHUTDOWN_TIMEOUT %q: %v", d.Name, e.Value, err)
			}
		} else {
			t.Errorf("%s: TRTSERVE_SHUTDOWN_TIMEOUT not set", d.Name)
		}
		var preStop int64
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = c.Lifecycle.PreStop.Sleep.Seconds
		}
		if g := ps.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain+time.Duration(preStop)*time.Second {
			t.Errorf("%s: terminationGracePeriodSeconds %v does not cover preStop %d s + drain %v", d.Name, g, preStop, drain)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: needs cpu requests and a memory limit: %+v", d.Name, c.Resources)
		}
		pool := pod.Labels["trtserve.io/pool"]
		if isGPU(d) {
			if q := c.Resources.Limits["nvidia.com/gpu"]; q.Value() != 1 {
				t.Errorf("%s: a GPU pod asks for exactly one GPU, not %s", d.Name, q.String())
			}
			if e, _ := env(c, "TRTSERVE_EXIT_ON_GPU_FAULT"); e.Value != "true" {
				t.Errorf("%s: GPU pods must exit on a GPU fault so the kubelet restarts them", d.Name)
			}
			if !strings.HasSuffix(c.Image, ":tensorrt") {
				t.Errorf("%s: GPU image %s", d.Name, c.Image)
			}
			m, ok := mount(c, "engine-cache")
			e, _ := env(c, "TRTSERVE_ENGINE_CACHE_DIR")
			if !ok || e.Value != m.MountPath {
				t.Errorf("%s: TRTSERVE_ENGINE_CACHE_DIR %q is not the engine-cache mount %+v", d.Name, e.Value, m)
			}
			if v, _ := volume(ps, "engine-cache"); v.EmptyDir == nil && m.SubPath != pool {
				t.Errorf("%s: the engine cache must be keyed per GPU pool (subPath %q, pool %q)", d.Name, m.SubPath, pool)
			}
		} else {
			if e, _ := env(c, "TRTSERVE_TENSORRT"); e.Value != "off" {
				t.Errorf("%s: a CPU pod must not look for TensorRT", d.Name)
			}
			if !strings.HasSuffix(c.Image, ":cpu") {
				t.Errorf("%s: CPU image %s", d.Name, c.Image)
			}
		}
	}
	for _, p := range r.pdbs {
		sel := labels.SelectorFromSet(p.Spec.Selector.MatchLabels)
		n := 0
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d Deployments' pods, want 1", p.Name, n)
		}
	}
}

func containerPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func servicePort(svc *corev1.Service, name string) (corev1.ServicePort, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

// checkPorts: the gRPC port is declared in the container, set in
// TRTSERVE_GRPC_PORT and opened on the Service together, or not at all
// (TRTSERVE_GRPC_PORT=0, since the server's default is 8001).
func checkPorts(t *testing.T, name string, c corev1.Container, svc *corev1.Service) {
	t.Helper()
	e, ok := env(c, "TRTSERVE_GRPC_PORT")
	if !ok {
		t.Errorf("%s: TRTSERVE_GRPC_PORT not set (the server would open 8001 whatever the chart says)", name)
	}
	cp, inPod := containerPort(c, "grpc")
	sp, inSvc := servicePort(svc, "grpc")
	switch {
	case inPod != inSvc:
		t.Errorf("%s: gRPC port in the container %v, on the Service %v: both or neither", name, inPod, inSvc)
	case inPod:
		if e.Value != fmt.Sprint(cp) {
			t.Errorf("%s: TRTSERVE_GRPC_PORT %q is not the container's grpc port %d", name, e.Value, cp)
		}
		if sp.TargetPort.String() != "grpc" || sp.Port != cp {
			t.Errorf("%s: Service grpc port %+v does not reach the container's %d", name, sp, cp)
		}
	default:
		if e.Value != "0" {
			t.Errorf("%s: gRPC not declared, yet TRTSERVE_GRPC_PORT is %q (want 0: off)", name, e.Value)
		}
	}
}

// checkTLS: with TRTSERVE_TLS_CERT set, the files come read-only from the
// Secret mounted as a whole folder (so a rotated Secret reaches it), and
// the Service says https. It returns whether TLS is on.
func checkTLS(t *testing.T, name string, ps corev1.PodSpec, c corev1.Container) bool {
	t.Helper()
	cert, on := env(c, "TRTSERVE_TLS_CERT")
	key, haveKey := env(c, "TRTSERVE_TLS_KEY")
	ca, mutual := env(c, "TRTSERVE_TLS_CLIENT_CA")
	if !on {
		if haveKey || mutual {
			t.Errorf("%s: TLS key or client CA without a certificate", name)
		}
		if _, ok := volume(ps, "tls"); ok {
			t.Errorf("%s: a tls volume without TLS", name)
		}
		return false
	}
	m, ok := mount(c, "tls")
	if !ok || !m.ReadOnly || m.SubPath != "" {
		t.Fatalf("%s: TLS files must be a read-only mount of the whole Secret (no subPath): %+v", name, m)
	}
	files := map[string]string{} // path in the volume -> Secret key
	v, _ := volume(ps, "tls")
	if v.Projected == nil {
		t.Fatalf("%s: tls volume %+v is not the Secret(s)", name, v)
	}
	if v.Projected.DefaultMode == nil || *v.Projected.DefaultMode&0o007 != 0 {
		t.Errorf("%s: TLS files readable by others: mode %v", name, v.Projected.DefaultMode)
	}
	for _, src := range v.Projected.Sources {
		if src.Secret == nil || src.Secret.Name == "" {
			t.Errorf("%s: tls volume source %+v is not a Secret", name, src)
			continue
		}
		for _, it := range src.Secret.Items {
			files[m.MountPath+"/"+it.Path] = it.Key
		}
	}
	if files[cert.Value] != "tls.crt" || files[key.Value] != "tls.key" {
		t.Errorf("%s: TRTSERVE_TLS_CERT %q / KEY %q are not the Secret's tls.crt / tls.key (%v)", name, cert.Value, key.Value, files)
	}
	if mutual && files[ca.Value] == "" {
		t.Errorf("%s: TRTSERVE_TLS_CLIENT_CA %q is not in the tls volume (%v)", name, ca.Value, files)
	}
	return true
}

func deploymentByPool(t *testing.T, r *rendered, pool string) *appsv1.Deployment {
	t.Helper()
	for _, d := range r.deployments {
		if d.Spec.Template.Labels["trtserve.io/pool"] == pool {
			return d
		}
	}
	t.Fatalf("no Deployment for pool %s", pool)
	return nil
}

// TestChartMatrix is the values matrix: helm lint --strict and helm
// template for each case, every object decoded strictly or validated
// against its CRD, and what each case is for checked on the result.
func TestChartMatrix(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   map[string]int
		check  func(t *testing.T, r *rendered)
	}{
		{"defaults", nil,
			map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1, "PersistentVolumeClaim": 1},
			func(t *testing.T, r *rendered) {
				d := r.deployments[0]
				if !isGPU(d) || *d.Spec.Replicas != 1 {
					t.Errorf("default pool is one GPU pod: %+v", d.Spec)
				}
				pvc := r.pvcs[0]
				if len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteMany {
					t.Errorf("the engine cache claim is shared by pods on several nodes: %v", pvc.Spec.AccessModes)
				}
				if v, _ := volume(d.Spec.Template.Spec, "engine-cache"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
					t.Errorf("engine-cache volume %+v is not the chart's claim %s", v, pvc.Name)
				}
				// gRPC is served by default, on Triton's port, plain.
				c := d.Spec.Template.Spec.Containers[0]
				if e, _ := env(c, "TRTSERVE_GRPC_PORT"); e.Value != "8001" {
					t.Errorf("TRTSERVE_GRPC_PORT %q, want 8001 by default", e.Value)
				}
				p, _ := servicePort(r.services[0], "grpc")
				if p.Port != 8001 || p.AppProtocol == nil || *p.AppProtocol != "grpc" {
					t.Errorf("Service grpc port %+v: want 8001, appProtocol grpc", p)
				}
				if c.ReadinessProbe.HTTPGet == nil {
					t.Error("the default probes are HTTP")
				}
				if _, ok := env(c, "TRTSERVE_TLS_CERT"); ok {
					t.Error("TLS is off by default")
				}
			}},
		{"grpc-off", []string{"grpc-off-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1},
			func(t *testing.T, r *rendered) {
				c := r.deployments[0].Spec.Template.Spec.Containers[0]
				if e, _ := env(c, "TRTSERVE_GRPC_PORT"); e.Value != "0" {
					t.Errorf("TRTSERVE_GRPC_PORT %q, want 0 (off)", e.Value)
				}
				if _, ok := servicePort(r.services[0], "grpc"); ok {
					t.Error("gRPC off, yet the Service opens a grpc port")
				}
			}},
		{"grpc-probes", []string{"grpc-probes-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1},
			func(t *testing.T, r *rendered) {
				c := r.deployments[0].Spec.Template.Spec.Containers[0]
				for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe} {
					if p.GRPC == nil || p.GRPC.Port != 9100 || (p.GRPC.Service != nil && *p.GRPC.Service != "") {
						t.Errorf("%s probe %+v: want grpc.health.v1 on port 9100, service \"\"", name, p)
					}
				}
				if c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
					t.Errorf("liveness stays GET /healthz: %+v", c.LivenessProbe)
				}
				if e, _ := env(c, "TRTSERVE_GRPC_PORT"); e.Value != "9100" {
					t.Errorf("TRTSERVE_GRPC_PORT %q, want 9100", e.Value)
				}
			}},
		{"tls", []string{"tls-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1, "ServiceMonitor": 1},
			func(t *testing.T, r *rendered) {
				d := r.deployments[0]
				c := d.Spec.Template.Spec.Containers[0]
				if _, ok := env(c, "TRTSERVE_TLS_CLIENT_CA"); ok {
					t.Error("mutual TLS not asked for")
				}
				if c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
					t.Errorf("readiness probe %+v: want HTTPS", c.ReadinessProbe)
				}
				v, _ := volume(d.Spec.Template.Spec, "tls")
				if src := v.Projected.Sources; len(src) != 1 || src[0].Secret.Name != "trtserve-server-tls" {
					t.Errorf("tls volume sources %+v: want the trtserve-server-tls Secret", src)
				}
				for _, name := range []string{"http", "metrics"} {
					if p, _ := servicePort(r.services[0], name); p.AppProtocol == nil || *p.AppProtocol != "https" {
						t.Errorf("Service port %s appProtocol %v, want https", name, p.AppProtocol)
					}
				}
				if p, _ := servicePort(r.services[0], "grpc"); p.AppProtocol != nil {
					t.Errorf("gRPC over TLS has no standard appProtocol, got %q", *p.AppProtocol)
				}
				sm := r.custom["ServiceMonitor"][0]
				if dig(sm, "spec", "endpoints", 0, "scheme") != "https" ||
					dig(sm, "spec", "endpoints", 0, "tlsConfig", "ca", "secret", "name") != "trtserve-server-tls" ||
					dig(sm, "spec", "endpoints", 0, "tlsConfig", "serverName") != "t-trtserve."+testNamespace+".svc" {
					t.Errorf("ServiceMonitor endpoint %v: want https, verified against the Secret's CA for the Service's name", dig(sm, "spec", "endpoints", 0))
				}
			}},
		{"mutual-tls", []string{"mtls-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1, "ServiceMonitor": 1, "PersistentVolumeClaim": 0},
			func(t *testing.T, r *rendered) {
				d := r.deployments[0]
				c := d.Spec.Template.Spec.Containers[0]
				e, ok := env(c, "TRTSERVE_TLS_CLIENT_CA")
				if !ok {
					t.Fatal("TRTSERVE_TLS_CLIENT_CA not set")
				}
				v, _ := volume(d.Spec.Template.Spec, "tls")
				var caFrom string
				for _, src := range v.Projected.Sources {
					for _, it := range src.Secret.Items {
						if strings.HasSuffix(e.Value, "/"+it.Path) {
							caFrom = src.Secret.Name + "/" + it.Key
						}
					}
				}
				if caFrom != "trtserve-client-ca/ca.crt" {
					t.Errorf("client CA from %q, want trtserve-client-ca/ca.crt", caFrom)
				}
				sm := r.custom["ServiceMonitor"][0]
				if dig(sm, "spec", "endpoints", 0, "tlsConfig", "keySecret", "name") != "prometheus-trtserve-client" ||
					dig(sm, "spec", "endpoints", 0, "authorization", "credentials", "name") != "trtserve-api-key" {
					t.Errorf("ServiceMonitor endpoint %v: want Prometheus's client certificate and the API key", dig(sm, "spec", "endpoints", 0))
				}
			}},
		{"cpu-only", []string{"cpu-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1},
			func(t *testing.T, r *rendered) {
				d := r.deployments[0]
				if isGPU(d) {
					t.Error("CPU pool asks for a GPU")
				}
				if v, _ := volume(d.Spec.Template.Spec, "models"); v.Image == nil || v.Image.Reference == "" {
					t.Errorf("models should be an image volume: %+v", v)
				}
				if _, ok := volume(d.Spec.Template.Spec, "engine-cache"); ok {
					t.Error("CPU pool has an engine cache")
				}
			}},
		{"one-gpu", []string{"gpu-values.yaml"},
			map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1, "PersistentVolumeClaim": 1},
			func(t *testing.T, r *rendered) {
				d := deploymentByPool(t, r, "a100")
				if got := d.Spec.Template.Spec.NodeSelector["nvidia.com/gpu.product"]; got != "NVIDIA-A100-SXM4-80GB" {
					t.Errorf("pool not pinned to its GPU model: nodeSelector %v", d.Spec.Template.Spec.NodeSelector)
				}
				if e, _ := env(d.Spec.Template.Spec.Containers[0], "TRTSERVE_INSTANCE_COUNT"); e.Value != "2" {
					t.Errorf("instance count %q, want 2", e.Value)
				}
			}},
		{"autoscaling-prometheus-adapter-queue-depth", []string{"autoscaling-adapter-values.yaml"},
			map[string]int{"Deployment": 1, "HorizontalPodAutoscaler": 1, "ServiceMonitor": 1, "ConfigMap": 1},
			func(t *testing.T, r *rendered) {
				d, h := r.deployments[0], r.hpas[0]
				if d.Spec.Replicas != nil {
					t.Error("with an autoscaler the Deployment must not set replicas (each upgrade would reset them)")
				}
				if h.Spec.ScaleTargetRef.Name != d.Name || h.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("HPA targets %+v, not %s", h.Spec.ScaleTargetRef, d.Name)
				}
				m := h.Spec.Metrics[0]
				if m.Type != autoscalingv2.ExternalMetricSourceType || m.External.Metric.Name != "trtserve_pending_requests" ||
					m.External.Target.Type != autoscalingv2.AverageValueMetricType || m.External.Target.AverageValue.Value() != 16 {
					t.Errorf("HPA metric %+v: want external trtserve_pending_requests, AverageValue 16", m)
				}
				if m.External.Metric.Selector.MatchLabels["trtserve_io_pool"] != "gpu" {
					t.Errorf("HPA metric must select its pool's pods: %+v", m.External.Metric.Selector)
				}
				if w := h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds; w == nil || *w < 600 {
					t.Errorf("scale-down stabilisation %v: pods building engines need longer", w)
				}
				c := d.Spec.Template.Spec.Containers[0]
				if e, _ := env(c, "TRTSERVE_API_KEY"); e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "trtserve-api-key" {
					t.Errorf("API key must come from the Secret: %+v", e)
				}
				sm := r.custom["ServiceMonitor"][0]
				if dig(sm, "spec", "endpoints", 0, "authorization", "credentials", "name") != "trtserve-api-key" {
					t.Error("ServiceMonitor must scrape /metrics with the API key")
				}
				if dig(sm, "spec", "podTargetLabels", 0) != "trtserve.io/pool" {
					t.Error("ServiceMonitor must copy the pool label the autoscaler selects on")
				}
				var dash map[string]any
				if err := json.Unmarshal([]byte(r.configMaps[0].Data["trtserve.json"]), &dash); err != nil {
					t.Errorf("Grafana dashboard is not JSON: %v", err)
				}
			}},
		{"autoscaling-prometheus-adapter-queue-time", []string{"autoscaling-adapter-queue-time-values.yaml"},
			map[string]int{"HorizontalPodAutoscaler": 1, "ServiceMonitor": 1},
			func(t *testing.T, r *rendered) {
				m := r.hpas[0].Spec.Metrics[0]
				if m.External.Metric.Name != "trtserve_queue_time_ms" || m.External.Target.Type != autoscalingv2.ValueMetricType || m.External.Target.Value.Value() != 50 {
					t.Errorf("HPA metric %+v: want trtserve_queue_time_ms, Value 50", m)
				}
			}},
		{"autoscaling-keda-queue-time-two-gpu-models", []string{"autoscaling-keda-values.yaml"},
			map[string]int{"Deployment": 2, "ScaledObject": 2, "PodDisruptionBudget": 2, "HorizontalPodAutoscaler": 0, "PersistentVolumeClaim": 0},
			func(t *testing.T, r *rendered) {
				a, l := deploymentByPool(t, r, "a100"), deploymentByPool(t, r, "l4")
				for _, d := range []*appsv1.Deployment{a, l} {
					ps := d.Spec.Template.Spec
					if v, _ := volume(ps, "engine-cache"); v.HostPath == nil {
						t.Errorf("%s: engine cache should be a hostPath: %+v", d.Name, v)
					}
					if len(ps.InitContainers) != 1 || ps.InitContainers[0].Args[0] != "s3://models/trtserve" {
						t.Errorf("%s: the init container must fetch the storage URI: %+v", d.Name, ps.InitContainers)
					}
				}
				ma, _ := mount(a.Spec.Template.Spec.Containers[0], "engine-cache")
				ml, _ := mount(l.Spec.Template.Spec.Containers[0], "engine-cache")
				if ma.SubPath == ml.SubPath {
					t.Errorf("two GPU models share the engine cache folder %q", ma.SubPath)
				}
				for _, so := range r.custom["ScaledObject"] {
					pool := strings.TrimPrefix(dig(so, "metadata", "name").(string), "t-trtserve-")
					q, _ := dig(so, "spec", "triggers", 0, "metadata", "query").(string)
					if !strings.Contains(q, `trtserve_io_pool="`+pool+`"`) || !strings.Contains(q, "nv_inference_queue_duration_us") {
						t.Errorf("ScaledObject %s query %q must read its own pool's queue time", pool, q)
					}
					if dig(so, "spec", "scaleTargetRef", "name") != "t-trtserve-"+pool {
						t.Errorf("ScaledObject %s targets %v", pool, dig(so, "spec", "scaleTargetRef"))
					}
					if w := fmt.Sprint(dig(so, "spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds")); w != "900" {
						t.Errorf("ScaledObject %s scale-down stabilisation %v", pool, w)
					}
				}
			}},
		{"autoscaling-keda-queue-depth", []string{"autoscaling-keda-queue-depth-values.yaml"},
			map[string]int{"ScaledObject": 1},
			func(t *testing.T, r *rendered) {
				so := r.custom["ScaledObject"][0]
				if dig(so, "spec", "triggers", 0, "metricType") != "AverageValue" {
					t.Errorf("queue depth is per pod: AverageValue, got %v", dig(so, "spec", "triggers", 0, "metricType"))
				}
				if n := fmt.Sprint(dig(so, "spec", "minReplicaCount")); n != "1" {
					t.Errorf("minReplicaCount %v: never scale to zero", n)
				}
			}},
		{"ingress", []string{"ingress-values.yaml"},
			map[string]int{"Ingress": 1},
			func(t *testing.T, r *rendered) {
				if len(r.ingresses[0].Spec.TLS) != 0 {
					t.Error("TLS off, yet the Ingress has TLS")
				}
			}},
		{"ingress-tls-grpc", []string{"ingress-tls-values.yaml"},
			map[string]int{"Ingress": 1},
			func(t *testing.T, r *rendered) {
				in := r.ingresses[0]
				if len(in.Spec.TLS) != 1 || in.Spec.TLS[0].SecretName != "trtserve-tls" {
					t.Errorf("Ingress TLS %+v: want the trtserve-tls Secret", in.Spec.TLS)
				}
				found := false
				for _, p := range r.services[0].Spec.Ports {
					found = found || (p.Name == "grpc" && p.Port == 8001)
				}
				if !found {
					t.Error("service.grpc.enabled did not open the grpc port")
				}
			}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		for _, v := range c.values {
			seen[v] = true
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			lint := append([]string{"lint", chartDir, "--strict", "--namespace", testNamespace}, helmArgs(c.values, nil)...)
			if out, err := run(t, tool(t, "helm"), lint...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			r := render(t, c.values, nil)
			got := r.count()
			for kind, n := range c.want {
				if got[kind] != n {
					t.Errorf("%s: %d rendered, want %d (all: %v)", kind, got[kind], n, got)
				}
			}
			checkCommon(t, r)
			c.check(t, r)
		})
	}
	// Every values file of the chart's ci/ folder is in the matrix.
	files, _ := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s is not in TestChartMatrix", f)
		}
	}
}

// TestKServeManifests checks deploy/kserve against KServe's CRDs.
func TestKServeManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(kserveDir, "*.yaml"))
	if len(files) != 3 {
		t.Fatalf("want servingruntime, clusterservingruntime and inferenceservice, got %v", files)
	}
	kinds := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := splitYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r := check(t, objs)
		for k, v := range r.custom {
			kinds[k] = v[0]
		}
	}
	for _, k := range []string{"ServingRuntime", "ClusterServingRuntime"} {
		rt := kinds[k]
		if rt == nil {
			t.Fatalf("no %s", k)
		}
		var formats []string
		for _, f := range dig(rt, "spec", "supportedModelFormats").([]any) {
			formats = append(formats, dig(f, "name").(string))
		}
		sort.Strings(formats)
		if strings.Join(formats, ",") != "onnx,tensorrt" {
			t.Errorf("%s formats %v, want onnx and tensorrt", k, formats)
		}
		// trtserve serves KServe v2 over HTTP (8080) and gRPC (8001).
		protos, _ := json.Marshal(dig(rt, "spec", "protocolVersions"))
		if string(protos) != `["v2","grpc-v2"]` {
			t.Errorf("%s protocolVersions %s, want [v2 grpc-v2]", k, protos)
		}
		c := dig(rt, "spec", "containers", 0)
		args, _ := json.Marshal(dig(c, "args"))
		for _, a := range []string{"--model-repository=/mnt/models", "--port=8080", "--grpc-port=8001"} {
			if !strings.Contains(string(args), `"`+a+`"`) {
				t.Errorf("%s args %s: want %s (KServe's storage-initializer fills /mnt/models; HTTP on KServe's 8080, gRPC on 8001)", k, args, a)
			}
		}
		// No port declared, as KServe's Triton runtime: an
		// InferenceService names its own, and a runtime port would be
		// merged with a grpc-v2 InferenceService's h2c port into the two
		// ports Knative refuses.
		if p := dig(c, "ports"); p != nil {
			t.Errorf("%s declares ports %v: leave them to the InferenceService", k, p)
		}
		if dig(c, "name") != "kserve-container" {
			t.Errorf("%s: KServe expects the container named kserve-container", k)
		}
		if dig(c, "readinessProbe", "httpGet", "path") != "/v2/health/ready" {
			t.Errorf("%s readiness probe %v", k, dig(c, "readinessProbe"))
		}
	}
	is := kinds["InferenceService"]
	if dig(is, "spec", "predictor", "model", "runtime") != "trtserve" {
		t.Errorf("InferenceService runtime %v", dig(is, "spec", "predictor", "model", "runtime"))
	}
	// The RawDeployment example exposes both protocols: HTTP first (the
	// Service's port 80), then a port KServe marks kubernetes.io/h2c.
	ports, _ := json.Marshal(dig(is, "spec", "predictor", "model", "ports"))
	if !regexp.MustCompile(`^\[\{"containerPort":8080,"name":"http1"[^}]*\},\{"containerPort":8001,"name":"grpc"`).Match(ports) {
		t.Errorf("InferenceService ports %s: want http1 8080 then grpc 8001", ports)
	}
}

// TestMisspelledFieldsFail proves the checks above can fail: one wrong
// field name (or type) in an otherwise valid rendering must be caught,
// for built-in kinds and for each CRD.
func TestMisspelledFieldsFail(t *testing.T) {
	out, err := helmTemplate(t, []string{"autoscaling-adapter-values.yaml", "ingress-tls-values.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := splitYAML(out)
	if err != nil {
		t.Fatal(err)
	}
	kobjs, err := splitYAML(mustRead(t, filepath.Join(kserveDir, "servingruntime.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	base = append(base, kobjs...)
	keda, err := helmTemplate(t, []string{"autoscaling-keda-values.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kedaObjs, _ := splitYAML(keda)
	base = append(base, kedaObjs...)
	isvc, _ := splitYAML(mustRead(t, filepath.Join(kserveDir, "inferenceservice.yaml")))
	base = append(base, isvc...)

	cases := []struct {
		name, kind string
		edit       func(m map[string]any)
		want       error
	}{
		{"deployment probe", "Deployment", func(m map[string]any) {
			c := dig(m, "spec", "template", "spec", "containers", 0).(map[string]any)
			c["readinessProbez"] = c["readinessProbe"]
			delete(c, "readinessProbe")
		}, errStrict},
		{"deployment field case", "Deployment", func(m map[string]any) {
			s := m["spec"].(map[string]any)
			s["RevisionHistoryLimit"] = s["revisionHistoryLimit"]
			delete(s, "revisionHistoryLimit")
		}, errStrict},
		{"hpa type", "HorizontalPodAutoscaler", func(m map[string]any) { m["spec"].(map[string]any)["maxReplicas"] = "ten" }, errors.New("")},
		{"service port", "Service", func(m map[string]any) {
			dig(m, "spec", "ports", 0).(map[string]any)["targetPorts"] = "http"
		}, errStrict},
		{"ingress tls", "Ingress", func(m map[string]any) { dig(m, "spec", "tls", 0).(map[string]any)["secret"] = "x" }, errStrict},
		{"pdb", "PodDisruptionBudget", func(m map[string]any) { m["spec"].(map[string]any)["maxUnavailible"] = 1 }, errStrict},
		{"servicemonitor endpoint", "ServiceMonitor", func(m map[string]any) {
			dig(m, "spec", "endpoints", 0).(map[string]any)["intervall"] = "15s"
		}, errSchema},
		{"servicemonitor type", "ServiceMonitor", func(m map[string]any) {
			dig(m, "spec", "endpoints", 0, "authorization").(map[string]any)["credentials"] = "not-an-object"
		}, errSchema},
		{"scaledobject", "ScaledObject", func(m map[string]any) { m["spec"].(map[string]any)["minReplicaCnt"] = 1 }, errSchema},
		{"scaledobject trigger", "ScaledObject", func(m map[string]any) {
			dig(m, "spec", "triggers", 0).(map[string]any)["metadataa"] = map[string]any{}
		}, errSchema},
		{"servingruntime", "ServingRuntime", func(m map[string]any) {
			m["spec"].(map[string]any)["supportedModelFormat"] = m["spec"].(map[string]any)["supportedModelFormats"]
		}, errSchema},
		{"servingruntime container", "ServingRuntime", func(m map[string]any) {
			dig(m, "spec", "containers", 0).(map[string]any)["imagee"] = "x"
		}, errSchema},
		{"inferenceservice", "InferenceService", func(m map[string]any) {
			dig(m, "spec", "predictor", "model").(map[string]any)["storageURI"] = "s3://x"
		}, errSchema},
		{"metadata", "ServiceMonitor", func(m map[string]any) { m["metadata"].(map[string]any)["label"] = map[string]any{} }, errStrict},
	}
	schemas := crds(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o object
			for _, b := range base {
				if b.Kind == c.kind {
					o = b
					break
				}
			}
			if o.Kind == "" {
				t.Fatalf("no %s rendered", c.kind)
			}
			// The untouched object passes; the edited one must not.
			if _, err := checkObject(o, schemas); err != nil {
				t.Fatalf("unedited %s fails: %v", o, err)
			}
			var m map[string]any
			if err := kjson.UnmarshalCaseSensitivePreserveInts(o.Raw, &m); err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			o.Raw, _ = json.Marshal(m)
			_, err := checkObject(o, schemas)
			if err == nil {
				t.Fatalf("edited %s passed", o)
			}
			if c.want.Error() != "" && !errors.Is(err, c.want) {
				t.Fatalf("edited %s: %v, want %v", o, err, c.want)
			}
			t.Logf("rejected as it should be: %v", err)
		})
	}
}

// TestBadValuesFailToRender: values that would make a broken or
// meaningless deployment stop helm template with a message saying why,
// from values.schema.json or from the templates' own checks.
func TestBadValuesFailToRender(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"two gpus per pod", "pools: [{name: big, gpu: {count: 2}}]", "one GPU per process"},
		{"duplicate pool", "pools: [{name: a, gpu: {count: 1}}, {name: a, gpu: {count: 0}}]", `name "a" is used twice`},
		{"image without reference", "modelRepository: {source: image}", "modelRepository.image.reference is required"},
		{"init without uri", "modelRepository: {source: init}", "storageUri is required"},
		{"pvc without claim", "modelRepository: {pvc: {claimName: ''}}", "claimName is required"},
		{"unknown source", "modelRepository: {source: nfs}", "value must be one of 'pvc', 'image', 'init'"},
		{"autoscaling without metrics", "autoscaling: {enabled: true}", "autoscaling needs serviceMonitor.enabled"},
		{"unknown metric", "autoscaling: {metric: gpu-util}", "value must be one of 'queue-depth', 'queue-time'"},
		{"bad pool name", "pools: [{name: GPU_A, gpu: {count: 1}}]", "does not match pattern"},
		{"misspelled value", "autoscalling: {enabled: true}", "additional properties 'autoscalling' not allowed"},
		{"misspelled nested value", "engineCache: {typ: pvc}", "additional properties 'typ' not allowed"},
		{"tls without secret", "tls: {enabled: true}", "tls.secretName is required"},
		{"mutual tls without tls", "tls: {clientCA: {enabled: true}}", "needs tls.enabled"},
		{"grpc probes without grpc", "probes: {grpc: true}\nservice: {grpc: {enabled: false}}", "probes.grpc needs service.grpc.enabled"},
		{"grpc probes under tls", "probes: {grpc: true}\ntls: {enabled: true, secretName: s}", "gRPC probes never speak TLS"},
		{"mutual tls scrape without client cert", "tls: {enabled: true, secretName: s, clientCA: {enabled: true}}\nserviceMonitor: {enabled: true}", "must give Prometheus a client certificate"},
		{"misspelled tls value", "tls: {secret: s}", "additional properties 'secret' not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(c.values+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, tool(t, "helm"), "template", "t", chartDir, "-f", f)
			if err == nil {
				t.Fatalf("rendered anyway:\n%.300s", out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

var metricName = regexp.MustCompile(`\b(nv|trtserve)_[a-z_]+\b`)

// TestMetricNamesExist: every metric the autoscalers, the adapter rules
// and the dashboard read is one trtserve exports (metrics/*.go), so a
// rename in the server cannot silently blind the autoscaler.
func TestMetricNamesExist(t *testing.T) {
	var src strings.Builder
	files, _ := filepath.Glob(filepath.Join(repoRoot, "metrics", "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			src.Write(mustRead(t, f))
		}
	}
	exported := src.String()
	if !strings.Contains(exported, `"nv_inference_pending_request_count"`) {
		t.Fatal("metrics/ not found or it no longer exports nv_inference_pending_request_count")
	}
	// Label and metric names the chart itself defines, not the server.
	own := map[string]bool{"trtserve_io_pool": true, "trtserve_pending_requests": true, "trtserve_queue_time_ms": true}
	var texts []string
	texts = append(texts, string(mustRead(t, filepath.Join(chartDir, "files", "prometheus-adapter-rules.yaml"))))
	texts = append(texts, string(mustRead(t, filepath.Join(chartDir, "files", "grafana-dashboard.json"))))
	texts = append(texts, string(mustRead(t, filepath.Join(kserveDir, "inferenceservice.yaml"))))
	for _, v := range []string{"autoscaling-keda-values.yaml", "autoscaling-keda-queue-depth-values.yaml"} {
		out, err := helmTemplate(t, []string{v}, nil)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(out))
	}
	n := 0
	for _, text := range texts {
		for _, name := range metricName.FindAllString(text, -1) {
			if own[name] {
				continue
			}
			n++
			if !strings.Contains(exported, `"`+name+`"`) {
				t.Errorf("%s is not a metric trtserve exports", name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric references found: the search is broken", n)
	}
	// The adapter rules serve the names the HPA asks for.
	var rules struct {
		ExternalRules []struct {
			Name struct{ As string } `json:"name"`
		} `json:"externalRules"`
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(chartDir, "files", "prometheus-adapter-rules.yaml")), &rules); err != nil {
		t.Fatal(err)
	}
	var values struct {
		Autoscaling struct {
			ExternalMetricQueueDepth, ExternalMetricQueueTime string
		}
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(chartDir, "values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range rules.ExternalRules {
		served[r.Name.As] = true
	}
	for _, m := range []string{values.Autoscaling.ExternalMetricQueueDepth, values.Autoscaling.ExternalMetricQueueTime} {
		if !served[m] {
			t.Errorf("values.yaml's external metric %q has no prometheus-adapter rule (rules serve %v)", m, served)
		}
	}
}

// TestVendoredCRDs: the CRDs are the published files README.md names.
func TestVendoredCRDs(t *testing.T) {
	readme := string(mustRead(t, filepath.Join(crdDir, "README.md")))
	for _, file := range crdFiles {
		data, err := readCRD(file)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256Hex(data)
		if !strings.Contains(readme, "| "+file+" |") || !strings.Contains(readme, sum) {
			t.Errorf("%s (sha256 %s) is not the file crds/README.md lists", file, sum)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImagesMatchChart: the chart passes arguments to the images'
// entrypoint and runs them as the images' user, so both must agree with
// the Dockerfiles' final stages.
func TestImagesMatchChart(t *testing.T) {
	var values struct {
		SecurityContext struct{ RunAsUser, RunAsGroup int64 } `json:"securityContext"`
		Server          struct{ Port int }                    `json:"server"`
		Service         struct {
			GRPC struct{ Port int } `json:"grpc"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(chartDir, "values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	user := fmt.Sprintf("USER %d:%d", values.SecurityContext.RunAsUser, values.SecurityContext.RunAsGroup)
	for _, f := range []string{"Dockerfile.tensorrt", "Dockerfile.cpu"} {
		text := string(mustRead(t, filepath.Join(repoRoot, f)))
		// The final stage is what `docker build` without --target gives;
		// every serving stage must agree anyway.
		for i, stage := range strings.Split(text, "\nFROM ")[1:] {
			if !strings.Contains(stage, "ENTRYPOINT") {
				continue
			}
			if !strings.Contains(stage, `ENTRYPOINT ["trtserve", "serve"]`) {
				t.Errorf("%s stage %d: the chart passes serve's flags as args; the entrypoint must be trtserve serve", f, i+1)
			}
			if !strings.Contains(stage, "\n"+user+"\n") {
				t.Errorf("%s stage %d: the chart runs as %q (securityContext), the image does not", f, i+1, user)
			}
			// The image documents the ports the chart serves: HTTP and gRPC.
			expose := fmt.Sprintf("\nEXPOSE %d %d\n", values.Server.Port, values.Service.GRPC.Port)
			if !strings.Contains(stage, expose) {
				t.Errorf("%s stage %d: want %q (the chart's HTTP and gRPC ports)", f, i+1, strings.TrimSpace(expose))
			}
		}
		if !strings.Contains(text, "ENTRYPOINT") {
			t.Errorf("%s has no serving stage", f)
		}
	}
}

var flagArg = regexp.MustCompile(`^--([a-z0-9-]+)`)

// TestServerSettingsExist: every environment variable the chart sets on the
// server and every flag the KServe runtimes pass is one trtserve reads
// (config/), so a renamed setting (TRTSERVE_GRPC_PORT, TRTSERVE_TLS_*)
// cannot silently leave pods on the server's defaults.
func TestServerSettingsExist(t *testing.T) {
	var src strings.Builder
	files, _ := filepath.Glob(filepath.Join(repoRoot, "config", "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			src.Write(mustRead(t, f))
		}
	}
	config := src.String()
	if !strings.Contains(config, `env:"TRTSERVE_GRPC_PORT"`) {
		t.Fatal("config/ not found or it no longer reads TRTSERVE_GRPC_PORT")
	}
	seen := map[string]bool{}
	for _, values := range [][]string{nil, {"tls-values.yaml"}, {"mtls-values.yaml"}, {"grpc-off-values.yaml"}, {"cpu-values.yaml"}} {
		out, err := helmTemplate(t, values, nil)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := splitYAML(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Kind != "Deployment" {
				continue
			}
			var d appsv1.Deployment
			if err := kjson.UnmarshalCaseSensitivePreserveInts(o.Raw, &d); err != nil {
				t.Fatal(err)
			}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				seen[e.Name] = true
			}
		}
	}
	for _, want := range []string{"TRTSERVE_GRPC_PORT", "TRTSERVE_TLS_CERT", "TRTSERVE_TLS_KEY", "TRTSERVE_TLS_CLIENT_CA"} {
		if !seen[want] {
			t.Errorf("no rendering sets %s: the matrix above is incomplete", want)
		}
	}
	for name := range seen {
		if !strings.Contains(config, `env:"`+name+`"`) {
			t.Errorf("the chart sets %s, which config/ does not read", name)
		}
	}
	for _, f := range []string{"servingruntime.yaml", "clusterservingruntime.yaml"} {
		objs, err := splitYAML(mustRead(t, filepath.Join(kserveDir, f)))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := kjson.UnmarshalCaseSensitivePreserveInts(objs[0].Raw, &m); err != nil {
			t.Fatal(err)
		}
		c := dig(m, "spec", "containers", 0)
		for _, a := range dig(c, "args").([]any) {
			fl := flagArg.FindStringSubmatch(a.(string))
			if fl == nil {
				continue
			}
			if !strings.Contains(config, `"`+fl[1]+`", c.`) {
				t.Errorf("%s passes --%s, which config/ does not define", f, fl[1])
			}
		}
		for _, e := range dig(c, "env").([]any) {
			name := dig(e, "name").(string)
			if !strings.Contains(config, `env:"`+name+`"`) {
				t.Errorf("%s sets %s, which config/ does not read", f, name)
			}
		}
	}
}

package kubernetes

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuralobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Paths, from this module's folder.
const (
	repoRoot  = "../.."
	chartDir  = "../helm/trtserve"
	kserveDir = "../kserve"
	crdDir    = "crds"
)

var (
	errUnknownKind = errors.New("no decoder for this apiVersion/kind")
	errStrict      = errors.New("strict decoding failed")
	errSchema      = errors.New("custom resource does not match its CRD's schema")
)

// toolsDir is where scripts/k8s-tools.sh puts helm, kubectl, kube-apiserver
// and etcd.
func toolsDir() string {
	if d := os.Getenv("TRTSERVE_K8S_TOOLS"); d != "" {
		return d
	}
	d, _ := filepath.Abs(filepath.Join(repoRoot, "build", "k8s-tools", "bin"))
	return d
}

// tool returns the path of a tool scripts/k8s-tools.sh installs, failing
// the test (not skipping it) when it is missing: helm is what these tests
// are about.
func tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(toolsDir(), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found in %s: run scripts/k8s-tools.sh helm (or set TRTSERVE_K8S_TOOLS)", name, toolsDir())
	}
	return p
}

func run(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), out)
	}
	return out, nil
}

// object is one rendered manifest.
type object struct {
	APIVersion, Kind, Name string
	Raw                    []byte // the document as JSON
}

func (o object) String() string { return o.APIVersion + " " + o.Kind + " " + o.Name }

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitYAML cuts a multi-document stream into objects, converting each
// with YAMLToJSONStrict so duplicate keys fail here already.
func splitYAML(stream []byte) ([]object, error) {
	var objs []object
	for i, doc := range docSep.Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w: %w", i, errStrict, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if head.APIVersion == "" || head.Kind == "" {
			return nil, fmt.Errorf("document %d has no apiVersion or kind:\n%s", i, doc)
		}
		objs = append(objs, object{head.APIVersion, head.Kind, head.Metadata.Name, js})
	}
	return objs, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// builtin maps apiVersion/kind to the k8s.io/api type the API server
// decodes it into. A kind missing here fails the test: a new template
// must be checked too.
var builtin = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/PersistentVolumeClaim":               func() any { return &corev1.PersistentVolumeClaim{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
}

// crdFiles maps a custom resource's apiVersion/kind to its vendored CRD.
var crdFiles = map[string]string{
	"monitoring.coreos.com/v1/ServiceMonitor":          "monitoring.coreos.com_servicemonitors.yaml.gz",
	"keda.sh/v1alpha1/ScaledObject":                    "keda.sh_scaledobjects.yaml.gz",
	"serving.kserve.io/v1alpha1/ServingRuntime":        "serving.kserve.io_servingruntimes.yaml.gz",
	"serving.kserve.io/v1alpha1/ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml.gz",
	"serving.kserve.io/v1beta1/InferenceService":       "serving.kserve.io_inferenceservices.yaml.gz",
}

// strictDecode decodes o into its k8s.io/api type the way the API server's
// strict field validation does: unknown fields, duplicate fields and
// fields in the wrong case are errors.
func strictDecode(o object) (any, error) {
	newObj, ok := builtin[o.APIVersion+"/"+o.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: %w", o, errUnknownKind)
	}
	obj := newObj()
	strictErrs, err := kjson.UnmarshalStrict(o.Raw, obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s: %w: %v", o, errStrict, errors.Join(strictErrs...))
	}
	return obj, nil
}

// crdSchema is one version of a CRD, ready to validate against.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	namespaced bool
}

func readCRD(file string) ([]byte, error) {
	f, err := os.Open(filepath.Join(crdDir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return io.ReadAll(zr)
}

func loadCRD(apiVersion, kind string) (*crdSchema, error) {
	file, ok := crdFiles[apiVersion+"/"+kind]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", apiVersion, kind, errUnknownKind)
	}
	data, err := readCRD(file)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	group, version, _ := strings.Cut(apiVersion, "/")
	if crd.Spec.Group != group || crd.Spec.Names.Kind != kind {
		return nil, fmt.Errorf("%s holds %s/%s, not %s/%s", file, crd.Spec.Group, crd.Spec.Names.Kind, group, kind)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version {
			continue
		}
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("%s: version %s is not served or has no schema", file, version)
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		s, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, fmt.Errorf("%s: structural schema: %w", file, err)
		}
		val, _, err := apiservervalidation.NewSchemaValidator(&internal)
		if err != nil {
			return nil, fmt.Errorf("%s: schema validator: %w", file, err)
		}
		return &crdSchema{s, val, crd.Spec.Scope == apiextensionsv1.NamespaceScoped}, nil
	}
	return nil, fmt.Errorf("%s: no version %s", file, version)
}

// validateCR checks a custom resource as the API server would before
// storing it: fields the schema does not know (which the server would
// silently prune, or reject under strict field validation), metadata, and
// the OpenAPI schema's types, enums, required fields and formats.
func validateCR(o object, crd *crdSchema) error {
	var obj map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(o.Raw, &obj); err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	var meta metav1.ObjectMeta
	if rawMeta, ok := obj["metadata"]; ok {
		mj, _ := yaml.Marshal(rawMeta)
		js, _ := yaml.YAMLToJSON(mj)
		strictErrs, err := kjson.UnmarshalStrict(js, &meta)
		if err != nil || len(strictErrs) > 0 {
			return fmt.Errorf("%s: metadata: %w: %v %v", o, errStrict, err, strictErrs)
		}
	}
	var errs field.ErrorList
	if ferr := structuralobjectmeta.Coerce(nil, obj, crd.structural, true, false); ferr != nil {
		errs = append(errs, ferr)
	}
	// Pruning works on a copy: it deletes what it reports.
	var pruned map[string]any
	_ = kjson.UnmarshalCaseSensitivePreserveInts(o.Raw, &pruned)
	unknown := structuralpruning.PruneWithOptions(pruned, crd.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(unknown)
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), "", "unknown field (the API server would prune it, or reject it under strict field validation)"))
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, crd.validator)...)
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w: %v", o, errSchema, errs.ToAggregate())
	}
	return nil
}

// checkObject decodes a built-in object strictly, or validates a custom
// resource against its CRD.
func checkObject(o object, crds map[string]*crdSchema) (any, error) {
	key := o.APIVersion + "/" + o.Kind
	if _, ok := builtin[key]; ok {
		return strictDecode(o)
	}
	crd, ok := crds[key]
	if !ok {
		var err error
		if crd, err = loadCRD(o.APIVersion, o.Kind); err != nil {
			return nil, err
		}
		crds[key] = crd
	}
	return nil, validateCR(o, crd)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

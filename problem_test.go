package cloudsqlproxy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// seen is a problem as a caller sees it, with paths as text.
type seen struct {
	Field, Other   string
	Type           field.ErrorType
	Reason         Reason
	Version, Named string
}

func seenOf(err error) []seen {
	var out []seen
	for _, p := range Problems(err) {
		s := seen{Field: p.Field.String(), Type: p.Type, Reason: p.Reason, Version: p.Version,
			Named: p.Message(func(o *field.Path) string { return "<" + o.String() + ">" })}
		if p.Other != nil {
			s.Other = p.Other.String()
		}
		out = append(out, s)
	}
	return out
}

// TestProblems: each kind of failure reports its problems as values, with
// the option or version they involve as data.
func TestProblems(t *testing.T) {
	proxy, err := New("my-project:us-central1:db")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		err      func() error
		sentinel error
		want     []seen
	}{
		{"New", func() error {
			_, err := New("my-project:us-central1:db?port=5433", WithUnixSocket("/cloudsql"), WithPSC(), WithPrivateIP(),
				WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.4.0"), WithPort(0))
			return err
		}, ErrInvalidConfig, []seen{
			{Field: "instance[port]", Other: "WithUnixSocket", Type: field.ErrorTypeInvalid, Reason: ReasonConflict, Named: "cannot be combined with <WithUnixSocket>"},
			{Field: "WithPort", Type: field.ErrorTypeInvalid, Reason: ReasonOutOfRange, Named: "must be between 1 and 65535"},
			{Field: "WithPort", Other: "WithUnixSocket", Type: field.ErrorTypeInvalid, Reason: ReasonConflict, Named: "cannot be combined with <WithUnixSocket>"},
			{Field: "WithPSC", Other: "WithPrivateIP", Type: field.ErrorTypeInvalid, Reason: ReasonConflict, Named: "cannot be combined with <WithPrivateIP>: the proxy accepts one IP type"},
			{Field: "WithImage", Type: field.ErrorTypeInvalid, Reason: ReasonNeedsVersion, Version: "2.6.0",
				Named: "proxy 2.4.0 is too old: the library needs 2.6.0 or newer (--exit-zero-on-sigterm)"},
			{Field: "WithPSC", Other: "WithImage", Type: field.ErrorTypeInvalid, Reason: ReasonNeedsVersion, Version: "2.5.0", Named: "--psc needs proxy 2.5.0 or newer; the image is 2.4.0 (<WithImage>)"},
		}},
		{"Attach", func() error {
			return proxy.Attach(&corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "cloudsql-proxy", Image: "app"}}})
		}, ErrConflict, []seen{
			{Field: "containers[0].image", Other: "WithName", Type: field.ErrorTypeInvalid, Reason: ReasonNameInUse,
				Named: `container "cloudsql-proxy" has the proxy's name but does not run a Cloud SQL Auth Proxy image; refusing to replace it: choose another name (<WithName>)`},
			{Field: "hostNetwork", Type: field.ErrorTypeInvalid, Reason: ReasonPodUnsupported,
				Named: "the proxy would bind its ports on the node's network, shared with every other host-network pod there"},
		}},
		{"DetachFrom", func() error {
			_, err := DetachFrom(&metav1.ObjectMeta{Annotations: map[string]string{StatusAnnotation: `{"version":1,"container":"gone"}`}}, &corev1.PodSpec{})
			return err
		}, ErrBadRecord, []seen{
			{Field: "metadata.annotations[" + StatusAnnotation + "].container", Type: field.ErrorTypeNotFound, Reason: ReasonRecordMismatch},
		}},
		{"FromContainer", func() error {
			_, _, err := FromContainer(corev1.Container{Name: "p", Image: DefaultImage, Args: []string{"--port=5432", "my-project:us-central1:db"},
				Env: []corev1.EnvVar{{Name: "X", Value: "1"}}}, nil)
			return err
		}, ErrInvalidConfig, []seen{
			{Field: "container.env[0].name", Type: field.ErrorTypeInvalid, Reason: ReasonNotCarried,
				Named: "the library's proxy container sets no environment variables of its own; this one would be lost"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not match %v", err, tt.sentinel)
			}
			if diff := cmp.Diff(tt.want, seenOf(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			// Callers of old read field.Errors; they still can, worded
			// as before problems existed.
			for _, p := range Problems(err) {
				var fe *field.Error
				if !errors.As(&p, &fe) || fe.Error() != p.Error() {
					t.Errorf("problem %v unwraps to field error %v", &p, fe)
				}
			}
		})
	}
	if ps := Problems(ErrNilPodSpec); ps != nil {
		t.Errorf("Problems(ErrNilPodSpec) = %v, want none", ps)
	}
}

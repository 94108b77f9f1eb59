package cloudsqlproxy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestAdoptV1ErrorPaths pins where FromContainer's complaints about a v1
// container point: at the v1 argument the setting was read from, not at
// the v2 command line it was translated to, which the user never wrote
// (FuzzFromContainer found "argv[1]" here).
func TestAdoptV1ErrorPaths(t *testing.T) {
	const image = "gcr.io/cloudsql-docker/gce-proxy:1.33.2"
	tests := []struct {
		name string
		c    corev1.Container
		want []string // the fields of the errors
	}{
		{
			name: "a key file on no Secret volume",
			c: corev1.Container{Command: []string{"/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432",
				"-credential_file=/keys/key.json"}},
			want: []string{"container.command[2]"},
		},
		{
			name: "a flag without an option, its value the next argument",
			c: corev1.Container{Command: []string{"/cloud_sql_proxy", "-token", "abc",
				"-instances=my-project:us-central1:db=tcp:5432"}},
			want: []string{"container.command[2]"},
		},
		{
			name: "instances on different addresses, in args",
			c: corev1.Container{Command: []string{"/cloud_sql_proxy"}, Args: []string{"-structured_logs",
				"-instances=my-project:us-central1:a=tcp:5432,my-project:us-central1:b=tcp:0.0.0.0:5433"}},
			want: []string{"container.args[1]"},
		},
		{
			name: "in a shell script, the script",
			c: corev1.Container{Image: image + "-alpine", Command: []string{"/bin/sh", "-c"},
				Args: []string{"exec /cloud_sql_proxy -instances=my-project:us-central1:db=tcp:5432 -credential_file=/keys/key.json"}},
			want: []string{"container.args[0]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Name = "cloudsql-proxy"
			if tt.c.Image == "" {
				tt.c.Image = image
			}
			_, _, err := FromContainer(tt.c, nil)
			var agg utilerrors.Aggregate
			if !errors.As(err, &agg) {
				t.Fatalf("want field errors, got %v", err)
			}
			var got []string
			for _, e := range agg.Errors() {
				var fe *field.Error
				if !errors.As(e, &fe) {
					t.Fatalf("not a field error: %v", e)
				}
				got = append(got, fe.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fields of %v (-want +got):\n%s", err, diff)
			}
		})
	}
}

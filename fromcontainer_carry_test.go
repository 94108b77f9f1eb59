package cloudsqlproxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestAdoptCarriesContainerSettings: what the hand-written container sets
// of its own, beside its command, is what the adopted proxy runs with.
func TestAdoptCarriesContainerSettings(t *testing.T) {
	const img = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	keyVolume := func(items ...corev1.KeyToPath) []corev1.Volume {
		return []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "proxy-sa", Items: items}}},
		}
	}
	keyMount := []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets", ReadOnly: true}}
	type carried struct {
		PullPolicy corev1.PullPolicy
		Resources  corev1.ResourceRequirements
		Secret     string // the key Secret's name and key, as SECRET/KEY
	}
	tests := []struct {
		name    string
		c       corev1.Container
		volumes []corev1.Volume
		want    carried
	}{
		{
			name: "pull policy Always",
			c:    corev1.Container{Image: img, ImagePullPolicy: corev1.PullAlways, Args: []string{"--port=5432", "my-project:us-central1:db"}},
			want: carried{PullPolicy: corev1.PullAlways, Resources: defaultResources()},
		},
		{
			// The API server would default the requests to the limits; the
			// library's default requests (1 CPU, 2Gi) would exceed them.
			name: "limits only",
			c:    corev1.Container{Image: img, Resources: corev1.ResourceRequirements{Limits: limits}, Args: []string{"--port=5432", "my-project:us-central1:db"}},
			want: carried{PullPolicy: corev1.PullIfNotPresent, Resources: corev1.ResourceRequirements{Limits: limits}},
		},
		{
			name: "key of a Secret volume remapped by items",
			c: corev1.Container{Image: img, VolumeMounts: keyMount,
				Args: []string{"--credentials-file=/secrets/key.json", "--port=5432", "my-project:us-central1:db"}},
			volumes: keyVolume(corev1.KeyToPath{Key: "other.json", Path: "other.json"}, corev1.KeyToPath{Key: "sa-2024.json", Path: "key.json"}),
			want:    carried{PullPolicy: corev1.PullIfNotPresent, Resources: defaultResources(), Secret: "proxy-sa/sa-2024.json"},
		},
		{
			name: "key of a Secret volume without items",
			c: corev1.Container{Image: img, VolumeMounts: keyMount,
				Args: []string{"--credentials-file=/secrets/key.json", "--port=5432", "my-project:us-central1:db"}},
			volumes: keyVolume(),
			want:    carried{PullPolicy: corev1.PullIfNotPresent, Resources: defaultResources(), Secret: "proxy-sa/key.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Name = "cloud-sql-proxy"
			insts, opts, err := FromContainer(tt.c, tt.volumes)
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(insts[0], opts...)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Container()
			got := carried{PullPolicy: c.ImagePullPolicy, Resources: c.Resources}
			for _, v := range p.Volumes() {
				if v.Secret == nil {
					continue
				}
				for _, m := range c.VolumeMounts {
					if m.Name == v.Name {
						got.Secret = v.Secret.SecretName + "/" + secretKeyAt(v.Secret, m.MountPath, c.Args)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("adopted proxy (-want +got):\n%s", diff)
			}
		})
	}
}

func defaultResources() corev1.ResourceRequirements {
	p, err := New("my-project:us-central1:db")
	if err != nil {
		panic(err)
	}
	return p.Container().Resources
}

// secretKeyAt is the key of the Secret volume s that the proxy's
// --credentials-file, under the volume's mount at dir, reads.
func secretKeyAt(s *corev1.SecretVolumeSource, dir string, args []string) string {
	for _, a := range args {
		file, ok := strings.CutPrefix(a, "--credentials-file="+dir+"/")
		if !ok {
			continue
		}
		if len(s.Items) == 0 {
			return file
		}
		for _, it := range s.Items {
			if it.Path == file {
				return it.Key
			}
		}
		return "(no item for " + file + ")"
	}
	return "(no --credentials-file under " + dir + ")"
}

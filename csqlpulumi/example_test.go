package csqlpulumi_test

import (
	"encoding/json"
	"fmt"

	pappsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	pbatchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	pmetav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/csqlpulumi"
)

// The wiring of simple-container-com/api (pkg/clouds/pulumi/gcp:
// cloudsql_proxy.go, compute_proc.go, init_pg_user_job.go) rewritten with
// the library: the runtime Deployment gets the proxy as a native sidecar,
// and the init Job uses the same native sidecar instead of a proxy under
// "sleep 20; kill -9": the kubelet starts the job's container only once
// the proxy listens, and stops the proxy once that container is done.
func Example() {
	program := func(ctx *pulumi.Context) error {
		// In the seed, instance.ConnectionName of a sql.DatabaseInstance
		// and the service account key of a serviceaccount.Key.
		connectionName := pulumi.String("my-project:europe-north1:inst").ToStringOutput()
		creds, err := pcorev1.NewSecret(ctx, "db-creds", &pcorev1.SecretArgs{
			Metadata:   &pmetav1.ObjectMetaArgs{Name: pulumi.String("web-db-creds")},
			StringData: pulumi.StringMap{"credentials.json": pulumi.ToSecret(pulumi.String("{...}")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		proxy := csqlpulumi.Apply(pulumi.All(connectionName, creds.Metadata.Name()), func(v []any) (*cloudsqlproxy.Proxy, error) {
			return cloudsqlproxy.New(v[0].(string),
				cloudsqlproxy.WithCredentialsSecret(*v[1].(*string)),
				cloudsqlproxy.WithAppEnv(v[0].(string), cloudsqlproxy.AppEnv{Host: "PGHOST", Port: "PGPORT"}))
		})

		labels := pulumi.StringMap{"app": pulumi.String("web")}
		_, err = pappsv1.NewDeployment(ctx, "web", &pappsv1.DeploymentArgs{Spec: &pappsv1.DeploymentSpecArgs{
			Selector: &pmetav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &pcorev1.PodTemplateSpecArgs{Metadata: &pmetav1.ObjectMetaArgs{Labels: labels}, Spec: &pcorev1.PodSpecArgs{
				InitContainers: pcorev1.ContainerArray{proxy.Container},
				Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("web"), Image: pulumi.String("example.com/web:1"),
					Env: proxy.Env(pcorev1.EnvVarArgs{Name: pulumi.String("PGDATABASE"), Value: pulumi.String("web")})}},
				Volumes: proxy.PodVolumes(),
			}},
		}})
		if err != nil {
			return err
		}

		_, err = pbatchv1.NewJob(ctx, "db-user-init", &pbatchv1.JobArgs{Spec: &pbatchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(5),
			Template: &pcorev1.PodTemplateSpecArgs{Spec: &pcorev1.PodSpecArgs{
				RestartPolicy:  pulumi.String("Never"),
				InitContainers: pcorev1.ContainerArray{proxy.Container},
				Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("job"), Image: pulumi.String("alpine:latest"),
					Command: pulumi.ToStringArray([]string{"sh", "-c", `apk add --no-cache postgresql-client && psql -U postgres -d web -c 'GRANT pg_read_all_data TO "web";'`}),
					Env:     proxy.Env()}},
				Volumes: proxy.PodVolumes(),
			}},
		}})
		return err
	}

	// Offline, with Pulumi's mocks: show where the proxy landed.
	m := &mocks{}
	if err := pulumi.RunErr(program, pulumi.WithMocks("project", "stack", m)); err != nil {
		panic(err)
	}
	for _, name := range []string{"web", "db-user-init"} {
		spec := registeredPod(m, name)
		fmt.Printf("%s: init %v, containers %v, volumes %v\n", name, names(spec.InitContainers), names(spec.Containers), volumeNames(spec.Volumes))
		fmt.Printf("  proxy restartPolicy %s, env %v\n", *spec.InitContainers[0].RestartPolicy, envs(spec.Containers[0].Env))
	}
	// Output:
	// web: init [cloudsql-proxy], containers [web], volumes [cloudsql-proxy-credentials]
	//   proxy restartPolicy Always, env [PGDATABASE=web PGHOST=127.0.0.1 PGPORT=5432]
	// db-user-init: init [cloudsql-proxy], containers [job], volumes [cloudsql-proxy-credentials]
	//   proxy restartPolicy Always, env [PGHOST=127.0.0.1 PGPORT=5432]
}

// registeredPod reads the pod template of the Deployment or Job registered
// under name.
func registeredPod(m *mocks, name string) corev1.PodSpec {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.regs {
		if r.Name != name {
			continue
		}
		b, err := json.Marshal(r.Inputs.Mappable())
		if err != nil {
			panic(err)
		}
		var obj struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			panic(err)
		}
		return obj.Spec.Template.Spec
	}
	panic("not registered: " + name)
}

func names(cs []corev1.Container) (out []string) {
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func volumeNames(vs []corev1.Volume) (out []string) {
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func envs(env []corev1.EnvVar) (out []string) {
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

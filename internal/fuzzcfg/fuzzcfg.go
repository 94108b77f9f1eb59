// Package fuzzcfg turns fuzz inputs into cloudsqlproxy options. It is
// shared by the library's FuzzNew and the e2e module's FuzzNewValidates, so
// both read the seed corpus testdata/fuzz/FuzzNew the same way; being
// internal, it is never part of the library's API.
package fuzzcfg

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podspec/cloudsqlproxy"
)

// Input is one input of the FuzzNew targets, in the order of the fuzz
// arguments: Set says which options are given (bit Bit* set), the other
// fields are their values.
type Input struct {
	Set                                      uint64
	Instance, Instance2                      string
	Port, HealthPort, AdminPort              int32
	Name, Image, Version, PullPolicy         string
	Address, SocketDir, Secret, SecretKey    string
	Impersonate, PromNamespace               string
	TelProject, TelPrefix                    string
	TelSampleRate                            int
	Endpoint, Universe, Quota                string
	EnvInstance, EnvHost, EnvPort, EnvSocket string
	CPURequest, MemoryLimit                  string
	MaxConns                                 uint64
	MinSigterm, MaxSigterm, JobTimeout       int64
	Probe                                    int32
}

// Bits of Input.Set, one per option (and BitNilOption for a nil Option in
// the list): the option is given when its bit is set.
const (
	BitPort = iota
	BitInstance2
	BitHealthPort
	BitAdminPort
	BitName
	BitImage
	BitVersion
	BitPullPolicy
	BitResources
	BitAddress
	BitPrivateIP
	BitPSC
	BitAutoIAM
	BitSocket
	BitSecret
	BitSecretKey
	BitImpersonate
	BitLazyRefresh
	BitMaxConns
	BitMinSigterm
	BitMaxSigterm
	BitQuiet
	BitDebugLogs
	BitPrometheus
	BitTelemetry
	BitTelDisableMetrics
	BitTelDisableTraces
	BitQuitQuitQuit
	BitDebugServer
	BitEndpoint
	BitUniverse
	BitQuota
	BitStartupProbe
	BitLivenessProbe
	BitReadinessProbe
	BitAppEnv
	BitLegacy
	BitJob
	BitNilOption
)

// Bits is the Input.Set value with the given bits set.
func Bits(bits ...int) uint64 {
	var set uint64
	for _, b := range bits {
		set |= 1 << b
	}
	return set
}

// Target runs check on every input; both FuzzNew targets use it, so they
// read the same corpus files as the same options.
func Target(f *testing.F, check func(*testing.T, Input)) {
	f.Fuzz(func(t *testing.T, set uint64, instance, instance2 string, port, healthPort, adminPort int32,
		name, image, version, pullPolicy, address, socketDir, secret, secretKey, impersonate, promNamespace,
		telProject, telPrefix string, telSampleRate int, endpoint, universe, quota,
		envInstance, envHost, envPort, envSocket, cpuRequest, memoryLimit string,
		maxConns uint64, minSigterm, maxSigterm, jobTimeout int64, probe int32) {
		check(t, Input{
			set, instance, instance2, port, healthPort, adminPort,
			name, image, version, pullPolicy, address, socketDir, secret, secretKey, impersonate, promNamespace,
			telProject, telPrefix, telSampleRate, endpoint, universe, quota,
			envInstance, envHost, envPort, envSocket, cpuRequest, memoryLimit,
			maxConns, minSigterm, maxSigterm, jobTimeout, probe,
		})
	})
}

// Args lists in's fields in the order of the fuzz arguments.
func Args(in Input) []any {
	v := reflect.ValueOf(in)
	args := make([]any, v.NumField())
	for i := range args {
		args[i] = v.Field(i).Interface()
	}
	return args
}

// Has reports whether bit is set in in.Set, that is whether the option is given.
func (in Input) Has(bit int) bool { return in.Set&(1<<bit) != 0 }

// Options turns the input into New's options, in a fixed order.
func (in Input) Options() []cloudsqlproxy.Option {
	var opts []cloudsqlproxy.Option
	add := func(bit int, o func() cloudsqlproxy.Option) {
		if in.Has(bit) {
			opts = append(opts, o())
		}
	}
	probe := cloudsqlproxy.ProbeTiming{InitialDelaySeconds: in.Probe, PeriodSeconds: in.Probe, TimeoutSeconds: in.Probe, FailureThreshold: in.Probe}
	add(BitPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithPort(in.Port) })
	add(BitInstance2, func() cloudsqlproxy.Option { return cloudsqlproxy.WithInstance(in.Instance2) })
	add(BitHealthPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithHealthPort(in.HealthPort) })
	add(BitAdminPort, func() cloudsqlproxy.Option { return cloudsqlproxy.WithAdminPort(in.AdminPort) })
	add(BitName, func() cloudsqlproxy.Option { return cloudsqlproxy.WithName(in.Name) })
	add(BitImage, func() cloudsqlproxy.Option { return cloudsqlproxy.WithImage(in.Image) })
	add(BitVersion, func() cloudsqlproxy.Option { return cloudsqlproxy.WithProxyVersion(in.Version) })
	add(BitPullPolicy, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithImagePullPolicy(corev1.PullPolicy(in.PullPolicy))
	})
	if in.Has(BitResources) {
		// Quantities that do not parse cannot be built: those values only
		// exercise the parser, which is not the library's.
		var r corev1.ResourceRequirements
		if q, err := resource.ParseQuantity(in.CPURequest); err == nil {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: q}
		}
		if q, err := resource.ParseQuantity(in.MemoryLimit); err == nil {
			r.Limits = corev1.ResourceList{corev1.ResourceMemory: q}
		}
		opts = append(opts, cloudsqlproxy.WithResources(r))
	}
	add(BitAddress, func() cloudsqlproxy.Option { return cloudsqlproxy.WithListenAddress(in.Address) })
	add(BitPrivateIP, cloudsqlproxy.WithPrivateIP)
	add(BitPSC, cloudsqlproxy.WithPSC)
	add(BitAutoIAM, cloudsqlproxy.WithAutoIAMAuthn)
	add(BitSocket, func() cloudsqlproxy.Option { return cloudsqlproxy.WithUnixSocket(in.SocketDir) })
	add(BitSecret, func() cloudsqlproxy.Option { return cloudsqlproxy.WithCredentialsSecret(in.Secret) })
	add(BitSecretKey, func() cloudsqlproxy.Option { return cloudsqlproxy.WithCredentialsSecretKey(in.SecretKey) })
	add(BitImpersonate, func() cloudsqlproxy.Option {
		if in.Impersonate == "" {
			return cloudsqlproxy.WithImpersonation()
		}
		return cloudsqlproxy.WithImpersonation(strings.Split(in.Impersonate, ",")...)
	})
	add(BitLazyRefresh, cloudsqlproxy.WithLazyRefresh)
	add(BitMaxConns, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMaxConnections(in.MaxConns) })
	add(BitMinSigterm, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMinSigtermDelay(time.Duration(in.MinSigterm)) })
	add(BitMaxSigterm, func() cloudsqlproxy.Option { return cloudsqlproxy.WithMaxSigtermDelay(time.Duration(in.MaxSigterm)) })
	add(BitQuiet, cloudsqlproxy.WithQuiet)
	add(BitDebugLogs, cloudsqlproxy.WithDebugLogs)
	add(BitPrometheus, func() cloudsqlproxy.Option { return cloudsqlproxy.WithPrometheus(in.PromNamespace) })
	add(BitTelemetry, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{
			Project: in.TelProject, Prefix: in.TelPrefix, SampleRate: in.TelSampleRate,
			DisableMetrics: in.Has(BitTelDisableMetrics), DisableTraces: in.Has(BitTelDisableTraces),
		})
	})
	add(BitQuitQuitQuit, cloudsqlproxy.WithQuitQuitQuit)
	add(BitDebugServer, cloudsqlproxy.WithDebugServer)
	add(BitEndpoint, func() cloudsqlproxy.Option { return cloudsqlproxy.WithSQLAdminAPIEndpoint(in.Endpoint) })
	add(BitUniverse, func() cloudsqlproxy.Option { return cloudsqlproxy.WithUniverseDomain(in.Universe) })
	add(BitQuota, func() cloudsqlproxy.Option { return cloudsqlproxy.WithQuotaProject(in.Quota) })
	add(BitStartupProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithStartupProbe(probe) })
	add(BitLivenessProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithLivenessProbe(probe) })
	add(BitReadinessProbe, func() cloudsqlproxy.Option { return cloudsqlproxy.WithReadinessProbe(probe) })
	add(BitAppEnv, func() cloudsqlproxy.Option {
		return cloudsqlproxy.WithAppEnv(in.EnvInstance, cloudsqlproxy.AppEnv{Host: in.EnvHost, Port: in.EnvPort, Socket: in.EnvSocket})
	})
	add(BitLegacy, cloudsqlproxy.WithLegacySidecar)
	add(BitJob, func() cloudsqlproxy.Option { return cloudsqlproxy.ForJob(time.Duration(in.JobTimeout)) })
	add(BitNilOption, func() cloudsqlproxy.Option { return nil })
	return opts
}

// SimplePod is the pod every accepted configuration must attach to: one
// application container whose name differs from the proxy's, meeting Pod
// Security "restricted" on its own, and a restart policy that every mode
// accepts.
func SimplePod(p *cloudsqlproxy.Proxy) corev1.PodSpec {
	app := "app"
	if p.Name() == app {
		app = "application"
	}
	yes, no := true, false
	return corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   &yes,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  app,
			Image: "registry.example/app:1.0",
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &no,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

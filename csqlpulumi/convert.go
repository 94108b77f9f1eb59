package csqlpulumi

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ErrUnconvertible: a converter was given a value with a field that is set
// and has no conversion to pulumi-kubernetes, either because the SDK lacks
// the field (a k8s.io/api newer than the SDK) or because this package does
// not convert its type. The error names every such field by its path.
var ErrUnconvertible = errors.New("csqlpulumi: field has no conversion to pulumi-kubernetes")

// ToContainerArgs converts a k8s.io/api container to pulumi-kubernetes
// arguments. It is strict: a set field that cannot be converted is an error
// wrapping [ErrUnconvertible], never dropped. Zero-valued fields are left
// unset, which the API server reads as it reads them omitted from JSON.
func ToContainerArgs(c corev1.Container) (pcorev1.ContainerArgs, error) {
	return convertTo[pcorev1.ContainerArgs]("container", c)
}

// ToVolumeArgs converts a k8s.io/api volume like [ToContainerArgs]. Volume
// sources whose types this package does not convert (such as ephemeral
// volumes) are errors naming the field.
func ToVolumeArgs(v corev1.Volume) (pcorev1.VolumeArgs, error) {
	return convertTo[pcorev1.VolumeArgs]("volume", v)
}

// ToEnvVarArgs converts a k8s.io/api environment variable like
// [ToContainerArgs].
func ToEnvVarArgs(e corev1.EnvVar) (pcorev1.EnvVarArgs, error) {
	return convertTo[pcorev1.EnvVarArgs]("env", e)
}

// ToVolumeMountArgs converts a k8s.io/api volume mount like
// [ToContainerArgs].
func ToVolumeMountArgs(m corev1.VolumeMount) (pcorev1.VolumeMountArgs, error) {
	return convertTo[pcorev1.VolumeMountArgs]("volumeMount", m)
}

// convertTo converts src into the Args struct A, collecting every field it
// cannot convert.
func convertTo[A any](root string, src any) (A, error) {
	var out A
	var errs []error
	convertStruct(root, reflect.ValueOf(src), reflect.ValueOf(&out).Elem(), &errs)
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: %w", ErrUnconvertible, errors.Join(errs...))
	}
	return out, nil
}

// convertible maps the name of a k8s.io/api core/v1 type to its Args and
// Array types in pulumi-kubernetes, which share the name (FooArgs,
// FooArray). Keying by name keeps k8s.io/api types out of the table, so
// that the module builds with the oldest k8s.io/api the core supports and
// still converts these types from a newer one. Types that the oldest
// supported SDK (v4.1.1) lacks, such as SleepAction and AppArmorProfile,
// are not listed: a set field of theirs is an error, like any type
// missing here.
var convertible = func() map[string]argTypes {
	m := map[string]argTypes{}
	add := func(args, array any) {
		a := reflect.TypeOf(args)
		at := argTypes{args: a}
		if array != nil {
			at.array = reflect.TypeOf(array)
		}
		m[strings.TrimSuffix(a.Name(), "Args")] = at
	}
	// Everything a container holds.
	add(pcorev1.ContainerArgs{}, pcorev1.ContainerArray{})
	add(pcorev1.ContainerPortArgs{}, pcorev1.ContainerPortArray{})
	add(pcorev1.ContainerResizePolicyArgs{}, pcorev1.ContainerResizePolicyArray{})
	add(pcorev1.EnvVarArgs{}, pcorev1.EnvVarArray{})
	add(pcorev1.EnvVarSourceArgs{}, nil)
	add(pcorev1.ConfigMapKeySelectorArgs{}, nil)
	add(pcorev1.SecretKeySelectorArgs{}, nil)
	add(pcorev1.ObjectFieldSelectorArgs{}, nil)
	add(pcorev1.ResourceFieldSelectorArgs{}, nil)
	add(pcorev1.EnvFromSourceArgs{}, pcorev1.EnvFromSourceArray{})
	add(pcorev1.ConfigMapEnvSourceArgs{}, nil)
	add(pcorev1.SecretEnvSourceArgs{}, nil)
	add(pcorev1.ResourceRequirementsArgs{}, nil)
	add(pcorev1.ResourceClaimArgs{}, pcorev1.ResourceClaimArray{})
	add(pcorev1.VolumeMountArgs{}, pcorev1.VolumeMountArray{})
	add(pcorev1.VolumeDeviceArgs{}, pcorev1.VolumeDeviceArray{})
	add(pcorev1.ProbeArgs{}, nil)
	add(pcorev1.ExecActionArgs{}, nil)
	add(pcorev1.HTTPGetActionArgs{}, nil)
	add(pcorev1.HTTPHeaderArgs{}, pcorev1.HTTPHeaderArray{})
	add(pcorev1.TCPSocketActionArgs{}, nil)
	add(pcorev1.GRPCActionArgs{}, nil)
	add(pcorev1.LifecycleArgs{}, nil)
	add(pcorev1.LifecycleHandlerArgs{}, nil)
	add(pcorev1.SecurityContextArgs{}, nil)
	add(pcorev1.CapabilitiesArgs{}, nil)
	add(pcorev1.SELinuxOptionsArgs{}, nil)
	add(pcorev1.SeccompProfileArgs{}, nil)
	add(pcorev1.WindowsSecurityContextOptionsArgs{}, nil)
	// The volume sources a pod template commonly holds.
	add(pcorev1.VolumeArgs{}, pcorev1.VolumeArray{})
	add(pcorev1.EmptyDirVolumeSourceArgs{}, nil)
	add(pcorev1.SecretVolumeSourceArgs{}, nil)
	add(pcorev1.ConfigMapVolumeSourceArgs{}, nil)
	add(pcorev1.KeyToPathArgs{}, pcorev1.KeyToPathArray{})
	add(pcorev1.ProjectedVolumeSourceArgs{}, nil)
	add(pcorev1.VolumeProjectionArgs{}, pcorev1.VolumeProjectionArray{})
	add(pcorev1.SecretProjectionArgs{}, nil)
	add(pcorev1.ConfigMapProjectionArgs{}, nil)
	add(pcorev1.ServiceAccountTokenProjectionArgs{}, nil)
	add(pcorev1.DownwardAPIProjectionArgs{}, nil)
	add(pcorev1.DownwardAPIVolumeSourceArgs{}, nil)
	add(pcorev1.DownwardAPIVolumeFileArgs{}, pcorev1.DownwardAPIVolumeFileArray{})
	add(pcorev1.PersistentVolumeClaimVolumeSourceArgs{}, nil)
	add(pcorev1.HostPathVolumeSourceArgs{}, nil)
	add(pcorev1.CSIVolumeSourceArgs{}, nil)
	add(pcorev1.LocalObjectReferenceArgs{}, nil)
	add(pcorev1.NFSVolumeSourceArgs{}, nil)
	return m
}()

type argTypes struct{ args, array reflect.Type }

var (
	quantityType = reflect.TypeOf(resource.Quantity{})
	intstrType   = reflect.TypeOf(intstr.IntOrString{})
	k8sCorePkg   = reflect.TypeOf(corev1.Container{}).PkgPath()
)

// convertStruct sets the fields of the Args struct dst from the k8s.io/api
// struct src, matching each field's JSON name to the Args field's pulumi
// name. Every set field of src is converted or reported.
func convertStruct(path string, src, dst reflect.Value, errs *[]error) {
	byName := pulumiFields(dst.Type())
	for i := 0; i < src.NumField(); i++ {
		f, v := src.Type().Field(i), src.Field(i)
		if !f.IsExported() || v.IsZero() {
			continue
		}
		name, inline := jsonName(f)
		if name == "-" {
			continue
		}
		if inline && f.Anonymous && v.Kind() == reflect.Struct {
			convertStruct(path, v, dst, errs) // ProbeHandler, VolumeSource: their fields sit on the outer object
			continue
		}
		fp := path + "." + name
		di, ok := byName[name]
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: set, but pulumi-kubernetes' %s has no field %q", fp, dst.Type().Name(), name))
			continue
		}
		out, ok := convertValue(fp, v, errs)
		if !ok {
			continue
		}
		target := dst.Field(di)
		if !out.Type().AssignableTo(target.Type()) {
			*errs = append(*errs, fmt.Errorf("%s: set, but its %s does not fit pulumi-kubernetes' %s", fp, out.Type(), target.Type()))
			continue
		}
		target.Set(out)
	}
}

// convertValue converts one set value; ok is false when it reported an
// error instead.
func convertValue(path string, v reflect.Value, errs *[]error) (reflect.Value, bool) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem() // a set pointer is a set value, even to a zero one: ReadOnly: &false
	}
	switch v.Type() {
	case quantityType:
		q := v.Interface().(resource.Quantity)
		return reflect.ValueOf(pulumi.String(q.String())), true
	case intstrType:
		is := v.Interface().(intstr.IntOrString)
		if is.Type == intstr.Int {
			return reflect.ValueOf(pulumi.Int(int(is.IntVal))), true
		}
		return reflect.ValueOf(pulumi.String(is.StrVal)), true
	}
	switch v.Kind() {
	case reflect.String:
		return reflect.ValueOf(pulumi.String(v.String())), true
	case reflect.Bool:
		return reflect.ValueOf(pulumi.Bool(v.Bool())), true
	case reflect.Int, reflect.Int32, reflect.Int64:
		return reflect.ValueOf(pulumi.Int(int(v.Int()))), true
	case reflect.Slice:
		return convertSlice(path, v, errs)
	case reflect.Map:
		return convertMap(path, v, errs)
	case reflect.Struct:
		at, ok := structTypes(v.Type())
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: set, but its type %s has no conversion", path, v.Type()))
			return reflect.Value{}, false
		}
		out := reflect.New(at.args)
		n := len(*errs)
		convertStruct(path, v, out.Elem(), errs)
		return out, len(*errs) == n
	}
	*errs = append(*errs, fmt.Errorf("%s: set, but its type %s has no conversion", path, v.Type()))
	return reflect.Value{}, false
}

func convertSlice(path string, v reflect.Value, errs *[]error) (reflect.Value, bool) {
	if et := v.Type().Elem(); et.Kind() == reflect.String {
		out := make(pulumi.StringArray, v.Len())
		for i := range out {
			out[i] = pulumi.String(v.Index(i).String())
		}
		return reflect.ValueOf(out), true
	} else if at, ok := structTypes(et); ok && at.array != nil {
		out := reflect.MakeSlice(at.array, v.Len(), v.Len())
		n := len(*errs)
		for i := 0; i < v.Len(); i++ {
			elem := reflect.New(at.args)
			convertStruct(fmt.Sprintf("%s[%d]", path, i), v.Index(i), elem.Elem(), errs)
			out.Index(i).Set(elem)
		}
		return out, len(*errs) == n
	}
	*errs = append(*errs, fmt.Errorf("%s: set, but its type %s has no conversion", path, v.Type()))
	return reflect.Value{}, false
}

// convertMap converts string maps and resource lists, whose quantities
// pulumi-kubernetes takes as strings.
func convertMap(path string, v reflect.Value, errs *[]error) (reflect.Value, bool) {
	t := v.Type()
	if t.Key().Kind() == reflect.String && (t.Elem().Kind() == reflect.String || t.Elem() == quantityType) {
		out := make(pulumi.StringMap, v.Len())
		for it := v.MapRange(); it.Next(); {
			s := it.Value().String()
			if t.Elem() == quantityType {
				q := it.Value().Interface().(resource.Quantity)
				s = q.String()
			}
			out[it.Key().String()] = pulumi.String(s)
		}
		return reflect.ValueOf(out), true
	}
	*errs = append(*errs, fmt.Errorf("%s: set, but its type %s has no conversion", path, t))
	return reflect.Value{}, false
}

// structTypes finds the pulumi-kubernetes types of a k8s.io/api core/v1
// struct type.
func structTypes(t reflect.Type) (argTypes, bool) {
	if t.PkgPath() != k8sCorePkg {
		return argTypes{}, false
	}
	at, ok := convertible[t.Name()]
	return at, ok
}

// pulumiFields indexes an Args struct's fields by their pulumi name.
func pulumiFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if name := t.Field(i).Tag.Get("pulumi"); name != "" {
			m[name] = i
		}
	}
	return m
}

func jsonName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" && !strings.Contains(opts, "inline") {
		name = f.Name
	}
	return name, strings.Contains(opts, "inline")
}

package yamledit

import "reflect"

// The CLI is compiled against the Kubernetes API types of the module's
// go.mod (k8s.io/api v0.28), while the manifests it reads may use fields of
// any later release. A typed round trip drops what the types do not know and
// adds what they always write (resources: {} on every container), and it
// canonicalises values (cpu: 0.5 becomes 500m). So the library's change is
// computed on typed values and then replayed onto the original map:
//
//	o  the pod spec as read,
//	r0 o through the typed round trip alone,
//	r1 o through the typed round trip with Attach or Detach applied.
//
// Whatever r0 and r1 agree on comes from o untouched; what the library added
// or changed comes from r1; what it removed goes; keys only o has (fields
// newer than the types) stay. List items are paired by their identity (name,
// or mountPath for mounts) so that an inserted container does not shift the
// pairing of the others.

// listKeys names the identity of list items by the field holding the list,
// for the lists Attach and Detach change: the pod types' patchMergeKey tags
// for those lists (TestListKeysAreTheTypes), and for no others.
var listKeys = map[string]string{
	"containers":          "name",
	"initContainers":      "name",
	"ephemeralContainers": "name",
	"volumes":             "name",
	"env":                 "name",
	"volumeMounts":        "mountPath",
}

// Merge returns what to write in place of the pod spec o, given o through
// the typed round trip alone (r0) and with the library's change applied
// (r1). owned names the proxy container: the library owns it entirely, so
// nothing of o is restored into it.
func Merge(o, r0, r1 any, owned string) any {
	return merger{proxyName: owned}.merge(o, r0, r1, "")
}

type merger struct {
	// proxyName is the proxy container's name: the library owns that
	// container entirely, so nothing of the original is restored into it.
	proxyName string
}

// merge returns what to write in place of o, given its two round trips.
// key is the field holding the value, for list pairing.
func (m merger) merge(o, r0, r1 any, key string) any {
	if reflect.DeepEqual(r0, r1) {
		return o
	}
	switch v1 := r1.(type) {
	case map[string]any:
		om, ok := o.(map[string]any)
		v0, ok0 := r0.(map[string]any)
		if !ok || !ok0 {
			return v1
		}
		return m.mergeMap(om, v0, v1)
	case []any:
		ol, ok := o.([]any)
		v0, ok0 := r0.([]any)
		// The round trip keeps list length and order, so o and r0 pair by
		// index; anything else means o was not what r0 came from.
		if !ok || !ok0 || len(ol) != len(v0) {
			return v1
		}
		return m.mergeList(ol, v0, v1, key)
	}
	return r1
}

func (m merger) mergeMap(o, r0, r1 map[string]any) map[string]any {
	out := make(map[string]any, len(o)+len(r1))
	for k, ov := range o {
		v0, in0 := r0[k]
		v1, in1 := r1[k]
		switch {
		case !in0 && !in1:
			// A field the types do not know, or an empty value they omit.
			out[k] = ov
		case in0 && !in1:
			// Removed by the library.
		case !in0 && in1:
			// Empty in o (so omitted by the round trip), filled by the library.
			out[k] = v1
		default:
			out[k] = m.merge(ov, v0, v1, k)
		}
	}
	for k, v1 := range r1 {
		if _, inO := o[k]; inO {
			continue
		}
		v0, in0 := r0[k]
		switch {
		case !in0:
			out[k] = v1
		case reflect.DeepEqual(v0, v1):
			// Written by the round trip only, such as resources: {}.
		default:
			// Written by the round trip and then changed by the library:
			// keep only the library's part.
			if vm0, ok := v0.(map[string]any); ok {
				if vm1, ok := v1.(map[string]any); ok {
					out[k] = m.mergeMap(map[string]any{}, vm0, vm1)
					continue
				}
			}
			out[k] = v1
		}
	}
	return out
}

func (m merger) mergeList(o, r0, r1 []any, key string) []any {
	id, keyed := listKeys[key]
	if !keyed {
		if len(r0) != len(r1) {
			return r1
		}
		out := make([]any, len(r1))
		for i := range r1 {
			out[i] = m.merge(o[i], r0[i], r1[i], "")
		}
		return out
	}
	owned := key == "containers" || key == "initContainers"
	used := make([]bool, len(r0))
	out := make([]any, 0, len(r1))
	for _, item := range r1 {
		name := identity(item, id)
		if owned && name == m.proxyName {
			out = append(out, withoutEmptyResources(item))
			continue
		}
		j := -1
		for i := range r0 {
			if !used[i] && identity(r0[i], id) == name {
				j = i
				break
			}
		}
		if j < 0 {
			out = append(out, item)
			continue
		}
		used[j] = true
		out = append(out, m.merge(o[j], r0[j], item, ""))
	}
	return out
}

func identity(item any, key string) any {
	if m, ok := item.(map[string]any); ok {
		return m[key]
	}
	return nil
}

// withoutEmptyResources drops the "resources: {}" that the typed round trip
// writes into a container it builds whole (a proxy that remove puts back
// from its record): the container it came from had none.
func withoutEmptyResources(item any) any {
	c, ok := item.(map[string]any)
	if r, isMap := c["resources"].(map[string]any); !ok || !isMap || len(r) > 0 {
		return item
	}
	out := make(map[string]any, len(c))
	for k, v := range c {
		if k != "resources" {
			out[k] = v
		}
	}
	return out
}

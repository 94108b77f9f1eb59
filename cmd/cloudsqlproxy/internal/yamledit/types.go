package yamledit

import (
	"reflect"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// fieldOrders caches the JSON field names of each struct type, in order.
var fieldOrders sync.Map // reflect.Type -> map[string]int

func fieldOrder(t reflect.Type) map[string]int {
	if o, ok := fieldOrders.Load(t); ok {
		return o.(map[string]int)
	}
	o := map[string]int{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if (f.Anonymous || strings.Contains(","+opts+",", ",inline,")) && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name != "" && name != "-" {
				if _, dup := o[name]; !dup {
					o[name] = len(o)
				}
			}
		}
	}
	walk(t)
	fieldOrders.Store(t, o)
	return o
}

// structType is t without pointers, when that is a struct the converter
// fills field by field.
func structType(t reflect.Type) (reflect.Type, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || CustomDecoding(t) {
		return nil, false
	}
	return t, true
}

// orderedKeys gives m's keys in t's field order, the others sorted after
// them.
func orderedKeys(m map[string]any, t reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	st, ok := structType(t)
	if !ok {
		sort.Strings(keys)
		return keys
	}
	order := fieldOrder(st)
	sort.Slice(keys, func(i, j int) bool {
		oi, ki := order[keys[i]]
		oj, kj := order[keys[j]]
		switch {
		case ki && kj:
			return oi < oj
		case ki != kj:
			return ki
		}
		return keys[i] < keys[j]
	})
	return keys
}

// memberType is the type of field k of t (a struct or a map), or nil.
func memberType(t reflect.Type, k string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		if ft, ok := JSONField(t, k); ok {
			return ft
		}
	}
	return nil
}

// elemType is the type of t's items, or nil.
func elemType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Slice {
		return nil
	}
	return t.Elem()
}

// CustomDecoding tells types that decode themselves (Quantity, IntOrString,
// Time) from plain structs.
func CustomDecoding(t reflect.Type) bool {
	type unmarshaler interface{ UnmarshalJSON([]byte) error }
	return reflect.PointerTo(t).Implements(reflect.TypeOf((*unmarshaler)(nil)).Elem())
}

// JSONField finds the struct field (or field of an inlined struct) that the
// JSON key k fills.
func JSONField(t reflect.Type, k string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == k {
			return f.Type, true
		}
		if (f.Anonymous || strings.Contains(","+opts+",", ",inline,")) && name == "" && f.Type.Kind() == reflect.Struct {
			if ft, ok := JSONField(f.Type, k); ok {
				return ft, true
			}
		}
	}
	return nil, false
}

// podSpecType is where insertPos puts volumes last.
var podSpecType = reflect.TypeOf(corev1.PodSpec{})

// Command protoschema writes how Kubernetes' built-in kinds are encoded in protobuf, as JSON, for the
// reference's API server to decode the protobuf bodies client-go sends for them (client-go 1.35's typed
// clients prefer protobuf for built-in kinds). It reads the Go types' struct tags: the protobuf tag gives
// each field's number and wire type, the json tag its JSON name and omitempty, the Go type whether it
// is a pointer (a pointer's zero value is kept, a non-pointer's omitted under omitempty, as encoding/json does).
//
// Usage (in kproof/cluster/go/upstream-tests): go run ./protoschema > ../../../../reference/apiserver/protobuf.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// Field is one protobuf field of a message: t is a scalar (string, bytes, bool, int32, int64, uint32,
// uint64, double, float), a special type (time, microtime, duration, quantity, intorstring, raw, fieldsv1)
// or the name of another message in "types".
type Field struct {
	JSON      string `json:"j,omitempty"`
	Type      string `json:"t"`
	Repeated  bool   `json:"r,omitempty"`
	Key       string `json:"k,omitempty"` // a map's key type (its value type is t)
	Pointer   bool   `json:"p,omitempty"`
	OmitEmpty bool   `json:"o,omitempty"`
	Inline    bool   `json:"i,omitempty"`
}

var special = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):          "time",
	reflect.TypeOf(metav1.MicroTime{}):     "microtime",
	reflect.TypeOf(metav1.Duration{}):      "duration",
	reflect.TypeOf(resource.Quantity{}):    "quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "intorstring",
	reflect.TypeOf(runtime.RawExtension{}): "raw",
	reflect.TypeOf(metav1.FieldsV1{}):      "fieldsv1",
}

// the API groups whose kinds the reference serves (and meta/v1's options, registered in each)
var groups = map[string]bool{"": true, "apps": true, "batch": true, "coordination.k8s.io": true,
	"rbac.authorization.k8s.io": true, "discovery.k8s.io": true, "authentication.k8s.io": true,
	"authorization.k8s.io": true, "autoscaling": true, "policy": true, "events.k8s.io": true}

type schema struct {
	Kinds map[string]string           `json:"kinds"` // apiVersion/Kind -> message
	Types map[string]map[string]Field `json:"types"` // message -> field number -> field
}

func name(t reflect.Type) string {
	path := t.PkgPath()
	path = strings.TrimPrefix(path, "k8s.io/api/")
	path = strings.TrimPrefix(path, "k8s.io/apimachinery/pkg/apis/")
	return strings.ReplaceAll(path, "/", ".") + "." + t.Name()
}

func scalar(t reflect.Type, wire string) (string, error) {
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "bool", nil
	case reflect.Int32:
		return "int32", nil
	case reflect.Int64, reflect.Int:
		return "int64", nil
	case reflect.Uint32:
		return "uint32", nil
	case reflect.Uint64:
		return "uint64", nil
	case reflect.Float64:
		return "double", nil
	case reflect.Float32:
		return "float", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes", nil
		}
	}
	return "", fmt.Errorf("no scalar for %s (%s)", t, wire)
}

func (s *schema) valueType(t reflect.Type, wire string) (string, error) {
	if kind, ok := special[t]; ok {
		return kind, nil
	}
	if t.Kind() == reflect.Struct {
		return s.message(t)
	}
	return scalar(t, wire)
}

func (s *schema) message(t reflect.Type) (string, error) {
	id := name(t)
	if _, seen := s.Types[id]; seen {
		return id, nil
	}
	fields := map[string]Field{}
	s.Types[id] = fields
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		parts := strings.Split(tag, ",")
		number, err := strconv.Atoi(parts[1])
		if err != nil {
			return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
		}
		jsonTag := strings.Split(f.Tag.Get("json"), ",")
		field := Field{JSON: jsonTag[0]} // "rep" in a tag is not always a list (PodStatus.qosClass): the Go type says
		for _, option := range jsonTag[1:] {
			field.OmitEmpty = field.OmitEmpty || option == "omitempty"
			field.Inline = field.Inline || option == "inline"
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			field.Pointer = true
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Map:
			key, err := scalar(ft.Key(), "key")
			if err != nil {
				return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
			}
			field.Key, field.Repeated = key, true
			value := ft.Elem()
			if value.Kind() == reflect.Slice && value.Elem().Kind() != reflect.Uint8 {
				// a named list (e.g. ExtraValue) is a message of one repeated field, items = 1
				item, err := scalar(value.Elem(), "item")
				if err != nil {
					return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
				}
				field.Type = "list:" + item
			} else if field.Type, err = s.valueType(value, "value"); err != nil {
				return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8:
			field.Repeated = true
			if field.Type, err = s.valueType(ft.Elem(), parts[0]); err != nil {
				return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
			}
		default:
			if field.Type, err = s.valueType(ft, parts[0]); err != nil {
				return "", fmt.Errorf("%s.%s: %v", id, f.Name, err)
			}
		}
		fields[strconv.Itoa(number)] = field
	}
	return id, nil
}

func main() {
	s := &schema{Kinds: map[string]string{}, Types: map[string]map[string]Field{}}
	known := scheme.Scheme.AllKnownTypes()
	gvks := make([]string, 0, len(known))
	for gvk := range known {
		if groups[gvk.Group] && gvk.Version != runtime.APIVersionInternal {
			gvks = append(gvks, gvk.GroupVersion().String()+"/"+gvk.Kind)
		}
	}
	sort.Strings(gvks)
	for _, key := range gvks {
		i := strings.LastIndex(key, "/")
		gv, kind := key[:i], key[i+1:]
		for gvk, t := range known {
			if gvk.GroupVersion().String() == gv && gvk.Kind == kind && t.Kind() == reflect.Struct {
				if _, ok := t.FieldByName("TypeMeta"); !ok {
					continue
				}
				id, err := s.message(t)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				s.Kinds[key] = id
			}
		}
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

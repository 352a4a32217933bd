// Command protofixtures writes a few built-in objects both as client-go sends them (protobuf, in the
// runtime.Unknown envelope) and as encoding/json writes them, for tests of the reference's decoder.
//
// Usage (in kproof/cluster/go/upstream-tests): go run ./protofixtures > ../../../../tests/unit/k8s_protobuf.json
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

type fixture struct {
	Name     string          `json:"name"`
	Protobuf string          `json:"protobuf"`
	JSON     json.RawMessage `json:"json"`
}

func main() {
	created := metav1.NewTime(time.Date(2026, 7, 29, 10, 11, 12, 0, time.UTC))
	renew := metav1.NewMicroTime(time.Date(2026, 7, 29, 10, 11, 12, 345678000, time.UTC))
	objects := map[string]runtime.Object{
		"configmap": &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "serving-tests", Labels: map[string]string{"a": "b"}},
			Data:       map[string]string{"world": "hello", "empty": ""},
			BinaryData: map[string][]byte{"bin": {0, 1, 2, 255}},
			Immutable:  ptr.To(false),
		},
		"secret": &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "s-", CreationTimestamp: created},
			Data:       map[string][]byte{"testKey": []byte("testValue")},
			Type:       corev1.SecretTypeOpaque,
		},
		"namespace": &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rekt-ns",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "X", Name: "x", UID: "u",
				Controller: ptr.To(true)}}}},
		"pod": &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{"k": "v"}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				AutomountServiceAccountToken:  ptr.To(false),
				Containers: []corev1.Container{{
					Name: "c", Image: "img", Args: []string{"a", "b"},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					Env:   []corev1.EnvVar{{Name: "E", Value: ""}, {Name: "F", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
					Resources: corev1.ResourceRequirements{
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("300Mi")},
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
					LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
						Port: intstr.FromString("http")}}, InitialDelaySeconds: 0},
					SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0),
						ReadOnlyRootFilesystem: ptr.To(false)},
					VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/hello", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, DefaultMode: ptr.To[int32](0o644),
					Items: []corev1.KeyToPath{{Key: "world", Path: "world"}}}}}},
			},
		},
		"service": &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "svc"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		},
		"deployment": &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "d"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("25%"))}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
		},
		"clusterrole": &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "r"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"events"},
				Verbs: []string{"get", "list", "watch"}}},
		},
		"lease": &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "l"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("me"), LeaseDurationSeconds: ptr.To[int32](-1),
				RenewTime: &renew},
		},
		"deleteoptions": &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0),
			PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)},
	}
	serializer := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	var out []fixture
	for _, name := range []string{"configmap", "secret", "namespace", "pod", "service", "deployment", "clusterrole",
		"lease", "deleteoptions"} {
		object := objects[name]
		gvks, _, err := scheme.Scheme.ObjectKinds(object)
		if err != nil {
			panic(err)
		}
		gvk := gvks[0]
		if name == "deleteoptions" {
			gvk = metav1.SchemeGroupVersion.WithKind("DeleteOptions")
			gvk.Group, gvk.Version = "", "v1"
		}
		object.GetObjectKind().SetGroupVersionKind(gvk)
		encoded, err := runtime.Encode(serializer, object)
		if err != nil {
			panic(err)
		}
		text, err := json.Marshal(object)
		if err != nil {
			panic(err)
		}
		out = append(out, fixture{Name: name, Protobuf: base64.StdEncoding.EncodeToString(encoded), JSON: text})
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", " ")
	if err := encoder.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

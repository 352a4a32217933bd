"""`kproof cluster`: upstream Kubernetes and Knative on this machine, built from their published Go modules.

The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), kube-proxy and CoreDNS
run as plain processes of one supervisor (`python -m kproof.cluster`); Knative Serving and Eventing are
installed from the YAML in their modules' config/ folders; kproof's runtime is the node that runs the
Pods, and kproof's data plane the KIngress implementation. docs/cluster.md is the user's page.

Modules: versions (the pins and what each module builds), build (the build cache), pki (certificates and
kubeconfigs), network (the pods' bridge and the host rules), knative (the install YAML and the image
catalog), components (each process's command line and health), supervisor (bring-up, watch, stop),
teardown (what `down` removes), progress (the display), state (the state directory's files).
"""

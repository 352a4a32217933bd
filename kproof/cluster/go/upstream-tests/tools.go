//go:build tools

// The test images' main packages, so that `go build` resolves them in this module.
package tools

import (
	_ "gotest.tools/gotestsum"

	_ "knative.dev/eventing/cmd/heartbeats"
	_ "knative.dev/eventing/test/test_images/print"
	_ "knative.dev/eventing/test/test_images/recordevents"
	_ "knative.dev/reconciler-test/cmd/eventshub"

	_ "knative.dev/networking/test/test_images/grpc-ping"
	_ "knative.dev/networking/test/test_images/httpproxy"
	_ "knative.dev/networking/test/test_images/retry"
	_ "knative.dev/networking/test/test_images/runtime"
	_ "knative.dev/networking/test/test_images/timeout"
	_ "knative.dev/networking/test/test_images/wsserver"

	_ "knative.dev/serving/test/test_images/autoscale"
	_ "knative.dev/serving/test/test_images/configmimic"
	_ "knative.dev/serving/test/test_images/failing"
	_ "knative.dev/serving/test/test_images/grpc-ping"
	_ "knative.dev/serving/test/test_images/hellohttp2"
	_ "knative.dev/serving/test/test_images/hellovolume"
	_ "knative.dev/serving/test/test_images/helloworld"
	_ "knative.dev/serving/test/test_images/httpproxy"
	_ "knative.dev/serving/test/test_images/multicontainer/servingcontainer"
	_ "knative.dev/serving/test/test_images/multicontainer/sidecarcontainer"
	_ "knative.dev/serving/test/test_images/pizzaplanetv1"
	_ "knative.dev/serving/test/test_images/pizzaplanetv2"
	_ "knative.dev/serving/test/test_images/readiness"
	_ "knative.dev/serving/test/test_images/runtime"
	_ "knative.dev/serving/test/test_images/singlethreaded"
	_ "knative.dev/serving/test/test_images/slowstart"
	_ "knative.dev/serving/test/test_images/timeout"
	_ "knative.dev/serving/test/test_images/volumes"
	_ "knative.dev/serving/test/test_images/wsserver"
)

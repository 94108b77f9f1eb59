// Package csqlpulumi adapts [github.com/podspec/cloudsqlproxy] to Pulumi
// programs written in Go with pulumi-kubernetes: the proxy container, its
// volumes and what the application containers need, as
// pulumi-kubernetes arguments, built either from a [cloudsqlproxy.Proxy]
// ([FromProxy]) or from Pulumi inputs once they resolve ([Apply]).
//
// The converters ([ToContainerArgs] and friends) are strict: a set field
// of a k8s.io/api value that pulumi-kubernetes cannot take is an error
// naming the field, never dropped silently.
//
// It is a module of its own, so that the core library never depends on the
// Pulumi SDK.
package csqlpulumi

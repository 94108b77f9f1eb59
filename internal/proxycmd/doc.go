// Package proxycmd reads Cloud SQL Auth Proxy command lines out of
// Kubernetes containers. It knows the proxies (v1's cloud_sql_proxy and
// v2's cloud-sql-proxy: their images, binaries, flags and environment
// variables) and the shells and inits they are started under, and nothing
// of the library's Proxy, options or configuration:
//
//   - Detect and Read find the proxy a container runs, by its binary or,
//     when the command does not say, its image (ImageGeneration, the one
//     test of a proxy image), also under an init such as tini or in an
//     sh -c script; MayRun is their cheap prefilter;
//   - TranslateV1 and TranslateV1Container turn a v1 command line into the
//     equivalent v2 arguments;
//   - SplitV2 reads a v2 command line and its CSQL_PROXY_* environment
//     into flags and instances.
//
// Every reader returns field errors naming the container field (argument,
// env var, script) each problem comes from, so that the library's
// FromContainer can carry a container over to a Proxy and say exactly what
// it cannot carry.
package proxycmd

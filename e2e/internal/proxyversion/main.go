// Command proxyversion prints the proxy version the library defaults to, so
// build-real-systems.sh builds exactly the binary the generated containers name.
package main

import (
	"fmt"

	"github.com/podspec/cloudsqlproxy"
)

func main() { fmt.Println(cloudsqlproxy.DefaultVersion) }

package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain stops the servers the tests started once for all of them and
// removes the runnable copy of the proxy binary.
// standInEnv makes the test binary a stand-in for the proxy process: it says "ready",
// then exits 0 the instant it gets SIGTERM.
const standInEnv = "CLOUDSQLPROXY_E2E_STAND_IN"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) == "1" {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println("ready")
		<-sig
		os.Exit(0)
	}
	flag.Parse()
	// Most parallel tests wait on a proxy process, not the CPU: run more of them at once
	// than GOMAXPROCS unless the caller chose.
	if f := flag.Lookup("test.parallel"); f != nil && !isSet("test.parallel") {
		_ = f.Value.Set("8")
	}
	code := m.Run()
	if kube != nil {
		kube.stop()
	}
	if adminAPISrv != nil {
		adminAPISrv.Close()
	}
	for _, d := range runnableDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
